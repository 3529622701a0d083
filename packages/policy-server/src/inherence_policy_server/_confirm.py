"""The pieces of the `confirm` verdict the decision service uses: rulings, asked calls, answers.

A `confirm` asks a person. The proxy asks in band (an MCP elicitation) and reports the answer
with an outcome report; or the person grants the approval out of band and the call is sent
again. The service remembers the calls it asked about for a while (`AskedCalls`, bounded),
so an answer given in band can record what the call does as for any call let through.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import threading

from inherence_policy_client._models import OutcomeReport, Verdict
from inherence_policy_server._storage import DecisionLogEntry
from inherence_policy_server.rules._api import Call

__all__ = ["ANSWER_VERDICTS", "Asked", "AskedCalls", "Ruling", "answer_entry"]

# How an answer to a confirm shows in the decision log's `decision` column.
ANSWER_VERDICTS = {
    "accepted": "confirm_accepted",
    "declined": "confirm_declined",
    "timed_out": "confirm_timed_out",
}
_SENTENCES = {
    "accepted": "The person accepted the call asked about in {question}.",
    "declined": "The person declined the call asked about in {question}.",
    "timed_out": "Nobody answered in time the call asked about in {question}.",
}
_REMEMBERED = 1024


@dataclasses.dataclass(frozen=True)
class Ruling:
    """What one evaluation came to, as the wire answer and the decision log carry it."""

    verdict: Verdict
    reason: str | None
    failed: tuple[str, ...]
    rule: str | None


@dataclasses.dataclass(frozen=True)
class Asked:
    """A call answered `confirm`: whose it was, what it was, and the approval it opened."""

    key_id: str | None
    call: Call
    rule: str | None
    approval_id: str | None
    expires_at: datetime.datetime


class AskedCalls:
    """The latest calls answered `confirm` by decision id, each until its approval would expire."""

    def __init__(self, limit: int = _REMEMBERED) -> None:
        self._limit = limit
        self._asked: collections.OrderedDict[str, Asked] = collections.OrderedDict()
        self._lock = threading.Lock()

    def remember(self, decision_id: str, asked: Asked) -> None:
        with self._lock:
            self._asked[decision_id] = asked
            while len(self._asked) > self._limit:
                self._asked.popitem(last=False)

    def take(self, decision_id: str, key_id: str | None, now: datetime.datetime) -> Asked | None:
        """The call asked about in `decision_id` by this key, once; None if unknown, another key's, or stale."""
        with self._lock:
            asked = self._asked.get(decision_id)
            if asked is None or asked.key_id != key_id:
                return None
            del self._asked[decision_id]
        return asked if asked.expires_at > now else None


def answer_entry(
    report: OutcomeReport, key_id: str | None, asked: Asked | None, decision_id: str, now: datetime.datetime
) -> DecisionLogEntry:
    """The decision log row of a person's answer (`report.confirmation` is set)."""
    answer = report.confirmation or "declined"
    call = asked.call if asked is not None else None
    return DecisionLogEntry(
        decision_id=decision_id,
        at=now,
        client=call.client if call else None,
        session_id=report.session_id or (call.session_id if call else None),
        upstream=report.upstream or (call.upstream if call else None),
        tool_name=report.tool_name or (call.tool_name if call else "-"),
        category=call.category.value if call else "unknown",
        decision=ANSWER_VERDICTS[answer],
        rule=None,
        reason=_SENTENCES[answer].format(question=report.decision_id[:80]),
        arguments=dict(call.arguments) if call else {},
        request_id=report.request_id,
        key_id=key_id,
    )
