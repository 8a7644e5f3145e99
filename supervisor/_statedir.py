"""The state directory: what a restarted daemon needs to re-attach to its runs (invariant 4).

One small JSON file per strategy, ``runs/<name>.json`` = ``{"strategy_run_id", "session_nonce"}``.
The nonce is a session credential: the directory is created ``0700`` and every file ``0600``,
written atomically (temporary file, ``fsync``, ``os.replace``, ``fsync`` of the directory), so a
crash mid-write leaves the previous version, never a torn file, and a durable write survives a
power cut once :meth:`StateDir.save` returns (the directory entry is on disk too). Clearing a
nonce after a release skips both ``fsync``: a stale nonce that survives a power cut is harmless,
and a thousand fsyncs would slow shutdown.
The embedded sandbox's token and database live here too, so that an embedded daemon finds its
runs again after a restart.

File I/O is synchronous and tiny (a few hundred bytes per claim); it runs on the trio thread.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PersistedRun", "StateDir"]


@dataclass(frozen=True)
class PersistedRun:
    strategy_run_id: str
    session_nonce: str | None

    def __repr__(self) -> str:
        return f"PersistedRun(strategy_run_id={self.strategy_run_id!r}, session_nonce=<hidden>)"


def _atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        # the rename lives in the directory: without this a power cut may bring back the old file
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class StateDir:
    """A daemon's state directory. Methods block briefly on file I/O; they raise ``OSError``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._runs = self.path / "runs"
        self._runs.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        os.chmod(self._runs, 0o700)

    def __repr__(self) -> str:
        return f"StateDir({str(self.path)!r})"

    def load(self, name: str) -> PersistedRun | None:
        """The persisted run of strategy ``name``, or ``None`` (absent or unreadable)."""
        try:
            data = json.loads((self._runs / f"{name}.json").read_bytes())
            return PersistedRun(str(data["strategy_run_id"]), data.get("session_nonce") or None)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, name: str, run_id: str, nonce: str | None, *, durable: bool = True) -> None:
        """Persist strategy ``name``'s run id and session nonce (``None`` after a release).

        Always atomic; ``durable=True`` returns only once file and directory are fsynced;
        ``durable=False`` skips both (the write may be lost on a power cut, leaving the previous
        version). Raises ``OSError`` (a full disk: ``ENOSPC``)."""
        payload = json.dumps({"strategy_run_id": run_id, "session_nonce": nonce}).encode()
        _atomic_write(self._runs / f"{name}.json", payload, durable=durable)

    def secret(self, filename: str, make: Callable[[], str]) -> str:
        """Read the secret in ``filename``, creating it with ``make()`` (mode 0600) if absent."""
        path = self.path / filename
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            value = make()
            _atomic_write(path, value.encode())
            return value
