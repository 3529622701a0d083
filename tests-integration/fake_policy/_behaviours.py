"""How the fake server answers: small behaviour objects a test puts on an endpoint.

Each behaviour turns one request into one outcome: an HTTP answer, a connection closed before
any byte, or a head sent with the body withheld. Behaviours compose (`Delay(0.2, Deny("shell*"))`,
`Sequence(CloseConnection(), Allow())`), so a test states the fault it needs in one expression
instead of subclassing a handler. Decide answers have the shape hosted Inherence gives:
`{"decision", "receipt", "receipt_id", "reason", "failed_clauses"}`.
"""

from __future__ import annotations

import abc
import asyncio
import fnmatch
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._http import json_bytes, reason_phrase
from ._records import RecordedRequest, parse_json


@dataclass(frozen=True)
class Response:
    """Send this answer. `close` ends the connection after it even if the client asked for keep-alive."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False


@dataclass(frozen=True)
class Hangup:
    """Close the connection before the first byte of an answer: with a FIN, or a RST when `abrupt`."""

    abrupt: bool = False


@dataclass(frozen=True)
class Withhold:
    """Send the head (with a Content-Length) and then nothing until the server resets or stops."""

    status: int
    declared_length: int


Outcome = Response | Hangup | Withhold


@dataclass(frozen=True)
class Exchange:
    """What a behaviour may use to answer: the request, the endpoint's unscripted answer, fresh receipt ids."""

    request: RecordedRequest
    fallback: Behaviour
    new_receipt_id: Callable[[], str]

    @property
    def tool_name(self) -> str | None:
        body = self.request.json
        name = body.get("tool_name") if isinstance(body, dict) else None
        return name if isinstance(name, str) else None


class Behaviour(abc.ABC):
    """One way of answering a request. Subclass it for a fault the ready-made ones do not cover."""

    @abc.abstractmethod
    async def answer(self, exchange: Exchange) -> Outcome:
        """The outcome for this request; may sleep (on the server's own loop)."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items() if not key.startswith("_"))
        return f"{type(self).__name__}({fields})"


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status=status, body=json_bytes(value))


def decision_body(exchange: Exchange, verdict: str, reason: str | None, failed_clauses: Iterable[Any]) -> Any:
    receipt_id = exchange.new_receipt_id()
    return {
        "decision": verdict,
        "receipt": f"fake-receipt.{verdict}.{receipt_id}",
        "receipt_id": receipt_id,
        "reason": reason,
        "failed_clauses": list(failed_clauses),
    }


def _patterns(tools: str | Iterable[str]) -> tuple[str, ...]:
    return (tools,) if isinstance(tools, str) else tuple(tools)


def _matches(exchange: Exchange, patterns: tuple[str, ...]) -> bool:
    name = exchange.tool_name
    return name is not None and any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


class Allow(Behaviour):
    """Decide: allow every call."""

    def __init__(self, *, reason: str | None = "allowed by the fake policy") -> None:
        self.reason = reason

    async def answer(self, exchange: Exchange) -> Outcome:
        return json_response(decision_body(exchange, "allow", self.reason, []))


class Deny(Behaviour):
    """Decide: deny calls whose `tool_name` matches a pattern (fnmatch, case-sensitive); `otherwise` answers the rest.

    `Deny()` denies everything; `Deny("shell*", otherwise=AllowWithLog())` denies shell tools and
    logs the others. Unmatched calls are allowed when `otherwise` is not given.
    """

    def __init__(
        self,
        tools: str | Iterable[str] = "*",
        *,
        reason: str = "denied by the fake policy",
        failed_clauses: Iterable[Any] = ("fake_policy.deny",),
        otherwise: Behaviour | None = None,
    ) -> None:
        self.tools = _patterns(tools)
        self.reason = reason
        self.failed_clauses = tuple(failed_clauses)
        self.otherwise = otherwise if otherwise is not None else Allow()

    async def answer(self, exchange: Exchange) -> Outcome:
        if _matches(exchange, self.tools):
            return json_response(decision_body(exchange, "deny", self.reason, self.failed_clauses))
        return await self.otherwise.answer(exchange)


class AllowWithLog(Behaviour):
    """Decide: `allow_with_log` for calls matching a pattern (all by default); `otherwise` (allow) for the rest."""

    def __init__(
        self,
        tools: str | Iterable[str] = "*",
        *,
        reason: str = "allowed and logged by the fake policy",
        otherwise: Behaviour | None = None,
    ) -> None:
        self.tools = _patterns(tools)
        self.reason = reason
        self.otherwise = otherwise if otherwise is not None else Allow()

    async def answer(self, exchange: Exchange) -> Outcome:
        if _matches(exchange, self.tools):
            return json_response(decision_body(exchange, "allow_with_log", self.reason, []))
        return await self.otherwise.answer(exchange)


class Confirm(Behaviour):
    """Decide: `confirm` for matching calls of a caller that said `confirmable: true`, `deny` for one that did not.

    As hosted Inherence would: the confirm carries the receipt, reason and failed clauses a deny
    does, and `approval_id` when given (None leaves it out). `otherwise` (allow) answers the rest.
    """

    def __init__(
        self,
        tools: str | Iterable[str] = "*",
        *,
        reason: str = "the fake policy wants a human to confirm this",
        failed_clauses: Iterable[Any] = ("fake_policy.confirm",),
        approval_id: str | None = "apr_fake",
        otherwise: Behaviour | None = None,
    ) -> None:
        self.tools = _patterns(tools)
        self.reason = reason
        self.failed_clauses = tuple(failed_clauses)
        self.approval_id = approval_id
        self.otherwise = otherwise if otherwise is not None else Allow()

    async def answer(self, exchange: Exchange) -> Outcome:
        if not _matches(exchange, self.tools):
            return await self.otherwise.answer(exchange)
        body = exchange.request.json
        if not (isinstance(body, dict) and body.get("confirmable") is True):
            return json_response(decision_body(exchange, "deny", self.reason, self.failed_clauses))
        answer = decision_body(exchange, "confirm", self.reason, self.failed_clauses)
        if self.approval_id is not None:
            answer["approval_id"] = self.approval_id
        return json_response(answer)


class Reply(Behaviour):
    """A fixed JSON answer, sent as given (no receipt id is added)."""

    def __init__(self, json: Any, *, status: int = 200) -> None:
        self.json = json
        self.status = status

    async def answer(self, exchange: Exchange) -> Outcome:
        return json_response(self.json, self.status)


class Status(Behaviour):
    """Answer with this status code and a small JSON error body (no body for 204/304), keeping the connection."""

    def __init__(self, status: int, *, json: Any = None) -> None:
        self.status = status
        self.json = json

    async def answer(self, exchange: Exchange) -> Outcome:
        if self.status in (204, 304):
            return Response(status=self.status, content_type=None)
        body = self.json if self.json is not None else {"error": reason_phrase(self.status)}
        return json_response(body, self.status)


class CloseConnection(Behaviour):
    """Read the request, then close the connection without sending a single byte of answer.

    By default the close is orderly (the client reads end-of-stream: "server disconnected");
    `abrupt=True` resets it instead (the client's read fails with "connection reset").
    """

    def __init__(self, *, abrupt: bool = False) -> None:
        self.abrupt = abrupt

    async def answer(self, exchange: Exchange) -> Outcome:
        return Hangup(abrupt=self.abrupt)


class StallAfterHeaders(Behaviour):
    """Send the status line and headers (promising a body), then nothing until reset() or stop().

    A client sees the response head arrive and then its read timeout fire while waiting for the body.
    """

    def __init__(self, *, status: int = 200, declared_length: int = 64) -> None:
        self.status = status
        self.declared_length = declared_length

    async def answer(self, exchange: Exchange) -> Outcome:
        return Withhold(status=self.status, declared_length=self.declared_length)


class MalformedJson(Behaviour):
    """A 2xx answer labelled application/json whose body is not JSON (cut off mid-object by default)."""

    def __init__(self, *, status: int = 200, body: bytes = b'{"decision": "allow", "receipt_id": ') -> None:
        self.status = status
        self.body = body

    async def answer(self, exchange: Exchange) -> Outcome:
        return Response(status=self.status, body=self.body)


class MissingFields(Behaviour):
    """Answer as `then` (the endpoint's usual answer by default) with these top-level JSON fields removed."""

    def __init__(self, *fields: str, then: Behaviour | None = None) -> None:
        if not fields:
            raise ValueError("name at least one field to remove, e.g. MissingFields('decision')")
        self.fields = fields
        self.then = then

    async def answer(self, exchange: Exchange) -> Outcome:
        outcome = await (self.then or exchange.fallback).answer(exchange)
        if not isinstance(outcome, Response):
            return outcome
        value = parse_json(outcome.body)
        if not isinstance(value, dict):
            return outcome
        trimmed = {key: item for key, item in value.items() if key not in self.fields}
        return Response(status=outcome.status, body=json_bytes(trimmed), close=outcome.close)


class Delay(Behaviour):
    """Wait `seconds` (an async sleep, per request, other connections keep being served), then answer as `then`."""

    def __init__(self, seconds: float, then: Behaviour | None = None) -> None:
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self.seconds = seconds
        self.then = then

    async def answer(self, exchange: Exchange) -> Outcome:
        await asyncio.sleep(self.seconds)
        return await (self.then or exchange.fallback).answer(exchange)


class Sequence(Behaviour):
    """Successive requests get successive behaviours; once all are used, the endpoint's unscripted answer.

    `Sequence(CloseConnection(), Allow())` makes the first attempt fail on the wire and the second
    succeed, which is what retry logic needs. Each Sequence object keeps its own position.
    """

    def __init__(self, *steps: Behaviour) -> None:
        self.steps = steps
        self._position = 0
        self._lock = threading.Lock()

    async def answer(self, exchange: Exchange) -> Outcome:
        with self._lock:
            position = self._position
            self._position += 1
        step = self.steps[position] if position < len(self.steps) else exchange.fallback
        return await step.answer(exchange)
