"""Suite-wide settings.

Hypothesis: the default run happens on a 2-core machine that also runs sandboxes, daemons and
Prometheus, so wall-clock health checks (``too_slow``) and per-example deadlines say more about
the machine's load than about the code. Properties are still checked on every example.
"""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

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
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") and _skipped and exitstatus == pytest.ExitCode.OK:
        print("\nCI: skipped tests count as failures here:", *_skipped, sep="\n  ", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
