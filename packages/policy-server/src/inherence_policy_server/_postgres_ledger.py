"""The rules' `SessionLedger` over PostgreSQL: velocity, what sessions read, known recipients.

Known recipients are the tenant's, shared by all its keys; the key the rules name is kept as the
one whose call made a recipient known first.

`reserve_transfer` takes a transaction-scoped advisory lock on the account before it sums
the windows, so two reservations for one account, from any two processes on any machines,
run one after the other: together they can never pass a limit that each alone would not.
Writes are pipelined: the statements of one go out together up to the first result needed (a
reservation takes two round trips, lock and sums, then writes and commit, instead of seven), run in order.
Each read-ledger write holds one advisory lock too, as SQLite's single writer would: its
trimming (expired entries, the caps per session and overall) then never races another.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from inherence_policy_server.rules._api import KnownRecipient, VelocityTotals
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
    from inherence_policy_server._postgres import PostgresStorage

__all__ = ["PostgresLedger"]

WEEK = 7 * 24 * 3600.0
_TTL = READ_TTL.total_seconds()
# Advisory lock namespaces (the first of the two 32-bit keys), kept apart from anyone else's locks.
_VELOCITY_LOCKS = 0x1E4E_0002
_READS_LOCK = (0x1E4E_0003, 0)

_TOTALS = """
SELECT
    COALESCE(SUM(CASE WHEN at > %(hour)s THEN amount_cents END), 0),
    COALESCE(SUM(CASE WHEN at > %(day)s THEN amount_cents END), 0),
    COALESCE(SUM(amount_cents), 0),
    COUNT(CASE WHEN at > %(hour)s THEN 1 END),
    COUNT(CASE WHEN at > %(day)s THEN 1 END),
    COUNT(*)
FROM transfers WHERE tenant = %(tenant)s AND account = %(account)s AND at > %(week)s
"""


# Whether a session read items still remembered, and the labels of its sensitive reads since the last
# report of what it read (`has_read_items` and `unreported_reads` in one statement).
_SESSION_READS = """
SELECT
    EXISTS (SELECT 1 FROM read_items WHERE tenant = %(tenant)s AND session_id = %(session)s AND at > %(oldest)s),
    ARRAY (
        SELECT label FROM sensitive_reads
        WHERE tenant = %(tenant)s AND session_id = %(session)s AND at > %(oldest)s AND at > COALESCE(
            (SELECT reported FROM read_sessions WHERE tenant = %(tenant)s AND session_id = %(session)s), -1)
        ORDER BY seq
    )
"""


def _bounds(tenant: str, account: str, now: datetime.datetime) -> dict[str, object]:
    t = now.timestamp()
    return {"tenant": tenant, "account": account, "hour": t - 3600.0, "day": t - 24 * 3600.0, "week": t - WEEK}


def _totals(row: Sequence[Any]) -> VelocityTotals:
    return VelocityTotals(*(int(value) for value in row))


def _account_lock(tenant: str, account: str) -> int:
    named = f"{tenant}\x00{account}".encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(named, digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _utc(seconds: object) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(float(str(seconds)), tz=datetime.timezone.utc)


def _trim_oldest(db: Any, table: str, where: str, parameters: tuple[object, ...], keep: int, order: str) -> None:
    (count,) = db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", parameters).fetchone()
    if count > keep:
        db.execute(
            f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {where} ORDER BY {order} LIMIT %s)",
            (*parameters, count - keep),
        )


class PostgresLedger:
    """`SessionLedger` of one tenant backed by a `PostgresStorage`.

    Within one decide (the storage's `pinned()` block), whether a session read items and what it read
    unreported are read in one statement and reused by the rules that ask again; a write to what
    sessions read in that decide forgets them.
    """

    def __init__(self, storage: PostgresStorage, tenant: str) -> None:
        self._storage = storage
        self.tenant = tenant

    def _forget_reads(self) -> None:
        memo = self._storage.decide_memo()
        if memo is not None:
            memo.clear()

    def known_recipient(self, account: str, recipient: str) -> bool:
        sql = "SELECT 1 FROM recipients WHERE tenant = %s AND account = %s AND recipient = %s LIMIT 1"
        return bool(self._storage.query(sql, (self.tenant, account, recipient)))

    def reserve_transfer(
        self, account: str, recipient: str, amount_cents: int, now: datetime.datetime, limits: Mapping[str, int]
    ) -> VelocityTotals | None:
        with self._storage.transaction(pipeline=True) as db:
            tenant = self.tenant
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_VELOCITY_LOCKS, _account_lock(tenant, account)))
            # Read committed: this statement sees every reservation committed before the lock was ours.
            before = _totals(db.execute(_TOTALS, _bounds(tenant, account, now)).fetchone() or ())
            after = VelocityTotals(
                hour_cents=before.hour_cents + amount_cents,
                day_cents=before.day_cents + amount_cents,
                week_cents=before.week_cents + amount_cents,
                hour_count=before.hour_count + 1,
                day_count=before.day_count + 1,
                week_count=before.week_count + 1,
            )
            if any(getattr(after, name, 0) > maximum for name, maximum in limits.items()):
                return None
            at = now.timestamp()
            db.execute(
                "INSERT INTO transfers (tenant, account, recipient, amount_cents, at) VALUES (%s, %s, %s, %s, %s)",
                (tenant, account, recipient, amount_cents, at),
            )
            db.execute(
                "INSERT INTO recipients (tenant, account, recipient, first_paid) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (tenant, account, recipient, at),
            )
            db.execute(
                "DELETE FROM transfers WHERE tenant = %s AND account = %s AND at <= %s", (tenant, account, at - WEEK)
            )
            return after

    def window_totals(self, account: str, now: datetime.datetime) -> VelocityTotals:
        return _totals(self._storage.query(_TOTALS, _bounds(self.tenant, account, now))[0])

    def _touch(self, db: Any, session_id: str, now: float, *, reported: bool) -> None:
        tenant = self.tenant
        db.execute(
            "INSERT INTO read_sessions (tenant, session_id, touched, reported) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (tenant, session_id) DO UPDATE SET touched = excluded.touched,"
            " reported = COALESCE(excluded.reported, read_sessions.reported)",
            (tenant, session_id, now, now if reported else None),
        )
        oldest = now - _TTL
        for table, column in (("read_items", "at"), ("sensitive_reads", "at"), ("read_sessions", "touched")):
            db.execute(f"DELETE FROM {table} WHERE {column} <= %s", (oldest,))
        (sessions,) = db.execute("SELECT COUNT(*) FROM read_sessions WHERE tenant = %s", (tenant,)).fetchone()
        if sessions > MAX_READ_SESSIONS:
            dropped = db.execute(
                "SELECT session_id FROM read_sessions WHERE tenant = %s ORDER BY touched, session_id LIMIT %s",
                (tenant, sessions - MAX_READ_SESSIONS),
            ).fetchall()
            names = [row[0] for row in dropped]
            for table in ("read_items", "sensitive_reads", "read_sessions"):
                db.execute(f"DELETE FROM {table} WHERE tenant = %s AND session_id = ANY(%s)", (tenant, names))

    def record_sensitive_read(self, session_id: str, label: str, now: datetime.datetime) -> None:
        self._forget_reads()
        at = now.timestamp()
        with self._storage.transaction(pipeline=True) as db:
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", _READS_LOCK)
            db.execute(
                "INSERT INTO sensitive_reads (tenant, session_id, label, at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (tenant, session_id, label) DO UPDATE SET at = excluded.at",
                (self.tenant, session_id, label, at),
            )
            self._touch(db, session_id, at, reported=False)
            where = "tenant = %s AND session_id = %s"
            _trim_oldest(db, "sensitive_reads", where, (self.tenant, session_id), MAX_READ_LABELS, "at, seq")

    def sensitive_reads(self, session_id: str) -> list[str]:
        sql = "SELECT label FROM sensitive_reads WHERE tenant = %s AND session_id = %s ORDER BY seq"
        rows = self._storage.query(sql, (self.tenant, session_id))
        return [str(row[0]) for row in rows]

    def unreported_reads(self, session_id: str, now: datetime.datetime) -> list[str]:
        memo = self._storage.decide_memo()
        if memo is not None:
            return list(self._session_reads(memo, session_id, now)[1])
        rows = self._storage.query(
            "SELECT label FROM sensitive_reads WHERE tenant = %s AND session_id = %s AND at > %s AND at > COALESCE("
            "(SELECT reported FROM read_sessions WHERE tenant = %s AND session_id = %s), -1) ORDER BY seq",
            (self.tenant, session_id, now.timestamp() - _TTL, self.tenant, session_id),
        )
        return [str(row[0]) for row in rows]

    def record_read_items(self, session_id: str, items: Sequence[ReadItem], now: datetime.datetime) -> None:
        self._forget_reads()
        at = now.timestamp()
        with self._storage.transaction(pipeline=True) as db:
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", _READS_LOCK)
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO read_items (tenant, session_id, digest, kind, label, at)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (tenant, session_id, digest) DO UPDATE SET at = excluded.at",
                    [(self.tenant, session_id, item.digest, item.kind, item.label, at) for item in items],
                )
            self._touch(db, session_id, at, reported=True)
            shingles = (self.tenant, session_id, SHINGLE)
            same = "tenant = %s AND session_id = %s AND kind = %s"
            other = "tenant = %s AND session_id = %s AND kind != %s"
            _trim_oldest(db, "read_items", same, shingles, MAX_READ_ITEMS, "at, id")
            _trim_oldest(db, "read_items", other, shingles, MAX_READ_TOKENS, "at, id")

    def has_read_items(self, session_id: str, now: datetime.datetime) -> bool:
        memo = self._storage.decide_memo()
        if memo is None:
            sql = "SELECT 1 FROM read_items WHERE tenant = %s AND session_id = %s AND at > %s LIMIT 1"
            return bool(self._storage.query(sql, (self.tenant, session_id, now.timestamp() - _TTL)))
        return self._session_reads(memo, session_id, now)[0]

    def _session_reads(self, memo: dict[Any, Any], session_id: str, now: datetime.datetime) -> tuple[bool, list[str]]:
        """Within one decide: whether the session read items, and its unreported reads, in one statement, once."""
        key = ("session reads", self.tenant, session_id, now)
        known: tuple[bool, list[str]] | None = memo.get(key)
        if known is None:
            parameters = {"tenant": self.tenant, "session": session_id, "oldest": now.timestamp() - _TTL}
            row = self._storage.query(_SESSION_READS, parameters)[0]
            known = memo[key] = (bool(row[0]), [str(label) for label in row[1]])  # type: ignore[attr-defined]
        return known

    def read_items(self, session_id: str, digests: Collection[int], now: datetime.datetime) -> list[ReadItem]:
        if not digests:
            return []
        rows = self._storage.query(
            "SELECT kind, digest, label FROM read_items"
            " WHERE tenant = %s AND session_id = %s AND at > %s AND digest = ANY(%s::bigint[])",
            (self.tenant, session_id, now.timestamp() - _TTL, list(digests)),
        )
        return [ReadItem(str(kind), int(str(value)), str(label)) for kind, value, label in rows]

    def add_known_recipient(self, tenant: str, recipient: str, source: str, now: datetime.datetime) -> None:
        # Known to this ledger's tenant; `tenant` is the key (the rules' `tenant_of`) that made it known.
        at = now.timestamp()
        with self._storage.transaction(pipeline=True) as db:
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", _READS_LOCK)
            db.execute(
                "INSERT INTO known_recipients (tenant, recipient, key_id, source, first_seen, last_seen)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (tenant, recipient) DO UPDATE SET last_seen = excluded.last_seen",
                (self.tenant, recipient, tenant, source, at, at),
            )
            _trim_last_seen(db, self.tenant)

    def is_known_recipient(self, tenant: str, recipient: str) -> bool:
        # Known to any key of this ledger's tenant.
        sql = "SELECT 1 FROM known_recipients WHERE tenant = %s AND recipient = %s LIMIT 1"
        return bool(self._storage.query(sql, (self.tenant, recipient)))

    def known_recipients(self, tenant: str | None = None, limit: int = 1000) -> list[KnownRecipient]:
        """This tenant's known recipients, or those one key made known; each names that key."""
        where, parameters = "WHERE tenant = %s", [self.tenant]
        if tenant is not None:
            where, parameters = f"{where} AND key_id = %s", [self.tenant, tenant]
        rows = self._storage.query(
            "SELECT key_id, recipient, source, first_seen, last_seen FROM known_recipients"
            f" {where} ORDER BY last_seen DESC, recipient DESC LIMIT %s",
            (*parameters, limit),
        )
        return [
            KnownRecipient(str(key), str(recipient), str(source), _utc(first), _utc(last))
            for key, recipient, source, first, last in rows
        ]


def _trim_last_seen(db: Any, tenant: str) -> None:
    (count,) = db.execute("SELECT COUNT(*) FROM known_recipients WHERE tenant = %s", (tenant,)).fetchone()
    if count > MAX_KNOWN_RECIPIENTS:
        db.execute(
            "DELETE FROM known_recipients WHERE ctid IN (SELECT ctid FROM known_recipients"
            " WHERE tenant = %s ORDER BY last_seen, first_seen, recipient LIMIT %s)",
            (tenant, count - MAX_KNOWN_RECIPIENTS),
        )
