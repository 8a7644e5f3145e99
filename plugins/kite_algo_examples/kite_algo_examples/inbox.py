"""The watched folder of signal files: listing, reading and filing. Synchronous on purpose.

Layout under the configured ``inbox`` folder::

    inbox/*.json             waiting (write to a dot-file or *.tmp, then rename: atomic)
    inbox/done/<name>        processed; <name>.result.json says what the backend answered
    inbox/rejected/<name>    refused; <name>.reason.txt says why

Files are tiny (at most 16 KiB are read) and few per poll, so plain ``os`` calls on the trio
thread cost microseconds; this keeps the daemon free of worker threads. Ordering for "nothing
lost": the decision is carried out (idempotently) first, the outcome file is written second
and the signal is moved last, so a crash at any point leaves the signal in the inbox and the
next attempt reproduces the same outcome (the backend dedupes the order by its key).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["Inbox"]

_READ_LIMIT = 16 * 1024 + 1  # one byte more than a signal may be, to detect oversize files


class Inbox:
    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.done = self.folder / "done"
        self.rejected = self.folder / "rejected"

    def ensure(self) -> None:
        """Create the folders (raises ``OSError`` when that is impossible)."""
        for path in (self.folder, self.done, self.rejected):
            path.mkdir(parents=True, exist_ok=True)

    def pending(self, limit: int) -> list[Path]:
        """Waiting signal files, oldest name first (names are often timestamps)."""
        names = sorted(
            entry.name
            for entry in os.scandir(self.folder)
            if entry.is_file() and entry.name.endswith(".json") and not entry.name.startswith(".")
        )
        return [self.folder / name for name in names[:limit]]

    @staticmethod
    def read(path: Path) -> bytes:
        with path.open("rb") as f:
            return f.read(_READ_LIMIT)

    def file_done(self, path: Path, result: dict[str, Any]) -> Path:
        target = _free_name(self.done / path.name)
        _write_atomic(
            target.with_name(target.name + ".result.json"), json.dumps(result, indent=2, default=str)
        )
        os.replace(path, target)
        return target

    def file_rejected(self, path: Path, reason: str) -> Path:
        target = _free_name(self.rejected / path.name)
        _write_atomic(target.with_name(target.name + ".reason.txt"), reason + "\n")
        os.replace(path, target)
        return target


def _free_name(target: Path) -> Path:
    # the same file name may arrive again later; never overwrite an earlier filed signal
    candidate, n = target, 1
    while candidate.exists():
        candidate = target.with_name(f"{target.stem}.{n}{target.suffix}")
        n += 1
    return candidate


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
