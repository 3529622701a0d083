"""An in-memory policy service for unit tests of code that uses `PolicyClient`.

    policy = ScriptedPolicy()
    policy.deny("shell__*", reason="no shell")
    async with PolicyClient("inh_test", base_url="https://policy.test", transport=policy.transport) as client:
        ...
    assert [d.tool_name for d in policy.decisions] == [...]

It answers like hosted Inherence: allow by default, rules matched by tool-name pattern (the
last matching rule wins), and scriptable failures. Like inherence-policy-server it answers
`confirm` only to a request that said `confirmable: true` (a deny otherwise) and takes outcome
reports (`outcomes`), unless made without the route. Nothing leaves the process.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import uuid
from typing import Any

import httpx2

from inherence_policy_client._models import ClassifyRequest, DecideRequest, OutcomeReport, Verdict

__all__ = ["ScriptedPolicy"]


@dataclasses.dataclass(frozen=True)
class _Rule:
    pattern: str
    verdict: Verdict
    reason: str | None
    failed_clauses: tuple[str, ...]
    approval_id: str | None = None


class ScriptedPolicy:
    """A scriptable Policy API behind an `httpx2.MockTransport`.

    `decisions`, `classified` and `outcomes` record what arrived; `requests` keeps every raw
    request. `fail_with(status)` makes every call answer that status; `unreachable()` makes
    every call fail to connect; `recover()` undoes both. `outcome_route=False` answers 404 to
    outcome reports, as a server that predates them does.
    """

    def __init__(self, *, api_key: str | None = None, category: str = "read_only", outcome_route: bool = True) -> None:
        self.api_key = api_key
        self.category = category
        self.outcome_route = outcome_route
        self.rules: list[_Rule] = []
        self.decisions: list[DecideRequest] = []
        self.classified: list[str] = []
        self.outcomes: list[OutcomeReport] = []
        self.requests: list[httpx2.Request] = []
        self._failure: int | None = None
        self._unreachable = False
        self.transport = httpx2.MockTransport(self._handle)

    def allow(self, pattern: str = "*") -> None:
        self.rules.append(_Rule(pattern, Verdict.ALLOW, None, ()))

    def deny(self, pattern: str = "*", *, reason: str = "denied by test policy", clause: str = "test.deny") -> None:
        self.rules.append(_Rule(pattern, Verdict.DENY, reason, (clause,)))

    def allow_with_log(self, pattern: str = "*", *, reason: str = "logged by test policy") -> None:
        self.rules.append(_Rule(pattern, Verdict.ALLOW_WITH_LOG, reason, ()))

    def confirm(
        self,
        pattern: str = "*",
        *,
        reason: str = "confirm by test policy",
        clause: str = "test.confirm",
        approval_id: str | None = "apr_test",
    ) -> None:
        """Answer `confirm` (with `approval_id`) to confirmable requests, `deny` to the others."""
        self.rules.append(_Rule(pattern, Verdict.CONFIRM, reason, (clause,), approval_id))

    def fail_with(self, status: int) -> None:
        self._failure = status

    def unreachable(self) -> None:
        self._unreachable = True

    def recover(self) -> None:
        self._failure = None
        self._unreachable = False

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        if self._unreachable:
            raise httpx2.ConnectError("scripted: policy unreachable", request=request)
        self.requests.append(request)
        if self._failure is not None:
            return httpx2.Response(self._failure, json={"error": "scripted failure"})
        path = request.url.path
        if path == "/api/proxy/health":
            return httpx2.Response(200, json={"status": "ok", "version": "testing"})
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return httpx2.Response(401, json={"error": "unauthorized"})
        body: Any = json.loads(request.content or b"{}")
        if path == "/api/proxy/decide":
            return httpx2.Response(200, json=self._decide(DecideRequest.model_validate(body)))
        if path == "/api/proxy/outcome" and self.outcome_route:
            self.outcomes.append(OutcomeReport.model_validate(body))
            return httpx2.Response(202, json={"accepted": True})
        if path == "/api/proxy/classify":
            tools = ClassifyRequest.model_validate(body).tools
            self.classified.extend(tool.name for tool in tools)
            answer = [{"name": t.name, "category": self.category, "source": "test", "confidence": 1.0} for t in tools]
            return httpx2.Response(200, json={"classifications": answer})
        if path in ("/api/proxy/auth/verify", "/api/proxy/register", "/api/proxy/heartbeat"):
            return httpx2.Response(200, json={})
        return httpx2.Response(404, json={"error": "not found"})

    def _decide(self, request: DecideRequest) -> dict[str, Any]:
        self.decisions.append(request)
        rule = next((r for r in reversed(self.rules) if fnmatch.fnmatchcase(request.tool_name, r.pattern)), None)
        verdict = rule.verdict if rule else Verdict.ALLOW
        if verdict is Verdict.CONFIRM and request.confirmable is not True:
            verdict = Verdict.DENY
        receipt_id = f"rcpt_{uuid.uuid4().hex[:12]}"
        answer: dict[str, Any] = {
            "decision": verdict.value,
            "receipt": {"id": receipt_id, "tool_name": request.tool_name},
            "receipt_id": receipt_id,
            "reason": rule.reason if rule else None,
            "failed_clauses": list(rule.failed_clauses) if rule else [],
        }
        if verdict is Verdict.CONFIRM and rule is not None and rule.approval_id is not None:
            answer["approval_id"] = rule.approval_id
        return answer
