"""The SQLite side of what sessions read and which outside recipients a key knows.

Items are digests (`rules._material`), never text, kept per tenant. Every write also trims:
entries older than `READ_TTL`, the oldest items past a session's caps, and the oldest sessions
of the tenant past `MAX_READ_SESSIONS`, so the tables stay bounded whatever the traffic.
Known recipients are kept per API key (the rules' `tenant_of`), so never shared between tenants.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from inherence_policy_server.rules._api import KnownRecipient
from inherence_policy_server.rules._material import (
    MAX_KNOWN_RECIPIENTS,
    MAX_READ_ITEMS,
    MAX_READ_LABELS,
    MAX_READ_SESSIONS,
    MAX_READ_TOKENS,
    READ_TTL,
    SHINGLE,
    ReadItem,
)

if TYPE_CHECKING:
    import sqlite3

    from inherence_policy_server._sqlite import SQLiteStorage

__all__ = ["READS_SCHEMA", "SQLiteReads"]

READS_SCHEMA = """
CREATE TABLE IF NOT EXISTS read_sessions (session_id TEXT PRIMARY KEY, touched REAL NOT NULL, reported REAL);
CREATE INDEX IF NOT EXISTS read_sessions_by_time ON read_sessions (touched);
CREATE TABLE IF NOT EXISTS read_items (
    id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, digest INTEGER NOT NULL, kind TEXT NOT NULL,
    label TEXT NOT NULL, at REAL NOT NULL, UNIQUE (session_id, digest)
);
CREATE INDEX IF NOT EXISTS read_items_by_age ON read_items (session_id, kind, at);
CREATE INDEX IF NOT EXISTS read_items_by_time ON read_items (at);
CREATE INDEX IF NOT EXISTS sensitive_reads_by_time ON sensitive_reads (at);
CREATE TABLE IF NOT EXISTS known_recipients (
    tenant TEXT NOT NULL, recipient TEXT NOT NULL, source TEXT NOT NULL, first_seen REAL NOT NULL,
    last_seen REAL NOT NULL, PRIMARY KEY (tenant, recipient)
);
CREATE INDEX IF NOT EXISTS known_recipients_by_time ON known_recipients (tenant, last_seen);
"""
_TTL = READ_TTL.total_seconds()


def _utc(seconds: object) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(float(seconds), tz=datetime.timezone.utc)  # type: ignore[arg-type]


def _trim_oldest(db: sqlite3.Connection, table: str, where: str, parameters: tuple[object, ...], keep: int) -> None:
    (count,) = db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", parameters).fetchone()
    if count > keep:
        db.execute(
            f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {where} ORDER BY at LIMIT ?)",
            (*parameters, count - keep),
        )


class SQLiteReads:
    """What sessions read and the known recipients, over a `SQLiteStorage` (mixed into the ledger)."""

    _storage: SQLiteStorage
    tenant: str

    def _touch(self, db: sqlite3.Connection, session_id: str, now: float, *, reported: bool) -> None:
        self._upsert_session(db, session_id, now, reported=reported)
        self._expire(db, now)

    def _upsert_session(self, db: sqlite3.Connection, session_id: str, now: float, *, reported: bool) -> None:
        tenant = self.tenant
        db.execute(
            "INSERT INTO read_sessions (tenant, session_id, touched, reported) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (tenant, session_id)"
            " DO UPDATE SET touched = excluded.touched, reported = COALESCE(excluded.reported, reported)",
            (tenant, session_id, now, now if reported else None),
        )

    def _expire(self, db: sqlite3.Connection, now: float) -> None:
        """Drop what is past `READ_TTL`, and this tenant's oldest sessions past `MAX_READ_SESSIONS`."""
        tenant = self.tenant
        oldest = now - _TTL
        db.execute("DELETE FROM read_items WHERE at <= ?", (oldest,))
        db.execute("DELETE FROM sensitive_reads WHERE at <= ?", (oldest,))
        db.execute("DELETE FROM read_sessions WHERE touched <= ?", (oldest,))
        (sessions,) = db.execute("SELECT COUNT(*) FROM read_sessions WHERE tenant = ?", (tenant,)).fetchone()
        if sessions > MAX_READ_SESSIONS:
            dropped = [
                (tenant, row[0])
                for row in db.execute(
                    "SELECT session_id FROM read_sessions WHERE tenant = ? ORDER BY touched LIMIT ?",
                    (tenant, sessions - MAX_READ_SESSIONS),
                )
            ]
            for table in ("read_items", "sensitive_reads", "read_sessions"):
                db.executemany(f"DELETE FROM {table} WHERE tenant = ? AND session_id = ?", dropped)

    def record_sensitive_read(self, session_id: str, label: str, now: datetime.datetime) -> None:
        at = now.timestamp()
        with self._storage.write() as db:
            db.execute(
                "INSERT INTO sensitive_reads (tenant, session_id, label, at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (tenant, session_id, label) DO UPDATE SET at = excluded.at",
                (self.tenant, session_id, label, at),
            )
            self._touch(db, session_id, at, reported=False)
            _trim_oldest(
                db, "sensitive_reads", "tenant = ? AND session_id = ?", (self.tenant, session_id), MAX_READ_LABELS
            )

    def sensitive_reads(self, session_id: str) -> list[str]:
        rows = self._storage.read(
            "SELECT label FROM sensitive_reads WHERE tenant = ? AND session_id = ? ORDER BY rowid",
            (self.tenant, session_id),
        )
        return [str(row[0]) for row in rows]

    def unreported_reads(self, session_id: str, now: datetime.datetime) -> list[str]:
        rows = self._storage.read(
            "SELECT label FROM sensitive_reads WHERE tenant = ? AND session_id = ? AND at > ? AND at > COALESCE("
            "(SELECT reported FROM read_sessions WHERE tenant = ? AND session_id = ?), -1) ORDER BY rowid",
            (self.tenant, session_id, now.timestamp() - _TTL, self.tenant, session_id),
        )
        return [str(row[0]) for row in rows]

    def record_read_items(self, session_id: str, items: Sequence[ReadItem], now: datetime.datetime) -> None:
        self.record_read_batch([(session_id, items)], now)

    def record_read_batch(self, reads: Sequence[tuple[str, Sequence[ReadItem]]], now: datetime.datetime) -> None:
        """`record_read_items` for several results in one transaction, the tables trimmed once at its end.

        The same rows remain as after one `record_read_items` per result: each trim keeps the newest.
        """
        at = now.timestamp()
        with self._storage.write() as db:
            for session_id, items in reads:
                if items:
                    db.executemany(
                        "INSERT INTO read_items (tenant, session_id, digest, kind, label, at) VALUES (?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (tenant, session_id, digest) DO UPDATE SET at = excluded.at",
                        [(self.tenant, session_id, item.digest, item.kind, item.label, at) for item in items],
                    )
            # Every result of a batch is reported at the same time: one upsert per session does.
            for session_id in dict.fromkeys(session_id for session_id, _ in reads):
                self._upsert_session(db, session_id, at, reported=True)
            self._expire(db, at)
            for session_id in {session_id for session_id, items in reads if items}:
                shingles = (self.tenant, session_id, SHINGLE)
                _trim_oldest(db, "read_items", "tenant = ? AND session_id = ? AND kind = ?", shingles, MAX_READ_ITEMS)
                _trim_oldest(db, "read_items", "tenant = ? AND session_id = ? AND kind != ?", shingles, MAX_READ_TOKENS)

    def has_read_items(self, session_id: str, now: datetime.datetime) -> bool:
        rows = self._storage.read(
            "SELECT 1 FROM read_items WHERE tenant = ? AND session_id = ? AND at > ? LIMIT 1",
            (self.tenant, session_id, now.timestamp() - _TTL),
        )
        return bool(rows)

    def read_items(self, session_id: str, digests: Collection[int], now: datetime.datetime) -> list[ReadItem]:
        if not digests:
            return []
        rows = self._storage.read(
            "SELECT kind, digest, label FROM read_items WHERE tenant = ? AND session_id = ? AND at > ?"
            " AND digest IN (SELECT value FROM json_each(?))",
            (self.tenant, session_id, now.timestamp() - _TTL, json.dumps(list(digests))),
        )
        return [ReadItem(str(kind), int(value), str(label)) for kind, value, label in rows]  # type: ignore[call-overload]

    def add_known_recipient(self, tenant: str, recipient: str, source: str, now: datetime.datetime) -> None:
        at = now.timestamp()
        with self._storage.write() as db:
            db.execute(
                "INSERT INTO known_recipients (tenant, recipient, source, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant, recipient) DO UPDATE SET last_seen = excluded.last_seen",
                (tenant, recipient, source, at, at),
            )
            (count,) = db.execute("SELECT COUNT(*) FROM known_recipients WHERE tenant = ?", (tenant,)).fetchone()
            if count > MAX_KNOWN_RECIPIENTS:
                db.execute(
                    "DELETE FROM known_recipients WHERE rowid IN (SELECT rowid FROM known_recipients"
                    " WHERE tenant = ? ORDER BY last_seen LIMIT ?)",
                    (tenant, count - MAX_KNOWN_RECIPIENTS),
                )

    def is_known_recipient(self, tenant: str, recipient: str) -> bool:
        rows = self._storage.read(
            "SELECT 1 FROM known_recipients WHERE tenant = ? AND recipient = ? LIMIT 1", (tenant, recipient)
        )
        return bool(rows)

    def known_recipients(self, tenant: str | None = None, limit: int = 1000) -> list[KnownRecipient]:
        where, parameters = ("WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
        rows = self._storage.read(
            "SELECT tenant, recipient, source, first_seen, last_seen FROM known_recipients"
            f" {where} ORDER BY last_seen DESC, recipient DESC LIMIT ?",
            (*parameters, limit),
        )
        return [
            KnownRecipient(str(name), str(recipient), str(source), _utc(first), _utc(last))
            for name, recipient, source, first, last in rows
        ]
