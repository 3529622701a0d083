"""SQLite storage in WAL mode: one file in the data dir, shared safely by several processes.

Each thread gets its own connection (SQLite connections are not to be shared across threads).
Writes that must be atomic across processes take the database write lock up front with
`BEGIN IMMEDIATE`; a busy database is waited for up to `busy_timeout` seconds, then is a
`StorageError`.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import cast

from inherence_policy_server._approvals import Approvals
from inherence_policy_server._errors import ServerUsageError, StorageError, UnknownKeyError
from inherence_policy_server._keys import ApiKeyRecord
from inherence_policy_server._sqlite_ledger import SQLiteLedger
from inherence_policy_server._sqlite_reads import READS_SCHEMA
from inherence_policy_server._storage import DecisionLogEntry

__all__ = ["DATABASE_NAME", "SQLiteStorage", "open_approvals"]

DATABASE_NAME = "policy.sqlite3"
# Version 2 adds the dashboard's indexes and the admin audit log, version 3 the approvals, version 4
# what sessions read and the known recipients; every statement is idempotent, so an older database
# is brought up to date by running the whole script again.
_SCHEMA_VERSION = 4
_BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, prefix TEXT NOT NULL, salt BLOB NOT NULL, digest BLOB NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT, label TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, client TEXT, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sensitive_reads (
    session_id TEXT NOT NULL, label TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (session_id, label)
);
CREATE TABLE IF NOT EXISTS transfers (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, recipient TEXT NOT NULL,
    amount_cents INTEGER NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS transfers_by_account ON transfers (account, at);
CREATE TABLE IF NOT EXISTS recipients (
    account TEXT NOT NULL, recipient TEXT NOT NULL, first_paid REAL NOT NULL, PRIMARY KEY (account, recipient)
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY, decision_id TEXT NOT NULL, at TEXT NOT NULL, client TEXT, session_id TEXT,
    upstream TEXT, tool_name TEXT NOT NULL, category TEXT NOT NULL, decision TEXT NOT NULL, rule TEXT,
    reason TEXT, arguments TEXT NOT NULL, request_id TEXT, key_id TEXT
);
CREATE INDEX IF NOT EXISTS decisions_by_session ON decisions (session_id, id);
CREATE INDEX IF NOT EXISTS decisions_by_decision ON decisions (decision, id);
CREATE INDEX IF NOT EXISTS decisions_by_rule ON decisions (rule, id);
CREATE INDEX IF NOT EXISTS decisions_by_upstream ON decisions (upstream, id);
CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (at);
CREATE TABLE IF NOT EXISTS admin_events (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    approval_id TEXT PRIMARY KEY, binding TEXT NOT NULL, key_id TEXT, session_id TEXT NOT NULL, upstream TEXT,
    tool_name TEXT NOT NULL, rule TEXT, clauses TEXT NOT NULL, reason TEXT NOT NULL, summary TEXT NOT NULL,
    created_at REAL NOT NULL, expires_at REAL NOT NULL, state TEXT NOT NULL, decided_at REAL, used_at REAL
);
CREATE INDEX IF NOT EXISTS approvals_by_binding ON approvals (binding, state);
CREATE INDEX IF NOT EXISTS approvals_by_state ON approvals (state, created_at);
"""
_SCHEMA = _BASE_SCHEMA + READS_SCHEMA


# Made once: `json.dumps` with options builds a new encoder for every row.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat()


def _from_iso(text: str | None) -> datetime.datetime | None:
    return None if text is None else datetime.datetime.fromisoformat(text)


class SQLiteStorage:
    """`Storage` over `<data_dir>/policy.sqlite3`."""

    def __init__(self, data_dir: pathlib.Path, *, busy_timeout: float = 10.0) -> None:
        self.data_dir = pathlib.Path(data_dir)
        self.path = self.data_dir / DATABASE_NAME
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        try:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the data dir: {exc.strerror}", data_dir=self.data_dir) from exc
        with self.write() as db:
            if db.execute("PRAGMA user_version").fetchone()[0] < _SCHEMA_VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)
        self._ledger = SQLiteLedger(self)
        self._approvals = Approvals(self)

    @property
    def ledger(self) -> SQLiteLedger:
        return self._ledger

    @property
    def approvals(self) -> Approvals:
        return self._approvals

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            return db
        if self._closed:
            raise StorageError("the storage is closed", data_dir=self.data_dir)
        try:
            db = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise StorageError("the database cannot use WAL mode", data_dir=self.data_dir)
            db.execute("PRAGMA synchronous = NORMAL")
            # No checkpoint inside a request's commit: `maintain()` runs them from the log writer.
            db.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database: {exc}", data_dir=self.data_dir) from exc
        with self._lock:
            self._connections.append(db)
        self._local.db = db
        return db

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock from its start (atomic across processes)."""
        db = self.connection()
        # Threads of this process queue on a lock: SQLite's own busy wait sleeps in whole milliseconds.
        with self._write_lock:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"the database stayed busy: {exc}", data_dir=self.data_dir) from exc
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                db.execute("ROLLBACK")
                raise StorageError(f"cannot commit: {exc}", data_dir=self.data_dir) from exc

    def read(self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()) -> list[tuple[object, ...]]:
        try:
            return self.connection().execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read: {exc}", data_dir=self.data_dir) from exc

    def add_key(self, record: ApiKeyRecord) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO api_keys (key_id, prefix, salt, digest, created_at, revoked_at, label)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.key_id, record.prefix, record.salt, record.digest, _iso(record.created_at), None, record.label),
            )

    def find_key(self, key_id: str) -> ApiKeyRecord | None:
        rows = self.read(
            "SELECT key_id, prefix, salt, digest, created_at, revoked_at, label FROM api_keys WHERE key_id = ?",
            (key_id,),
        )
        return _key_from_row(rows[0]) if rows else None

    def list_keys(self) -> list[ApiKeyRecord]:
        rows = self.read(
            "SELECT key_id, prefix, salt, digest, created_at, revoked_at, label FROM api_keys ORDER BY created_at"
        )
        return [_key_from_row(row) for row in rows]

    def revoke_key(self, key_id: str, now: datetime.datetime) -> None:
        with self.write() as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?", (_iso(now), key_id)
            )
            if cursor.rowcount == 0:
                raise UnknownKeyError(key_id)

    def has_active_keys(self) -> bool:
        return bool(self.read("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1"))

    def touch_sessions(self, seen: Sequence[tuple[str, str | None, datetime.datetime]]) -> None:
        if not seen:
            return
        with self.write() as db:
            db.executemany(
                "INSERT INTO sessions (session_id, client, first_seen, last_seen) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (session_id) DO UPDATE SET last_seen = excluded.last_seen",
                [(session_id, client, _iso(at), _iso(at)) for session_id, client, at in seen],
            )

    def append_decisions(self, entries: Sequence[DecisionLogEntry]) -> None:
        if not entries:
            return
        rows = [
            (
                e.decision_id, _iso(e.at), e.client, e.session_id, e.upstream, e.tool_name, e.category, e.decision,
                e.rule, e.reason, _compact_json(e.arguments), e.request_id, e.key_id,
            )
            for e in entries
        ]  # fmt: skip
        with self.write() as db:
            db.executemany(
                "INSERT INTO decisions (decision_id, at, client, session_id, upstream, tool_name, category, decision,"
                " rule, reason, arguments, request_id, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def recent_decisions(self, limit: int = 100) -> list[DecisionLogEntry]:
        rows = self.read(
            "SELECT decision_id, at, client, session_id, upstream, tool_name, category, decision, rule, reason,"
            " arguments, request_id, key_id FROM decisions ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        entries = []
        for row in rows:
            values = list(row)
            values[1] = datetime.datetime.fromisoformat(str(values[1]))
            values[10] = json.loads(str(values[10]))
            entries.append(DecisionLogEntry(*values))  # type: ignore[arg-type]
        return entries

    def maintain(self) -> None:
        """Copy the write-ahead log back into the database without blocking readers or writers."""
        try:
            self.connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot checkpoint: {exc}", data_dir=self.data_dir) from exc

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()


def _key_from_row(row: tuple[object, ...]) -> ApiKeyRecord:
    key_id, prefix, salt, digest, created_at, revoked_at, label = row
    created = _from_iso(str(created_at))
    assert created is not None
    return ApiKeyRecord(
        key_id=str(key_id),
        prefix=str(prefix),
        salt=cast(bytes, salt),
        digest=cast(bytes, digest),
        created_at=created,
        revoked_at=_from_iso(None if revoked_at is None else str(revoked_at)),
        label=str(label),
    )


def open_approvals(data_dir: pathlib.Path | str | None = None, *, database_url: str | None = None) -> Approvals:
    """The approvals of a data dir or a PostgreSQL database, for a person answering outside the server.

    Close them when done. `.pending(now)` lists the open questions; `.approve(id, now)` grants one call once,
    `.decline(id, now)` refuses it; both raise `ApprovalNotFound` or `ApprovalExpired`.
    """
    if database_url:
        from inherence_policy_server._postgres import PostgresStorage

        return Approvals(PostgresStorage(database_url), owns_database=True)
    if data_dir is None:
        raise ServerUsageError("no approvals to open: give a data dir or a database URL")
    return Approvals(SQLiteStorage(pathlib.Path(data_dir)), owns_database=True)
