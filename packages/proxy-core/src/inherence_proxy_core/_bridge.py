"""Bridging the two eras' ways of asking a client for input during a call.

A handshake-era upstream asks with requests of its own (`elicitation/create`,
`sampling/createMessage`, `roots/list`); a 2026-07-28 upstream answers the call with
`resultType: "input_required"`, and the client retries the call with `inputResponses` and the
upstream's opaque `requestState`. The gateway translates between the two:

* A 2026-07-28 upstream's round, during a call of a handshake-era client: the gateway puts each of
  the upstream's input requests to the client as the matching request (only those the client
  declared at `initialize`), and retries the call itself with the answers and the upstream's state,
  unchanged, for at most `MAX_ROUNDS` rounds within the call's deadline (`Hub._answer_rounds`).
  What the upstream sends is checked first (`input_requests`): at most `MAX_ASKS` requests a
  round, each one of the three methods with params that are an object, a state of at most
  `MAX_STATE` characters; anything else fails the call with a reason.
* A handshake-era upstream's request during a call of a 2026-07-28 client: the call is held open
  (`Hold`), and the client gets `input_required` with the upstream's requests and a `requestState`
  of the gateway's, sealed as the confirmation's is (`_modern_confirm.StateSeal`) and naming the
  held call. Its retry with that state and the answers gives the answers to the upstream's pending
  requests, then waits for the call's result or the upstream's next request. A held call that waits
  for a retry is bounded: `MAX_PARKED` in all, `MAX_PARKED_PER_CLIENT` per client, and it ends
  (the upstream is told the call is cancelled) when the state expires or a stdio client goes away.

Neither retry is a new decision: the gateway's own retry repeats the request the policy allowed,
word for word, adding only the client's answers (which go to an upstream undecided in the handshake
era too); a held call's retry carries only the answers, bound by the seal to the client, the call's
name and a digest of its arguments, used once.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import Any

from inherence_proxy_core._channel import Message, error_response
from inherence_proxy_core._link import PendingAnswer

__all__ = [
    "ASKS",
    "MAX_ASKS",
    "MAX_PARKED",
    "MAX_PARKED_PER_CLIENT",
    "MAX_ROUNDS",
    "MAX_STATE",
    "Hold",
    "bridged_capabilities",
    "hold_target",
    "input_requests",
]

# The requests an upstream may put to a client, by the capability the client must have declared.
ASKS = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}
MAX_ROUNDS = 8
MAX_ASKS = 8
MAX_STATE = 64 * 1024
MAX_KEY = 256
MAX_PARKED = 64
MAX_PARKED_PER_CLIENT = 8


def bridged_capabilities(capabilities: Any) -> dict[str, Any]:
    """What of a 2026-07-28 client's declared capabilities an upstream may be told: the input it can give."""
    if not isinstance(capabilities, dict):
        return {}
    return {name: value for name, value in capabilities.items() if name in ASKS.values() and isinstance(value, dict)}


def input_requests(result: dict[str, Any]) -> tuple[list[tuple[str, str, dict[str, Any] | None]], str | None] | str:
    """The input requests (key, method, params) and request state of an `input_required` result, or what is wrong."""
    requests = result.get("inputRequests")
    if requests is None:
        requests = {}
    if not isinstance(requests, dict):
        return "inputRequests is not an object"
    if len(requests) > MAX_ASKS:
        return f"{len(requests)} input requests in one round, at most {MAX_ASKS} are taken"
    state = result.get("requestState")
    if state is not None and (not isinstance(state, str) or len(state) > MAX_STATE):
        return f"requestState is not a string of at most {MAX_STATE} characters"
    if not requests and state is None:
        return "it has neither inputRequests nor requestState"
    asks: list[tuple[str, str, dict[str, Any] | None]] = []
    for key, request in requests.items():
        if len(key) > MAX_KEY:
            return f"an input request's key is longer than {MAX_KEY} characters"
        method = request.get("method") if isinstance(request, dict) else None
        if method not in ASKS:
            return f"input request {key[:64]!r} is not one of {', '.join(ASKS)}"
        params = request.get("params")
        if params is not None and not isinstance(params, dict):
            return f"input request {key[:64]!r} has params that are not an object"
        asks.append((key, str(method), params))
    return asks, state


def hold_target(method: str, params: dict[str, Any]) -> tuple[str, Any]:
    """What a held call's state is bound to: the method with the name or uri the client called, and its arguments."""
    name = params.get("name") if method != "resources/read" else params.get("uri")
    arguments = params.get("arguments")
    return f"{method} {name}", {} if arguments is None else arguments


class _Ask:
    __slots__ = ("method", "params", "waiter")

    def __init__(self, method: str, params: dict[str, Any] | None, waiter: PendingAnswer) -> None:
        self.method = method
        self.params = params
        self.waiter = waiter


class Hold:
    """A 2026-07-28 client's call to a handshake-era upstream, held open while the client is asked for input.

    `task` runs the call upstream to its answer; the upstream's requests wait in `waiting` until
    they are put to the client, then in `sent` until its retry answers them.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, session_id: str, capabilities: dict[str, Any], target: tuple[str, Any]
    ) -> None:
        self.id = secrets.token_hex(12)
        self.session_id = session_id
        self.capabilities = capabilities
        self.target = target
        self.task: asyncio.Task[Any] | None = None
        self.waiting: dict[str, _Ask] = {}
        self.sent: dict[str, _Ask] = {}
        self.rounds = 0
        self.asked = asyncio.Event()
        self.timer: asyncio.TimerHandle | None = None
        self._loop = loop
        self._keys = itertools.count(1)

    def ask(self, method: str, params: dict[str, Any] | None) -> tuple[str, PendingAnswer] | None:
        """Queue an upstream's request for the client: its key and its answer's waiter; None when too many wait."""
        if len(self.waiting) + len(self.sent) >= MAX_ASKS:
            return None
        key = f"{method.partition('/')[0]}-{next(self._keys)}"
        waiter = PendingAnswer(self._loop)
        self.waiting[key] = _Ask(method, params, waiter)
        self.asked.set()
        return key, waiter

    def drop(self, key: str) -> None:
        self.waiting.pop(key, None)
        self.sent.pop(key, None)

    def take_round(self) -> dict[str, Any]:
        """The waiting requests as the `inputRequests` of an `input_required` result; they are sent from now on."""
        requests: dict[str, Any] = {}
        for key, ask in self.waiting.items():
            request: dict[str, Any] = {"method": ask.method}
            if ask.params is not None:
                request["params"] = ask.params
            requests[key] = request
        self.sent.update(self.waiting)
        self.waiting.clear()
        return requests

    def answer(self, responses: dict[str, Any]) -> None:
        """Give the client's answers to the requests sent to it; one it did not answer gets an error."""
        for key, ask in self.sent.items():
            response = responses.get(key)
            if isinstance(response, dict):
                ask.waiter.settle({"result": response})
            else:
                ask.waiter.settle(error_response(None, -32602, "the client gave no answer to this request"))
        self.sent.clear()

    def end(self, reason: str) -> None:
        """Answer every request still pending with an error saying why: nobody will answer them now."""
        for ask in (*self.waiting.values(), *self.sent.values()):
            ask.waiter.settle(_refusal(reason))
        self.waiting.clear()
        self.sent.clear()


def _refusal(reason: str) -> Message:
    return error_response(None, -32000, reason)
