"""SQLite persistence for the sandbox (``--db FILE``).

Write-through: after every mutating request (and every background-loop pass that changed
something) the server calls ``SandboxStore.write(changes, state, engine)``, which upserts the
changed runs, inserts new idempotency records and timeline events, rewrites the token table when
it changed and saves the paper engine's snapshot when the engine changed, all in one transaction.
``load()`` rebuilds a ``SandboxState`` (and returns the engine snapshot) on start.

Rows are msgspec JSON; the schema is a handful of key/value tables, so it survives model changes
that add fields. The calls block briefly (local SQLite, WAL mode); that is acceptable for a
development backend and keeps ordering trivially consistent with the in-memory state.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from ._auth import TokenRecord
from ._paper import PaperEngine
from ._runs import Run
from ._state import Changes, SandboxState

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (token_hash TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS intents (run_id TEXT NOT NULL, idem_key TEXT NOT NULL, doc BLOB NOT NULL,
    PRIMARY KEY (run_id, idem_key));
CREATE TABLE IF NOT EXISTS events (cursor INTEGER PRIMARY KEY, run_id TEXT NOT NULL, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS token_heartbeats (token_id TEXT PRIMARY KEY, at TEXT NOT NULL);
"""

_enc = msgspec.json.Encoder(decimal_format="string")


class SandboxStore:
    """One SQLite file. Not thread-safe; used from the server's event loop only."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.writes = 0

    def close(self) -> None:
        self._db.close()

    def load(self) -> tuple[SandboxState, bytes | None]:
        """The persisted state (a fresh one for a new file) and the engine snapshot, if any."""
        db = self._db
        secret_row = db.execute("SELECT value FROM kv WHERE name = 'secret'").fetchone()
        state = SandboxState(secret=bytes(secret_row[0]) if secret_row else None)
        if secret_row is None:
            db.execute("INSERT INTO kv (name, value) VALUES ('secret', ?)", (state.secret,))
        for (doc,) in db.execute("SELECT doc FROM tokens"):
            record = msgspec.json.decode(doc, type=TokenRecord)
            state.tokens.by_hash[record.token_hash] = record
        for (doc,) in db.execute("SELECT doc FROM runs"):
            run = msgspec.json.decode(doc, type=Run)
            state.runs[run.strategy_run_id] = run
        for run_id, key, doc in db.execute("SELECT run_id, idem_key, doc FROM intents"):
            state.intents[(run_id, key)] = msgspec.json.decode(doc)
        state.timeline.load([msgspec.json.decode(doc) for (doc,) in db.execute("SELECT doc FROM events")])
        import datetime as dt

        for token_id, at in db.execute("SELECT token_id, at FROM token_heartbeats"):
            state.token_heartbeats[token_id] = dt.datetime.fromisoformat(at)
        engine_row = db.execute("SELECT value FROM kv WHERE name = 'engine'").fetchone()
        return state, (bytes(engine_row[0]) if engine_row else None)

    def write(self, changes: Changes, state: SandboxState, engine: PaperEngine) -> None:
        """Write ``changes`` through in one transaction (the engine's snapshot when it changed)."""
        if changes.empty():
            return
        db = self._db
        db.execute("BEGIN")
        try:
            if changes.tokens:
                db.execute("DELETE FROM tokens")
                db.executemany(
                    "INSERT INTO tokens (token_hash, doc) VALUES (?, ?)",
                    [(r.token_hash, _enc.encode(r)) for r in state.tokens.by_hash.values()],
                )
                db.executemany(
                    "INSERT OR REPLACE INTO token_heartbeats (token_id, at) VALUES (?, ?)",
                    [(k, v.isoformat()) for k, v in state.token_heartbeats.items()],
                )
            rows = [(rid, _enc.encode(state.runs[rid])) for rid in changes.runs if rid in state.runs]
            db.executemany("INSERT OR REPLACE INTO runs (run_id, doc) VALUES (?, ?)", rows)
            db.executemany(
                "INSERT OR REPLACE INTO intents (run_id, idem_key, doc) VALUES (?, ?, ?)",
                [(rid, key, _enc.encode(state.intents[(rid, key)])) for rid, key in changes.intents],
            )
            db.executemany(
                "INSERT OR REPLACE INTO events (cursor, run_id, doc) VALUES (?, ?, ?)",
                [(e["cursor"], e["strategy_run_id"], _enc.encode(e)) for e in changes.events],
            )
            if changes.engine:
                db.execute(
                    "INSERT OR REPLACE INTO kv (name, value) VALUES ('engine', ?)", (engine.snapshot(),)
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.writes += 1
