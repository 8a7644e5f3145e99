"""Suite-wide settings.

The sandbox's clock: every sandbox the suite starts (in-process, standalone or embedded in a
daemon) begins at ``$KITE_SANDBOX_CLOCK_START``, which the suite sets to ``SUITE_CLOCK_START``
unless the caller set it. So no result depends on the day the suite runs, and the suite can be
run as of any instant: ``KITE_SANDBOX_CLOCK_START=2026-12-03T16:00:00+05:30 python3 tasks.py
test`` (an expiry day after the close), or ``=now`` for the real date. Tests that need a
particular market moment pin their own epoch.

Hypothesis: the default run happens on a 2-core machine that also runs sandboxes, daemons and
Prometheus, so wall-clock health checks (``too_slow``) and per-example deadlines say more about
the machine's load than about the code. Properties are still checked on every example.
"""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

from supervisor.sandbox._clock import CLOCK_START_ENV, clock_start_from_env

# A Wednesday mid-session, no expiry, no holiday: an ordinary trading moment.
SUITE_CLOCK_START = "2026-06-10T11:00:00+05:30"
os.environ.setdefault(CLOCK_START_ENV, SUITE_CLOCK_START)
clock_start_from_env()  # a malformed value fails the run at once, naming the variable


def pytest_report_header() -> str:
    return f"sandbox clock starts at {os.environ[CLOCK_START_ENV]} (${CLOCK_START_ENV})"


settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("suite")


# -- CI never passes on skipped tests ------------------------------------------------------------
# Locally a test that needs a system tool (prometheus, promtool, systemd-analyze) skips when the
# tool is missing; in CI (.ci/run installs them, CI=true) a skip means a check did not run, so the
# run fails and names what was skipped.

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # an expected failure (xfail) is reported as skipped too; it is a check that ran
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Last, after pytest's own summary: one line naming what was skipped and the command that
    enables it (locally; in CI the skips fail the run and are listed above)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not _skipped or os.environ.get("CI") or reporter is None:
        return
    tools = sorted({line.rsplit(": ", 1)[-1].removesuffix(" not installed") for line in _skipped})
    reporter.write_line(
        f"{len(_skipped)} checks skipped, needing {', '.join(tools)}: "
        "run `bash deploy/ci/install-system-deps.sh` as root to enable them",
        yellow=True,
        bold=True,
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") and _skipped and exitstatus == pytest.ExitCode.OK:
        print("\nCI: skipped tests count as failures here:", *_skipped, sep="\n  ", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
