#!/usr/bin/env python3
"""Project tasks that work on a fresh machine with nothing but Python.

    python3 tasks.py run     # the daemon with the example strategies on the embedded sandbox
    python3 tasks.py test    # ruff, mypy --strict and the test suite
    python3 tasks.py bench   # the benchmarks in bench/ (on demand, not part of `test`)

Each task first makes sure `.venv` exists and holds the project, its extras and the example
plugins; the install is skipped while the packaging files are unchanged.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed-from"
DEFAULT_CONFIG = ROOT / "deploy" / "examples.yaml"
QUICKSTART_STATE = ROOT / "state"
# SDK 0.13 has the dev dependency's (0.7.4) distribution name: it lives apart, see the file.
SDK_013_REQUIREMENTS = ROOT / "tests" / "sdk" / "sdk-0.13.txt"
SDK_013_DIR = VENV / "sdk-0.13"


def _packaging_files() -> list[Path]:
    files = [
        ROOT / "pyproject.toml",
        SDK_013_REQUIREMENTS,
        *sorted((ROOT / "plugins").glob("*/pyproject.toml")),
    ]
    return [f for f in files if f.exists()]


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in _packaging_files():
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _sh(*args: str | os.PathLike[str], check: bool = True) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], cwd=ROOT, check=check).returncode


def ensure_env() -> None:
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    fingerprint = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    _sh(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    editables = ["-e", ".[dev,dataframe,indicators]"]
    for plugin in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        editables += ["-e", str(plugin.parent.relative_to(ROOT))]
    _sh(PYTHON, "-m", "pip", "install", "--quiet", *editables)
    if SDK_013_REQUIREMENTS.exists():
        _sh(PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade", "--target", SDK_013_DIR,
            "-r", SDK_013_REQUIREMENTS)  # fmt: skip
    STAMP.write_text(fingerprint)


def task_test(extra: list[str]) -> int:
    ensure_env()
    _sh(BIN / "ruff", "check", ".")
    _sh(BIN / "ruff", "format", "--check", ".")
    _sh(PYTHON, "-m", "mypy")
    # pytest exits 5 when it collected nothing: that is a failure here, never a silent pass.
    code = _sh(PYTHON, "-m", "pytest", *extra, check=False)
    if code == 5:
        print("pytest collected no tests: failing the run", file=sys.stderr)
    return code


def task_run(extra: list[str]) -> int:
    ensure_env()
    # the quick start keeps its state (run ids, session nonces, the embedded sandbox's database
    # and token) in ./state, so a restarted quick start re-attaches to its paper runs
    args = extra or ["--config", str(DEFAULT_CONFIG), "--state-dir", str(QUICKSTART_STATE)]
    return _sh(BIN / "kite-supervisor", "run", *args, check=False)


def task_bench(extra: list[str]) -> int:
    ensure_env()
    code = 0
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        code |= _sh(PYTHON, script, *extra, check=False)
    return code


TASKS = {"test": task_test, "run": task_run, "bench": task_bench}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(__doc__)
        return 2
    try:
        return TASKS[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
