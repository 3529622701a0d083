"""Outcome reports into what a session read: which decision a result belongs to, and recording it.

The decision service remembers the calls it let through (`LetThrough`, bounded, oldest
dropped first) by decision id: whose key, which session, what kind of call. A result
reported for one of them is recorded under that session, by that call's category; a result
reported with another key is ignored. A result for a decision this process does not know
(another worker, or one long forgotten) counts under the session the report names, as the
result of a tool nothing could place.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import threading
from collections.abc import Sequence

from inherence_policy_client._models import OutcomeReport
from inherence_policy_server.rules._api import Category, SessionLedger
from inherence_policy_server.rules._exfiltration import LOCAL_TENANT
from inherence_policy_server.rules._material import ReadItem
from inherence_policy_server.rules._outcomes import (
    ACCOUNT_DOMAIN,
    OWN_ACCOUNT,
    account_domain,
    own_accounts,
    own_address,
    record_result,
    result_items,
)

__all__ = ["LetThrough", "record_session_read", "record_session_reads"]

_REMEMBERED = 16_384


@dataclasses.dataclass(frozen=True)
class _Decided:
    key_id: str | None
    session: str
    category: Category
    tool: str = ""
    upstream: str = ""


class LetThrough:
    """The latest calls let through, by decision id; each is taken once, when its result arrives."""

    def __init__(self, limit: int = _REMEMBERED) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._decided: collections.OrderedDict[str, _Decided] = collections.OrderedDict()

    def remember(
        self, decision_id: str, key_id: str | None, session: str, category: Category, tool: str = "", upstream: str = ""
    ) -> None:
        with self._lock:
            self._decided[decision_id] = _Decided(key_id, session, category, tool, upstream)
            while len(self._decided) > self._limit:
                self._decided.popitem(last=False)

    def take(self, decision_id: str) -> _Decided | None:
        with self._lock:
            return self._decided.pop(decision_id, None)


def _placed(
    ledger: SessionLedger, let_through: LetThrough, report: OutcomeReport, key_id: str | None, now: datetime.datetime
) -> tuple[str, Category, str, str] | None:
    """The session, category and tool a reported result counts under; None when it is ignored."""
    decided = let_through.take(report.decision_id)
    if decided is not None:
        if decided.key_id != key_id:
            return None
        domain = account_domain(decided.tool, (report.content_text, report.structured_text))
        if domain is not None:
            # The account's own domain, from its own profile: mail there stays inside the organisation.
            ledger.add_known_recipient(key_id or LOCAL_TENANT, f"{ACCOUNT_DOMAIN}{domain}", "account", now)
        address = own_address(decided.tool, (report.content_text, report.structured_text))
        if address is not None:
            # The user's own mail address, from their own profile: mail there reaches the user.
            ledger.add_known_recipient(key_id or LOCAL_TENANT, address, "account", now)
        for account in own_accounts(decided.tool, (report.content_text, report.structured_text)):
            # The bank listing the user's own accounts: money moved between them leaves nobody's hands.
            ledger.add_known_recipient(key_id or LOCAL_TENANT, f"{OWN_ACCOUNT}{account}", "account", now)
        return decided.session, decided.category, decided.tool, decided.upstream
    if report.session_id:
        return report.session_id, Category.UNKNOWN, "", ""
    return None


def record_session_read(
    ledger: SessionLedger, let_through: LetThrough, report: OutcomeReport, key_id: str | None, now: datetime.datetime
) -> int:
    """Record what a reported result holds; the number of items recognised (0 when ignored)."""
    placed = _placed(ledger, let_through, report, key_id, now)
    if placed is None:
        return 0
    session, category, tool, upstream = placed
    texts = (report.content_text, report.structured_text)
    return record_result(ledger, session, category, texts, now, tool, upstream)


def record_session_reads(
    ledger: SessionLedger,
    let_through: LetThrough,
    reports: Sequence[OutcomeReport],
    key_id: str | None,
    now: datetime.datetime,
) -> int:
    """`record_session_read` for several reports, in one transaction where the ledger can batch; items recognised."""
    reads: list[tuple[str, Sequence[ReadItem]]] = []
    for report in reports:
        placed = _placed(ledger, let_through, report, key_id, now)
        if placed is not None:
            session, category, tool, upstream = placed
            texts = (report.content_text, report.structured_text)
            reads.append((session, result_items(category, texts, tool, upstream)))
    batch = getattr(ledger, "record_read_batch", None)
    if callable(batch):
        batch(reads, now)
    else:
        for session, items in reads:
            ledger.record_read_items(session, items, now)
    return sum(len(items) for _, items in reads)
