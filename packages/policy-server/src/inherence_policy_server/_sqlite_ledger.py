"""The rules' `SessionLedger` over SQLite: the velocity ledger here, what sessions read in `_sqlite_reads`.

`reserve_transfer` checks and records in one `BEGIN IMMEDIATE` transaction, so two
reservations (from two threads or two processes sharing the data dir) are serialised by
SQLite's write lock: together they can never pass a limit that each alone would not.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING

from inherence_policy_server._sqlite_reads import SQLiteReads
from inherence_policy_server.rules._api import VelocityTotals

if TYPE_CHECKING:
    from inherence_policy_server._sqlite import SQLiteStorage

__all__ = ["SQLiteLedger"]

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY

_TOTALS = """
SELECT
    COALESCE(SUM(CASE WHEN at > :hour THEN amount_cents END), 0),
    COALESCE(SUM(CASE WHEN at > :day THEN amount_cents END), 0),
    COALESCE(SUM(amount_cents), 0),
    COUNT(CASE WHEN at > :hour THEN 1 END),
    COUNT(CASE WHEN at > :day THEN 1 END),
    COUNT(*)
FROM transfers WHERE tenant = :tenant AND account = :account AND at > :week
"""


def _window_bounds(tenant: str, account: str, now: datetime.datetime) -> dict[str, object]:
    t = now.timestamp()
    return {"tenant": tenant, "account": account, "hour": t - HOUR, "day": t - DAY, "week": t - WEEK}


def _totals(row: tuple[object, ...]) -> VelocityTotals:
    values = [int(value) for value in row]  # type: ignore[call-overload]
    return VelocityTotals(*values)


class SQLiteLedger(SQLiteReads):
    """`SessionLedger` of one tenant backed by a `SQLiteStorage`."""

    def __init__(self, storage: SQLiteStorage, tenant: str) -> None:
        self._storage = storage
        self.tenant = tenant

    def known_recipient(self, account: str, recipient: str) -> bool:
        rows = self._storage.read(
            "SELECT 1 FROM recipients WHERE tenant = ? AND account = ? AND recipient = ? LIMIT 1",
            (self.tenant, account, recipient),
        )
        return bool(rows)

    def reserve_transfer(
        self,
        account: str,
        recipient: str,
        amount_cents: int,
        now: datetime.datetime,
        limits: Mapping[str, int],
    ) -> VelocityTotals | None:
        with self._storage.write() as db:
            before = _totals(db.execute(_TOTALS, _window_bounds(self.tenant, account, now)).fetchone())
            after = VelocityTotals(
                hour_cents=before.hour_cents + amount_cents,
                day_cents=before.day_cents + amount_cents,
                week_cents=before.week_cents + amount_cents,
                hour_count=before.hour_count + 1,
                day_count=before.day_count + 1,
                week_count=before.week_count + 1,
            )
            for name, maximum in limits.items():
                if getattr(after, name, 0) > maximum:
                    return None
            at = now.timestamp()
            tenant = self.tenant
            db.execute(
                "INSERT INTO transfers (tenant, account, recipient, amount_cents, at) VALUES (?, ?, ?, ?, ?)",
                (tenant, account, recipient, amount_cents, at),
            )
            db.execute(
                "INSERT OR IGNORE INTO recipients (tenant, account, recipient, first_paid) VALUES (?, ?, ?, ?)",
                (tenant, account, recipient, at),
            )
            db.execute(
                "DELETE FROM transfers WHERE tenant = ? AND account = ? AND at <= ?", (tenant, account, at - WEEK)
            )
            return after

    def window_totals(self, account: str, now: datetime.datetime) -> VelocityTotals:
        rows = self._storage.read(_TOTALS, _window_bounds(self.tenant, account, now))
        return _totals(rows[0])
