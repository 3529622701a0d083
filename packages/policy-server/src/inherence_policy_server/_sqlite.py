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
from inherence_policy_server._sqlite_reads import READS_SCHEMA, RECIPIENTS_PER_TENANT
from inherence_policy_server._storage import (
    DECISION_COLUMNS,
    DEFAULT_TENANT,
    DecisionLogEntry,
    Sighting,
    sighting_tenant,
)

__all__ = ["DATABASE_NAME", "SQLiteStorage", "open_approvals"]

DATABASE_NAME = "policy.sqlite3"
_KEY_COLUMNS = "key_id, prefix, salt, digest, created_at, revoked_at, label, tenant"

# Version 2 adds the dashboard's indexes and the admin audit log, version 3 the approvals, version 4
# what sessions read and the known recipients; every statement up to there is idempotent, so an
# older database is brought to version 4 by running the whole script again. Version 5 (tenants,
# dashboard logins and live rule settings shared by workers) is a migration of its own, and so is
# version 6 (known recipients kept per tenant, shared by its keys, instead of per key).
_SCHEMA_VERSION = 6
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
# Every key belongs to a tenant, and so does what its calls leave behind: sessions and what they read,
# the velocity ledger, approvals and the decision log. What was kept before is the default tenant's.
_TENANCY = """
ALTER TABLE api_keys ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at);
ALTER TABLE sessions RENAME TO sessions_v4;
CREATE TABLE sessions (
    tenant TEXT NOT NULL, session_id TEXT NOT NULL, client TEXT, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    PRIMARY KEY (tenant, session_id)
);
INSERT INTO sessions SELECT 'default', session_id, client, first_seen, last_seen FROM sessions_v4;
DROP TABLE sessions_v4;
CREATE INDEX sessions_by_time ON sessions (tenant, last_seen);
ALTER TABLE sensitive_reads RENAME TO sensitive_reads_v4;
CREATE TABLE sensitive_reads (
    tenant TEXT NOT NULL, session_id TEXT NOT NULL, label TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (tenant, session_id, label)
);
INSERT INTO sensitive_reads SELECT 'default', session_id, label, at FROM sensitive_reads_v4 ORDER BY rowid;
DROP TABLE sensitive_reads_v4;
CREATE INDEX sensitive_reads_by_time ON sensitive_reads (at);
ALTER TABLE read_sessions RENAME TO read_sessions_v4;
CREATE TABLE read_sessions (
    tenant TEXT NOT NULL, session_id TEXT NOT NULL, touched REAL NOT NULL, reported REAL,
    PRIMARY KEY (tenant, session_id)
);
INSERT INTO read_sessions SELECT 'default', session_id, touched, reported FROM read_sessions_v4;
DROP TABLE read_sessions_v4;
CREATE INDEX read_sessions_by_time ON read_sessions (touched);
CREATE INDEX read_sessions_by_tenant ON read_sessions (tenant, touched);
ALTER TABLE read_items RENAME TO read_items_v4;
CREATE TABLE read_items (
    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, session_id TEXT NOT NULL, digest INTEGER NOT NULL,
    kind TEXT NOT NULL, label TEXT NOT NULL, at REAL NOT NULL, UNIQUE (tenant, session_id, digest)
);
INSERT INTO read_items SELECT id, 'default', session_id, digest, kind, label, at FROM read_items_v4;
DROP TABLE read_items_v4;
CREATE INDEX read_items_by_age ON read_items (tenant, session_id, kind, at);
CREATE INDEX read_items_by_time ON read_items (at);
ALTER TABLE transfers ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
DROP INDEX transfers_by_account;
CREATE INDEX transfers_by_account ON transfers (tenant, account, at);
ALTER TABLE recipients RENAME TO recipients_v4;
CREATE TABLE recipients (
    tenant TEXT NOT NULL, account TEXT NOT NULL, recipient TEXT NOT NULL, first_paid REAL NOT NULL,
    PRIMARY KEY (tenant, account, recipient)
);
INSERT INTO recipients SELECT 'default', account, recipient, first_paid FROM recipients_v4;
DROP TABLE recipients_v4;
ALTER TABLE decisions ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
DROP INDEX decisions_by_session;
DROP INDEX decisions_by_decision;
DROP INDEX decisions_by_rule;
DROP INDEX decisions_by_upstream;
CREATE INDEX decisions_by_tenant ON decisions (tenant, id);
CREATE INDEX decisions_by_session ON decisions (tenant, session_id, id);
CREATE INDEX decisions_by_decision ON decisions (tenant, decision, id);
CREATE INDEX decisions_by_rule ON decisions (tenant, rule, id);
CREATE INDEX decisions_by_upstream ON decisions (tenant, upstream, id);
ALTER TABLE approvals ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
CREATE INDEX approvals_by_tenant ON approvals (tenant, state, created_at);
CREATE TABLE admin_sessions (digest TEXT PRIMARY KEY, csrf TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE rule_settings (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1), version INTEGER NOT NULL, config TEXT NOT NULL,
    changed_at REAL NOT NULL
);
"""


# Made once: `json.dumps` with options builds a new encoder for every row.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat()


def _from_iso(text: str | None) -> datetime.datetime | None:
    return None if text is None else datetime.datetime.fromisoformat(text)


class SQLiteStorage:
    """`Storage` over `<data_dir>/policy.sqlite3`."""

    dialect = "sqlite"

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
        try:
            self._migrate()
        except BaseException:
            self.close()  # refused: the connection opened to look is not left behind
            raise
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)
        self._ledgers: dict[str, SQLiteLedger] = {}
        self._ledger = self.tenant_ledger(DEFAULT_TENANT)
        self._approvals = Approvals(self)

    def _migrate(self) -> None:
        with self.write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise StorageError(
                    f"the database is at schema version {version}, newer than this server knows ({_SCHEMA_VERSION}):"
                    " upgrade inherence-policy-server",
                    data_dir=self.data_dir,
                )
            if version < _SCHEMA_VERSION:
                steps = (
                    ([_SCHEMA] if version < 4 else []) + ([_TENANCY] if version < 5 else []) + [RECIPIENTS_PER_TENANT]
                )
                for statement in ";".join(steps).split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    @property
    def ledger(self) -> SQLiteLedger:
        """The default tenant's ledger."""
        return self._ledger

    def tenant_ledger(self, tenant: str) -> SQLiteLedger:
        ledger = self._ledgers.get(tenant)
        if ledger is None:
            ledger = self._ledgers.setdefault(tenant, SQLiteLedger(self, tenant))
        return ledger

    def key_tenant(self, key_id: str) -> str | None:
        rows = self.read("SELECT tenant FROM api_keys WHERE key_id = ?", (key_id,))
        return str(rows[0][0]) if rows else None

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
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database: {exc}", data_dir=self.data_dir) from exc
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise StorageError("the database cannot use WAL mode", data_dir=self.data_dir)
            db.execute("PRAGMA synchronous = NORMAL")
            # No checkpoint inside a request's commit: `maintain()` runs them from the log writer.
            db.execute("PRAGMA wal_autocheckpoint = 0")
        except (sqlite3.Error, StorageError) as exc:
            db.close()
            if isinstance(exc, StorageError):
                raise
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
                f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.key_id,
                    record.prefix,
                    record.salt,
                    record.digest,
                    _iso(record.created_at),
                    None,
                    record.label,
                    record.tenant,
                ),
            )

    def find_key(self, key_id: str) -> ApiKeyRecord | None:
        rows = self.read(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))
        return _key_from_row(rows[0]) if rows else None

    def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        if tenant is None:
            rows = self.read(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at")
        else:
            rows = self.read(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant = ? ORDER BY created_at", (tenant,))
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

    def touch_sessions(self, seen: Sequence[Sighting]) -> None:
        if not seen:
            return
        with self.write() as db:
            db.executemany(
                "INSERT INTO sessions (tenant, session_id, client, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant, session_id) DO UPDATE SET last_seen = excluded.last_seen",
                [(sighting_tenant(one), one[0], one[1], _iso(one[2]), _iso(one[2])) for one in seen],
            )

    def append_decisions(self, entries: Sequence[DecisionLogEntry]) -> None:
        if not entries:
            return
        rows = [
            (
                e.decision_id, _iso(e.at), e.client, e.session_id, e.upstream, e.tool_name, e.category, e.decision,
                e.rule, e.reason, _compact_json(e.arguments), e.request_id, e.key_id, e.tenant,
            )
            for e in entries
        ]  # fmt: skip
        with self.write() as db:
            db.executemany(
                f"INSERT INTO decisions ({DECISION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )

    def recent_decisions(self, limit: int = 100, tenant: str | None = None) -> list[DecisionLogEntry]:
        where, parameters = ("WHERE tenant = ? ", (tenant,)) if tenant is not None else ("", ())
        rows = self.read(
            f"SELECT {DECISION_COLUMNS} FROM decisions {where}ORDER BY id DESC LIMIT ?", (*parameters, limit)
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
    key_id, prefix, salt, digest, created_at, revoked_at, label, tenant = row
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
        tenant=str(tenant),
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
