"""Drive the real policy server in-process, over its HTTP app, the way the gateway does.

Each session gets a fresh server (its own data dir) so no session sees another's ledger
(velocity windows, known payees, what it read).
Tools are classified through `POST /api/proxy/classify` from name, description and schema
(unless the case pins a category); every call is a decide with `session_id`, `upstream`,
`tool_name`, `classification` and `confirmable: true`. After a call that was let through and
whose case gives a result, an outcome report is posted (`POST /api/proxy/outcome`); a server
without that route answers 404 and the run notes outcome reporting as unavailable.

A `confirm` stands for the human's answer: accepted in a benign session (the user asked for
it), declined in an attack session. Either answer is reported as the gateway would.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import pathlib
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import httpx2

import inherence_policy_client as policy_client
from inherence_policy_client import DecideRequest, PolicyClient, ToolDescription
from inherence_policy_server import create_app

from ._corpus import Case, Step
from ._metrics import Answer, SessionRun

__all__ = ["Harness", "RunNotes"]

_BASE_URL = "http://127.0.0.1"
_OUTCOME_PATH = "/api/proxy/outcome"
_SAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_OUTCOME_TEXT = 256 * 1024


def fingerprint(name: str, description: str, schema: Any) -> str:
    """The gateway's tool fingerprint: sha256 of name, description and canonical schema JSON."""
    digest = hashlib.sha256()
    for part in (name, description, json.dumps(schema, sort_keys=True, separators=(",", ":"))):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return "sha256:" + digest.hexdigest()


def gate_name(upstream: str, tool: str) -> str:
    """The name the gateway exposes a tool under: `<upstream>__<tool>`, safe characters only."""
    safe = _SAFE.sub("_", tool)
    return safe if safe.startswith(f"{upstream}__") else f"{upstream}__{safe}"[:64]


@dataclasses.dataclass
class RunNotes:
    """What the run could and could not do, for the report."""

    decisions: int = 0
    confirmable_on_wire: bool = False
    outcomes_sent: int = 0
    outcomes_accepted: int = 0
    outcome_route: str = "not tried"
    decide_seconds: list[float] = dataclasses.field(default_factory=list)
    # History calls (what the account did before) that the policy did not let through.
    history_refused: list[str] = dataclasses.field(default_factory=list)

    def decide_p50_ms(self) -> float | None:
        return statistics.median(self.decide_seconds) * 1000 if self.decide_seconds else None


HISTORY_AGE = datetime.timedelta(days=30)


class _SessionClock:
    """The server's clock for one session: the wall clock, moved back while a case's history runs."""

    def __init__(self) -> None:
        self.offset = datetime.timedelta(0)

    def __call__(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc) + self.offset


class Harness:
    """Runs cases against fresh in-process servers; `config` is a RulesConfig or None (defaults)."""

    def __init__(self, *, config: Any = None, scratch: pathlib.Path | None = None) -> None:
        self._config = config
        self._scratch = scratch
        self._categories: dict[str, str] = {}
        self.notes = RunNotes(confirmable_on_wire="confirmable" in DecideRequest.model_fields)

    async def run(self, cases: Sequence[Case]) -> list[SessionRun]:
        with tempfile.TemporaryDirectory(dir=self._scratch) as scratch:
            return [await self._session(case, pathlib.Path(scratch) / f"s{n}") for n, case in enumerate(cases)]

    def _clients(self, app: Any) -> _Clients:
        return _Clients(app)

    async def _session(self, case: Case, data_dir: pathlib.Path) -> SessionRun:
        clock = _SessionClock()
        app = create_app(data_dir=data_dir, config=self._config, require_key=False, clock=clock)
        try:
            async with self._clients(app) as (policy, http):
                # A case's history is what the account did before (last month's rent): it happened a
                # month ago, outside every velocity window of the session that follows.
                clock.offset = -HISTORY_AGE
                for n, step in enumerate(case.history):
                    answer = await self._call(policy, http, f"{case.id}-history", n, step, True)
                    if answer.verdict not in ("allow", "allow_with_log", "confirm"):
                        self.notes.history_refused.append(f"{case.id} history {n}: {answer.verdict}")
                clock.offset = datetime.timedelta(0)
                answers = [await self._call(policy, http, case.id, n, s, case.benign) for n, s in enumerate(case.calls)]
        finally:
            app.close()
        return SessionRun(case.id, case.split, case.benign, tuple(answers))

    async def _category(self, policy: PolicyClient, step: Step, name: str) -> str:
        if step.category is not None:
            return step.category
        mark = fingerprint(name, step.description, step.input_schema)
        if mark not in self._categories:
            schema = dict(step.input_schema)
            tool = ToolDescription(name=name, schema_hash=mark, description=step.description, input_schema=schema)
            answers = await policy.classify([tool])
            self._categories[mark] = answers[0].category if answers else "unknown"
        return self._categories[mark]

    async def _call(
        self, policy: PolicyClient, http: httpx2.AsyncClient, session_id: str, index: int, step: Step, accept: bool
    ) -> Answer:
        upstream = step.upstream
        name = gate_name(upstream, step.tool.partition("__")[2] or step.tool)
        body = {
            "tool_name": name,
            "classification": await self._category(policy, step, name),
            "arguments": dict(step.arguments),
            "session_id": session_id,
            "upstream": upstream,
            "confirmable": True,
        }
        started = time.perf_counter()
        decision = await policy.decide(DecideRequest.model_validate(body))
        self.notes.decide_seconds.append(time.perf_counter() - started)
        self.notes.decisions += 1
        verdict = str(getattr(decision.decision, "value", decision.decision))
        clauses = tuple(str(clause) for clause in decision.failed_clauses)
        base = {"decision_id": decision.receipt_id, "session_id": session_id, "upstream": upstream, "tool_name": name}
        if verdict == "confirm":
            await self._report(policy, http, {**base, "confirmation": "accepted" if accept else "declined"})
        if (verdict in ("allow", "allow_with_log") or (verdict == "confirm" and accept)) and step.result is not None:
            await self._report(policy, http, {**base, "content_text": step.result[:MAX_OUTCOME_TEXT]})
        return Answer(index, name, step.expect, verdict, clauses, step.clause)

    async def _report(self, policy: PolicyClient, http: httpx2.AsyncClient, report: dict[str, Any]) -> None:
        """POST one outcome report; a 404 or 405 means the server has no such route yet.

        Through the client's `report_outcome` where the installed client has it, else as a bare POST
        of the same body (the contract's `OutcomeReport`).
        """
        if self.notes.outcome_route == "absent":
            return
        self.notes.outcomes_sent += 1
        send = getattr(policy, "report_outcome", None)
        model = getattr(policy_client, "OutcomeReport", None)
        if send is not None and model is not None:
            took = await send(model.model_validate(report))
            self.notes.outcome_route = "present" if took else "absent"
            self.notes.outcomes_accepted += bool(took)
            return
        body = {key: value for key, value in report.items() if value is not None}
        response = await http.post(_OUTCOME_PATH, json=body)
        if response.status_code in (404, 405):
            self.notes.outcome_route = "absent"
        elif 200 <= response.status_code < 300:
            self.notes.outcome_route = "present"
            self.notes.outcomes_accepted += 1
        else:
            raise RuntimeError(f"{_OUTCOME_PATH} answered {response.status_code}")


class _Clients:
    """The typed client for classify and decide, and a bare one for outcome reports, over one app."""

    def __init__(self, app: Any) -> None:
        transport = httpx2.ASGITransport(app=app)
        self._policy = PolicyClient(None, base_url=_BASE_URL, transport=transport)
        self._http = httpx2.AsyncClient(base_url=_BASE_URL, transport=transport, timeout=10)

    async def __aenter__(self) -> tuple[PolicyClient, httpx2.AsyncClient]:
        return self._policy, self._http

    async def __aexit__(self, *_exc: object) -> None:
        await self._policy.aclose()
        await self._http.aclose()
