"""Decide: a wire `DecideRequest` in, the rules' evaluation, a wire `Decision` out, logged.

Any JSON the client sends gets a decision or a 4xx here, never an exception: an evaluation
that raises is a deny (fail closed), and the failure is logged without the call's arguments.
"""

from __future__ import annotations

import collections
import datetime
import hashlib
import itertools
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

import pydantic
from pydantic import JsonValue

from inherence_policy_client._models import DecideRequest, Decision, OutcomeReport, Verdict
from inherence_policy_server._decision_log import DecisionLogWriter
from inherence_policy_server._rules import Evaluation, Evaluator
from inherence_policy_server._session_reads import LetThrough, record_session_read
from inherence_policy_server._storage import DecisionLogEntry
from inherence_policy_server.rules._api import Call, Category, SessionLedger
from inherence_policy_server.rules._exfiltration import session_key

__all__ = ["DecisionService", "Outcome"]

logger = logging.getLogger("inherence_policy_server")

Outcome = tuple[int, bytes]
_CATEGORIES = {category.value: category for category in Category}
_VERDICTS = {verdict.value: verdict for verdict in Verdict}
_IDEMPOTENT_ANSWERS = 4096
_FAIL_CLOSED_REASON = "the policy could not evaluate this call, so it is denied"


def _verdict(value: Any) -> Verdict:
    """The wire verdict of an evaluation; anything unrecognised is a deny."""
    if isinstance(value, Verdict):
        return value
    return _VERDICTS.get(str(getattr(value, "value", value)), Verdict.DENY)


def _problem(status: int, kind: str, detail: str) -> Outcome:
    body = pydantic.TypeAdapter(dict[str, str]).dump_json({"error": kind, "detail": detail})
    return status, body


class DecisionService:
    """Decides calls against one rules config and one ledger; logs each decision."""

    def __init__(
        self,
        *,
        evaluator: Evaluator,
        config: Any,
        ledger: SessionLedger,
        log: DecisionLogWriter,
        clock: Callable[[], datetime.datetime],
    ) -> None:
        self._evaluate = evaluator
        self._config = config
        self._ledger = ledger
        self._log = log
        self._clock = clock
        self._answers: collections.OrderedDict[tuple[str | None, str, bytes], bytes] = collections.OrderedDict()
        self._answers_lock = threading.Lock()
        # A random prefix per service keeps ids unique across processes without a syscall per call.
        self._id_prefix = secrets.token_hex(7)
        self._serial = itertools.count(1)
        self._let_through = LetThrough()

    @property
    def config(self) -> Any:
        return self._config

    @config.setter
    def config(self, config: Any) -> None:
        # One attribute store: a decide in flight sees the old config or the new one, never a mix.
        self._config = config

    def decide_body(self, body: bytes, key_id: str | None) -> Outcome:
        """The HTTP status and JSON body answering one raw decide request."""
        try:
            request = DecideRequest.model_validate_json(body)
        except pydantic.ValidationError as exc:
            kinds = sorted({str(error["type"]) for error in exc.errors(include_url=False, include_input=False)})
            return _problem(422 if "json_invalid" not in kinds else 400, "INVALID_REQUEST", ", ".join(kinds)[:200])
        except (ValueError, RecursionError):
            return _problem(400, "INVALID_REQUEST", "the body is not a JSON object")
        # A retry repeats the whole body; a reused id with another call is a new call, not a replay.
        replay_key = None
        if request.request_id is not None:
            replay_key = (key_id, request.request_id, hashlib.blake2b(body, digest_size=16).digest())
            with self._answers_lock:
                answered = self._answers.get(replay_key)
            if answered is not None:
                return 200, answered
        decision = self.decide(request, key_id)
        answer = decision.model_dump_json(exclude_none=True).encode()
        if replay_key is not None:
            with self._answers_lock:
                self._answers[replay_key] = answer
                while len(self._answers) > _IDEMPOTENT_ANSWERS:
                    self._answers.popitem(last=False)
        return 200, answer

    def decide(self, request: DecideRequest, key_id: str | None = None) -> Decision:
        """The decision on one parsed request (never raises for any request)."""
        now = self._clock()
        call = Call(
            tool_name=request.tool_name,
            category=_CATEGORIES.get(request.classification, Category.UNKNOWN),
            arguments=request.arguments,
            session_id=request.session_id,
            upstream=request.upstream,
            client=request.client,
            kind=request.kind or "tool",
            key_id=key_id,
        )
        decision_id = f"dec_{self._id_prefix}{next(self._serial):010x}"
        rule: str | None
        try:
            evaluation: Evaluation = self._evaluate(call, self._config, self._ledger, now)
            verdict = _verdict(evaluation.verdict)
            findings = list(evaluation.findings)
            reason = evaluation.reason
            failed = [clause if isinstance(clause, str) else str(clause) for clause in evaluation.failed_clauses]
            # Findings of rules in `log` mode name the rule of an allow_with_log.
            noted = findings or list(getattr(evaluation, "logged", ()))
            rule = noted[0].rule if noted else None
        except Exception as exc:
            logger.error("evaluation of a %s call failed (%s); denied", call.category.value, type(exc).__name__)
            verdict, reason, failed, rule = Verdict.DENY, _FAIL_CLOSED_REASON, ["server.evaluation_failed"], "server"
        if verdict.allows:
            self._let_through.remember(decision_id, key_id, session_key(call), call.category)
        if call.session_id is not None:
            self._log.saw_session(call.session_id, call.client, now)
        self._log.record(
            DecisionLogEntry(
                decision_id=decision_id,
                at=now,
                client=call.client,
                session_id=call.session_id,
                upstream=call.upstream,
                tool_name=call.tool_name,
                category=call.category.value,
                decision=verdict.value,
                rule=rule,
                reason=reason,
                arguments=request.arguments,
                request_id=request.request_id,
                key_id=key_id,
            )
        )
        receipt: dict[str, JsonValue] = {"decision_id": decision_id, "decided_at": now.isoformat(), "rule": rule}
        # Every field is built here from known types, so the answer skips validation.
        return Decision.model_construct(
            decision=verdict, receipt=receipt, receipt_id=decision_id, reason=reason, failed_clauses=list(failed)
        )

    def record_session_read(self, report: OutcomeReport, key_id: str | None, now: datetime.datetime) -> None:
        """What a session read: the content of a result the policy let through, into the ledger."""
        try:
            record_session_read(self._ledger, self._let_through, report, key_id, now)
        except Exception as exc:  # the report is taken; what it held is lost, never the server
            logger.error("the result of %s could not be recorded (%s)", report.decision_id, type(exc).__name__)
