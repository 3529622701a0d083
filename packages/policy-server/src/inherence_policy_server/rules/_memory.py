"""`InMemoryLedger`: the reference semantics of `SessionLedger`, for tests and single processes.

One lock guards all state, so `reserve_transfer` checks and records as one step: two
threads reserving at once are serialised, and the second sees the first's transfer.
"""

from __future__ import annotations

import datetime
import threading
from collections import defaultdict
from collections.abc import Mapping

from inherence_policy_server.rules._api import VelocityTotals

__all__ = ["InMemoryLedger"]

_WINDOWS = {
    "hour": datetime.timedelta(hours=1),
    "day": datetime.timedelta(days=1),
    "week": datetime.timedelta(weeks=1),
}


class InMemoryLedger:
    """A thread-safe `SessionLedger` held in memory; nothing outlives the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads: dict[str, list[str]] = defaultdict(list)
        self._recipients: dict[str, set[str]] = defaultdict(set)
        self._transfers: dict[str, list[tuple[datetime.datetime, int]]] = defaultdict(list)

    def sensitive_reads(self, session_id: str) -> list[str]:
        with self._lock:
            return list(self._reads.get(session_id, ()))

    def record_sensitive_read(self, session_id: str, label: str, now: datetime.datetime) -> None:
        del now
        with self._lock:
            if label not in self._reads[session_id]:
                self._reads[session_id].append(label)

    def known_recipient(self, account: str, recipient: str) -> bool:
        with self._lock:
            return recipient in self._recipients.get(account, ())

    def reserve_transfer(
        self,
        account: str,
        recipient: str,
        amount_cents: int,
        now: datetime.datetime,
        limits: Mapping[str, int],
    ) -> VelocityTotals | None:
        with self._lock:
            current = self._totals(account, now)
            proposed = VelocityTotals(
                hour_cents=current.hour_cents + amount_cents,
                day_cents=current.day_cents + amount_cents,
                week_cents=current.week_cents + amount_cents,
                hour_count=current.hour_count + 1,
                day_count=current.day_count + 1,
                week_count=current.week_count + 1,
            )
            if any(getattr(proposed, name) > limit for name, limit in limits.items()):
                return None
            self._transfers[account].append((now, amount_cents))
            if recipient:
                self._recipients[account].add(recipient)
            return proposed

    def window_totals(self, account: str, now: datetime.datetime) -> VelocityTotals:
        with self._lock:
            return self._totals(account, now)

    def _totals(self, account: str, now: datetime.datetime) -> VelocityTotals:
        sums = dict.fromkeys(_WINDOWS, 0)
        counts = dict.fromkeys(_WINDOWS, 0)
        week_ago = now - _WINDOWS["week"]
        kept = [(when, cents) for when, cents in self._transfers.get(account, ()) if when > week_ago]
        if account in self._transfers:
            self._transfers[account] = kept  # older than every window: never counted again
        for when, cents in kept:
            for window, span in _WINDOWS.items():
                if when > now - span:
                    sums[window] += cents
                    counts[window] += 1
        return VelocityTotals(
            hour_cents=sums["hour"],
            day_cents=sums["day"],
            week_cents=sums["week"],
            hour_count=counts["hour"],
            day_count=counts["day"],
            week_count=counts["week"],
        )
