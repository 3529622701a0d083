"""Decide: a wire `DecideRequest` in, the rules' evaluation, a wire `Decision` out, logged.

Any JSON the client sends gets a decision or a 4xx here, never an exception: an evaluation
that raises is a deny (fail closed), and the failure is logged without the call's arguments.

A `confirm` is answered only to a request that said `confirmable: true`; any other gets a
deny with the same reason and clauses. With a session, the confirm opens (or reuses) a
pending approval; once a person grants it, the identical call in that session is evaluated
again as approved and let through once. An approval never lets through an enforced finding.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import hashlib
import itertools
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pydantic
from pydantic import JsonValue

from inherence_policy_client._models import DecideRequest, Decision, OutcomeReport, Verdict
from inherence_policy_server._approvals import (
    Approvals,
    ApprovalState,
    Question,
    approval_binding,
    arguments_summary,
)
from inherence_policy_server._confirm import Asked, AskedCalls, Ruling, answer_entry
from inherence_policy_server._decision_log import DecisionLogWriter
from inherence_policy_server._masking import mask_text
from inherence_policy_server._rules import Evaluation, Evaluator
from inherence_policy_server._session_reads import LetThrough, record_session_read, record_session_reads
from inherence_policy_server._storage import DEFAULT_TENANT, DecisionLogEntry
from inherence_policy_server._telemetry import Telemetry
from inherence_policy_server.rules._api import Call, Category, SessionLedger
from inherence_policy_server.rules._exfiltration import declined_items, session_key

__all__ = ["DecisionService", "Outcome"]

logger = logging.getLogger("inherence_policy_server")

Outcome = tuple[int, bytes]
_CATEGORIES = {category.value: category for category in Category}
_VERDICTS = {verdict.value: verdict for verdict in Verdict}
_IDEMPOTENT_ANSWERS = 4096
_FAIL_CLOSED_REASON = "the policy could not evaluate this call, so it is denied"
_DEFAULT_APPROVAL_TTL = 600
# The decision log's tenant for a call whose key's tenant could not be read (no tenant's dashboard shows it).
_UNKNOWN_TENANT = "-"
# Past NaN and Infinity, a number is infinite only with a 3-digit exponent or 300 digits; most bodies have none.
_HUGE_NUMBER = re.compile(rb"[0-9](?:[eE]\+?[0-9]{3}|[0-9]{299})")


def _verdict(value: Any) -> Verdict:
    """The wire verdict of an evaluation; anything unrecognised is a deny."""
    if isinstance(value, Verdict):
        return value
    return _VERDICTS.get(str(getattr(value, "value", value)), Verdict.DENY)


def non_finite_path(value: Any, path: str = "arguments") -> str | None:
    """Where `value` holds NaN or an infinity (`arguments.items[1].amount`), or None when it holds none."""
    stack = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return where
        if isinstance(node, dict):
            stack.extend((item, f"{where}.{key}") for key, item in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{index}]") for index, item in reversed(list(enumerate(node))))
    return None


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
        approvals: Approvals | None = None,
        tenants: Callable[[str | None], tuple[str, SessionLedger]] | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._evaluate = evaluator
        self._telemetry = telemetry
        # Whose state a key's calls read and change: its tenant and that tenant's ledger (else everyone's one ledger).
        self._tenants = tenants
        self._tenant_of_key: dict[str | None, tuple[str, SessionLedger]] = {}
        self._approvals = approvals
        self._asked = AskedCalls()
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
        if b"NaN" in body or b"Infinity" in body or _HUGE_NUMBER.search(body):
            where = non_finite_path(request.arguments)
            if where is not None:
                # Stored, NaN would break every later reader of the decision log; JSON has no such number.
                shown = mask_text(where)[:200].encode("utf-8", "replace").decode("utf-8")
                return _problem(400, "INVALID_REQUEST", f"{shown}: must be a finite number, not NaN or Infinity")
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
        # A confirm is not kept: once a person granted it, the same call must be decided again.
        if replay_key is not None and decision.decision is not Verdict.CONFIRM:
            with self._answers_lock:
                self._answers[replay_key] = answer
                while len(self._answers) > _IDEMPOTENT_ANSWERS:
                    self._answers.popitem(last=False)
        return 200, answer

    def decide(self, request: DecideRequest, key_id: str | None = None) -> Decision:
        """The decision on one parsed request (never raises for any request)."""
        started_ns = time.time_ns() if self._telemetry is not None else 0
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
        decision_id = self._next_id()
        try:
            tenant, ledger = self._scope(key_id)
            ruling = self._ruling(call, now, ledger)
        except Exception as exc:  # whose state to use is unknown: decide nothing on anyone's
            logger.error("the tenant of a key could not be read (%s); denied", type(exc).__name__)
            tenant, ledger = _UNKNOWN_TENANT, self._ledger
            ruling = Ruling(Verdict.DENY, _FAIL_CLOSED_REASON, ("server.evaluation_failed",), "server")
        approval_id = None
        if ruling.verdict is Verdict.CONFIRM:
            ruling, approval_id = self._confirm(request, call, key_id, ruling, decision_id, now, (tenant, ledger))
        if ruling.verdict.allows:
            self._let_through.remember(
                decision_id, key_id, session_key(call), call.category, call.tool_name, call.upstream or ""
            )
        if call.session_id is not None:
            self._log.saw_session(call.session_id, call.client, now, tenant)
        self._log.record(
            DecisionLogEntry(
                decision_id=decision_id,
                at=now,
                client=call.client,
                session_id=call.session_id,
                upstream=call.upstream,
                tool_name=call.tool_name,
                category=call.category.value,
                decision=ruling.verdict.value,
                rule=ruling.rule,
                reason=ruling.reason,
                arguments=request.arguments,
                request_id=request.request_id,
                key_id=key_id,
                tenant=tenant,
            )
        )
        if self._telemetry is not None:
            verdict, category = ruling.verdict.value, call.category.value
            self._telemetry.decided(decision_id, verdict, ruling.rule, category, started_ns, time.time_ns())
        receipt: dict[str, JsonValue] = {"decision_id": decision_id, "decided_at": now.isoformat(), "rule": ruling.rule}
        # Every field is built here from known types, so the answer skips validation.
        return Decision.model_construct(
            decision=ruling.verdict,
            receipt=receipt,
            receipt_id=decision_id,
            reason=ruling.reason,
            failed_clauses=list(ruling.failed),
            approval_id=approval_id,
        )

    def record_outcome(self, report: OutcomeReport, key_id: str | None, now: datetime.datetime) -> None:
        """Take what became of a decided call: a person's answer to a confirm, or a result let through."""
        if self._telemetry is not None:
            self._telemetry.reported(report.decision_id, "result" if report.confirmation is None else "confirmation")
        if report.confirmation is not None:
            self._record_answer(report, key_id, now)
        else:
            self.record_session_read(report, key_id, now)

    def record_outcomes(self, reports: Sequence[OutcomeReport], key_id: str | None, now: datetime.datetime) -> None:
        """`record_outcome` for several reports in their order, what sessions read stored in one transaction."""
        reads: list[OutcomeReport] = []
        for report in reports:
            if report.confirmation is None:
                reads.append(report)
                continue
            self._record_reads(reads, key_id, now)
            reads = []
            self._record_answer(report, key_id, now)
        self._record_reads(reads, key_id, now)

    def _record_reads(self, reports: Sequence[OutcomeReport], key_id: str | None, now: datetime.datetime) -> None:
        if not reports:
            return
        try:
            record_session_reads(self._scope(key_id)[1], self._let_through, reports, key_id, now)
        except Exception as exc:  # the reports are taken; what they held is lost, never the server
            logger.error("the results of %d calls could not be recorded (%s)", len(reports), type(exc).__name__)

    def record_session_read(self, report: OutcomeReport, key_id: str | None, now: datetime.datetime) -> None:
        """What a session read: the content of a result the policy let through, into the ledger."""
        try:
            record_session_read(self._scope(key_id)[1], self._let_through, report, key_id, now)
        except Exception as exc:  # the report is taken; what it held is lost, never the server
            logger.error("the result of %s could not be recorded (%s)", report.decision_id, type(exc).__name__)

    def _next_id(self) -> str:
        return f"dec_{self._id_prefix}{next(self._serial):010x}"

    def _scope(self, key_id: str | None) -> tuple[str, SessionLedger]:
        """The tenant of a key and its ledger; a key's tenant never changes, so it is looked up once."""
        known = self._tenant_of_key.get(key_id)
        if known is not None:
            return known
        if self._tenants is None:
            return DEFAULT_TENANT, self._ledger
        # A lookup that fails raises: the caller answers 503 rather than deciding on another tenant's state.
        known = self._tenants(key_id)
        if len(self._tenant_of_key) >= _IDEMPOTENT_ANSWERS:
            self._tenant_of_key.clear()
        self._tenant_of_key[key_id] = known
        return known

    def _ruling(self, call: Call, now: datetime.datetime, ledger: SessionLedger | None = None) -> Ruling:
        """The evaluation of one call as a verdict, reason, clauses and rule; a failure is a deny."""
        try:
            evaluation: Evaluation = self._evaluate(call, self._config, ledger or self._ledger, now)
            findings = list(evaluation.findings)
            failed = tuple(clause if isinstance(clause, str) else str(clause) for clause in evaluation.failed_clauses)
            # Findings of rules in `log` mode name the rule of an allow_with_log.
            noted = findings or list(getattr(evaluation, "logged", ()))
            # A reason may quote the call; whatever secret it quotes is masked before it leaves the server.
            reason = mask_text(evaluation.reason) if noted and evaluation.reason else evaluation.reason
            return Ruling(_verdict(evaluation.verdict), reason, failed, noted[0].rule if noted else None)
        except Exception as exc:
            logger.error("evaluation of a %s call failed (%s); denied", call.category.value, type(exc).__name__)
            return Ruling(Verdict.DENY, _FAIL_CLOSED_REASON, ("server.evaluation_failed",), "server")

    def _confirm(
        self,
        request: DecideRequest,
        call: Call,
        key_id: str | None,
        asked: Ruling,
        decision_id: str,
        now: datetime.datetime,
        scope: tuple[str, SessionLedger],
    ) -> tuple[Ruling, str | None]:
        """A confirm ruling settled: let through by a granted approval, denied, or a question with an approval."""
        approvals, binding, session_id = self._approvals, None, call.session_id
        if approvals is not None and session_id is not None:
            binding = approval_binding(key_id, session_id, call.upstream, call.tool_name, request.arguments)
            granted = _claim(approvals, binding, now)
            if granted is not None:
                retried = self._ruling(dataclasses.replace(call, approved=True), now, scope[1])
                if retried.verdict.allows:
                    reason = f"Allowed once by approval {granted}: {asked.reason}"
                    return Ruling(Verdict.ALLOW_WITH_LOG, reason, retried.failed, retried.rule), None
                # Denied after all (an enforced finding, full windows): the approval stays granted.
                _release(approvals, granted)
                if retried.verdict is not Verdict.CONFIRM:
                    return retried, None
                asked = retried
        if request.confirmable is not True:
            return dataclasses.replace(asked, verdict=Verdict.DENY), None
        approval_id = None
        if approvals is not None and binding is not None and session_id is not None:
            # What a person is shown is masked like the decision log; the binding holds the call exactly.
            question = Question(
                binding=binding,
                key_id=key_id,
                session_id=mask_text(session_id),
                upstream=None if call.upstream is None else mask_text(call.upstream),
                tool_name=mask_text(call.tool_name),
                rule=asked.rule,
                clauses=asked.failed,
                reason=mask_text(asked.reason or ""),
                summary=arguments_summary(request.arguments),
                tenant=scope[0],
            )
            approval_id = _ask(approvals, question, now, self._approval_ttl())
        expires = now + datetime.timedelta(seconds=self._approval_ttl())
        self._asked.remember(decision_id, Asked(key_id, call, asked.rule, approval_id, expires))
        return asked, approval_id

    def _approval_ttl(self) -> int:
        section = getattr(self._config, "confirmation", None)
        return int(getattr(section, "approval_ttl_seconds", _DEFAULT_APPROVAL_TTL))

    def _record_answer(self, report: OutcomeReport, key_id: str | None, now: datetime.datetime) -> None:
        asked = self._asked.take(report.decision_id, key_id, now)
        tenant, ledger = self._scope(key_id)
        if report.confirmation == "accepted" and asked is not None:
            # The proxy let the call through: record what it does, as for any call let through.
            self._ruling(dataclasses.replace(asked.call, approved=True), now, ledger)
        elif asked is not None:
            # Refused (or left unanswered): a later send to the same recipient in this session asks again.
            refused = declined_items(asked.call, self._config)
            if refused:
                ledger.record_read_items(session_key(asked.call), refused, now)
        approval_id = report.approval_id or (asked.approval_id if asked is not None else None)
        if approval_id and self._approvals is not None and report.confirmation != "timed_out":
            # Answered in band: the same question cannot also be granted out of band.
            settled: ApprovalState = "used" if report.confirmation == "accepted" else "declined"
            try:
                self._approvals.settle(approval_id, key_id, settled, now)
            except Exception as exc:
                logger.error("approval %s could not be closed (%s)", approval_id, type(exc).__name__)
        self._log.record(dataclasses.replace(answer_entry(report, key_id, asked, self._next_id(), now), tenant=tenant))


def _claim(approvals: Approvals, binding: str, now: datetime.datetime) -> str | None:
    try:
        claimed = approvals.claim(binding, now)
    except Exception as exc:  # no approval can be used: the call stays a question
        logger.error("the approvals cannot be read (%s)", type(exc).__name__)
        return None
    return None if claimed is None else claimed.id


def _release(approvals: Approvals, approval_id: str) -> None:
    try:
        approvals.release(approval_id)
    except Exception as exc:
        logger.error("approval %s could not be given back (%s)", approval_id, type(exc).__name__)


def _ask(approvals: Approvals, question: Question, now: datetime.datetime, ttl_seconds: int) -> str | None:
    try:
        return approvals.ask(question, now, ttl_seconds).id
    except Exception as exc:  # the question stands without an approval the person could grant later
        logger.error("no approval could be opened (%s)", type(exc).__name__)
        return None
