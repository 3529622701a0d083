"""`InMemoryLedger`: the reference semantics of `SessionLedger`, for tests and single processes.

One lock guards all state, so `reserve_transfer` checks and records as one step: two
threads reserving at once are serialised, and the second sees the first's transfer.
"""

from __future__ import annotations

import collections
import datetime
import threading
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

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
        self._sessions: collections.OrderedDict[str, _SessionReads] = collections.OrderedDict()
        self._recipients: dict[str, set[str]] = defaultdict(set)
        self._transfers: dict[str, list[tuple[datetime.datetime, int]]] = defaultdict(list)
        self._known: dict[str, collections.OrderedDict[str, KnownRecipient]] = defaultdict(collections.OrderedDict)

    def _session(self, session_id: str, now: datetime.datetime) -> _SessionReads:
        reads = self._sessions.get(session_id)
        if reads is None:
            reads = self._sessions[session_id] = _SessionReads()
            while len(self._sessions) > MAX_READ_SESSIONS:
                self._sessions.popitem(last=False)
        self._sessions.move_to_end(session_id)
        reads.expire(now)
        return reads

    def sensitive_reads(self, session_id: str) -> list[str]:
        with self._lock:
            reads = self._sessions.get(session_id)
            return [] if reads is None else list(reads.labels)

    def record_sensitive_read(self, session_id: str, label: str, now: datetime.datetime) -> None:
        with self._lock:
            labels = self._session(session_id, now).labels
            labels[label] = now
            while len(labels) > MAX_READ_LABELS:
                labels.popitem(last=False)

    def unreported_reads(self, session_id: str, now: datetime.datetime) -> list[str]:
        with self._lock:
            reads = self._sessions.get(session_id)
            if reads is None:
                return []
            reads.expire(now)
            reported = reads.reported
            return [label for label, at in reads.labels.items() if reported is None or at > reported]

    def record_read_items(self, session_id: str, items: Sequence[ReadItem], now: datetime.datetime) -> None:
        with self._lock:
            reads = self._session(session_id, now)
            reads.reported = now
            for item in items:
                kept = reads.shingles if item.kind == SHINGLE else reads.tokens
                kept[item.digest] = (item, now)
                kept.move_to_end(item.digest)
            for kept, cap in ((reads.tokens, MAX_READ_TOKENS), (reads.shingles, MAX_READ_ITEMS)):
                while len(kept) > cap:
                    kept.popitem(last=False)

    def has_read_items(self, session_id: str, now: datetime.datetime) -> bool:
        with self._lock:
            reads = self._sessions.get(session_id)
            if reads is None:
                return False
            reads.expire(now)
            return bool(reads.tokens or reads.shingles)

    def read_items(self, session_id: str, digests: Collection[int], now: datetime.datetime) -> list[ReadItem]:
        with self._lock:
            reads = self._sessions.get(session_id)
            if reads is None:
                return []
            reads.expire(now)
            found = []
            for value in digests:
                hit = reads.tokens.get(value) or reads.shingles.get(value)
                if hit is not None:
                    found.append(hit[0])
            return found

    def add_known_recipient(self, tenant: str, recipient: str, source: str, now: datetime.datetime) -> None:
        with self._lock:
            known = self._known[tenant]
            before = known.pop(recipient, None)
            first, first_source = (before.first_seen, before.source) if before else (now, source)
            known[recipient] = KnownRecipient(tenant, recipient, first_source, first, now)
            while len(known) > MAX_KNOWN_RECIPIENTS:
                known.popitem(last=False)

    def is_known_recipient(self, tenant: str, recipient: str) -> bool:
        with self._lock:
            return recipient in self._known.get(tenant, ())

    def known_recipients(self, tenant: str | None = None, limit: int = 1000) -> list[KnownRecipient]:
        with self._lock:
            tenants = [tenant] if tenant is not None else list(self._known)
            every = [known for name in tenants for known in self._known.get(name, {}).values()]
        every.sort(key=lambda known: (known.last_seen, known.recipient), reverse=True)
        return every[:limit]

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


class _SessionReads:
    """One session's reads: coarse labels, recognisable items, and when it last reported content."""

    def __init__(self) -> None:
        self.labels: collections.OrderedDict[str, datetime.datetime] = collections.OrderedDict()
        self.tokens: collections.OrderedDict[int, tuple[ReadItem, datetime.datetime]] = collections.OrderedDict()
        self.shingles: collections.OrderedDict[int, tuple[ReadItem, datetime.datetime]] = collections.OrderedDict()
        self.reported: datetime.datetime | None = None

    def expire(self, now: datetime.datetime) -> None:
        oldest = now - READ_TTL
        for label in [label for label, at in self.labels.items() if at <= oldest]:
            del self.labels[label]
        # The items are in time order (moved to the end when read again): expiry stops at the first fresh one.
        for kept in (self.tokens, self.shingles):
            while kept and next(iter(kept.values()))[1] <= oldest:
                kept.popitem(last=False)
