"""MCP 2026-07-28 over the HTTP front: one POST, one answer, no session; headers checked against the body.

A modern request is a POST without `Mcp-Session-Id` whose body carries the 2026-07-28 envelope.
Before anything else sees it, the routing headers must agree with the body: `MCP-Protocol-Version`
with the envelope's version, `Mcp-Method` with the method, `Mcp-Name` with the tool or prompt name
or the uri, each `Mcp-Param-*` with the argument the tool's schema mirrors into it (the SDK's own
checks, `mcp.shared.inbound`), and no routing header twice. A request whose headers say one thing
and whose body another is refused with -32020 and HTTP 400: the policy decides on the body, and
something in front of the gateway that routed or filtered on the headers must not have been shown
a different request. Then the body is served as on stdio, by a client connection that lives for
this one exchange, and answered as `application/json` with the status the SDK maps its code to;
a request that asks for progress, from a client that accepts `text/event-stream`, is answered as
an event stream instead: its progress notifications, then its answer.

No session state is kept: GET and DELETE of a modern client answer 405. The policy still sees one
session per client (its peer address and User-Agent, as HTTP sessions are owned), so rules that
follow a session across calls hold for stateless clients too.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from inherence_proxy_core._bridge import bridged_capabilities
from inherence_proxy_core._channel import INVALID_REQUEST, METHOD_NOT_FOUND, Malformed, Message, error_response
from inherence_proxy_core._gate import tool_error
from inherence_proxy_core._modern import (
    CLIENT_CAPABILITIES_KEY,
    MODERN_VERSIONS,
    has_envelope,
    stamp,
    validate_envelope,
)
from inherence_proxy_core._session import Answer, ClientConnection

if TYPE_CHECKING:
    from inherence_proxy_core._hub import Hub

__all__ = ["Emit", "ModernHttp", "is_modern_body", "wants_stream"]

HEADER_MISMATCH = -32020


def is_modern_body(message: Any, headers: Mapping[str, str] | None = None) -> bool:
    """Whether a parsed POST body (of no session) is a request of the 2026-07-28 era.

    Its `MCP-Protocol-Version` header naming that era makes it one, whatever its body lacks (so a
    missing envelope is refused as that era refuses it); else a body other than `initialize` whose
    `params._meta` names its protocol version.
    """
    if not isinstance(message, dict):
        return False
    if headers is not None and headers.get("mcp-protocol-version") in MODERN_VERSIONS:
        return True
    if message.get("method") == "initialize":
        return False
    params = message.get("params")
    return isinstance(params, dict) and has_envelope(params)


Emit = Callable[[Message], Awaitable[None]]


class _OneExchange:
    """A channel that hands the connection one request and keeps the answer to it.

    Notifications about the request (progress) go to `emit` when the answer is streamed, else nowhere.
    """

    def __init__(self, message: Message, emit: Emit | None) -> None:
        self._message: Message | None = message
        self._request_id = message.get("id")
        self._emit = emit
        self.answer: Message | None = None
        self._answered = anyio.Event()

    async def receive(self) -> Message | Malformed:
        if self._message is not None:
            message, self._message = self._message, None
            return message
        await self._answered.wait()
        raise anyio.EndOfStream

    async def send(self, message: Message, *, related_id: Any = None) -> None:
        if "method" not in message and message.get("id") == self._request_id:
            self.answer = message
            self._answered.set()
        elif "id" not in message and self._emit is not None and related_id == self._request_id:
            await self._emit(message)

    async def aclose(self) -> None:
        self._answered.set()


class ModernHttp:
    """Serves modern POSTs of the HTTP front through the gateway's hub."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._salt = secrets.token_bytes(16)

    def session_id(self, owner: tuple[str, str]) -> str:
        """The session the policy sees for this client: the same for every request it makes."""
        return hashlib.sha256(self._salt + repr(owner).encode()).hexdigest()[:32]

    async def answer(
        self,
        message: Message,
        headers: Mapping[str, str],
        raw_headers: Iterable[tuple[str, str]],
        owner: tuple[str, str],
        emit: Emit | None = None,
    ) -> tuple[int, Message | None]:
        """The HTTP status and JSON-RPC answer to one modern POST (None for a notification: 202).

        With `emit`, the notifications about this request (progress) are handed to it as they come.
        """
        request_id = message.get("id")
        if "id" not in message:
            # Notifications of a stateless client (a cancel) refer to nothing this side keeps.
            return 202, None
        if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
            return 400, error_response(None, INVALID_REQUEST, "a request id must be a string or an integer")
        if message.get("method") == "initialize":
            # Not a method of 2026-07-28: its HTTP transport answers such a method 404 (the SDK does too).
            return 404, error_response(request_id, METHOD_NOT_FOUND, "initialize is not a method of MCP 2026-07-28")
        refusal = self._header_refusal(message, headers, raw_headers)
        if refusal is not None:
            return _status(refusal["code"]), {"jsonrpc": "2.0", "id": request_id, "error": refusal}
        # As the connection below would: upstreams start once a client has said what it can do
        # (the input it can give), and the tool's schema is needed before its headers can be judged.
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        declared = meta.get(CLIENT_CAPABILITIES_KEY) if isinstance(meta, dict) else None
        self._hub.capabilities.offer(bridged_capabilities(declared))
        checked = await self._param_refusal(message, headers)
        if checked is not None:
            return _status(checked.get("error", {}).get("code")), {"jsonrpc": "2.0", "id": request_id, **checked}
        exchange = _OneExchange(message, emit)
        connection = ClientConnection(self._hub, exchange, session_id=self.session_id(owner))
        # One JSON answer per request: nothing can be streamed (no subscriptions/listen).
        connection.streams = False
        await connection.run()
        answer = exchange.answer
        if answer is None:
            return 500, error_response(request_id, -32603, "the gateway gave no answer")
        error = answer.get("error")
        return (_status(error.get("code")) if isinstance(error, dict) else 200), answer

    def _header_refusal(
        self, message: Message, headers: Mapping[str, str], raw_headers: Iterable[tuple[str, str]]
    ) -> Message | None:
        from mcp.shared.inbound import find_duplicated_routing_header

        duplicated = find_duplicated_routing_header(raw_headers)
        if duplicated is not None:
            return {"code": HEADER_MISMATCH, "message": f"the {duplicated} header appears more than once"}
        return validate_envelope(message, headers)

    async def _param_refusal(self, message: Message, headers: Mapping[str, str]) -> Answer | None:
        """The answer to a `tools/call` whose `Mcp-Param-*` headers disagree with its arguments, as its
        schema says, or to one of a tool not known (so its headers cannot be judged); else None."""
        if message.get("method") != "tools/call":
            return None
        from mcp.shared.inbound import validate_mcp_param_headers

        params = message["params"]
        name, arguments = params.get("name"), params.get("arguments")
        schema = self._schema_of(name)
        if schema is None:
            # A tool of an upstream still starting.
            await self._hub.wait_first_attempts(self._hub.settings.ready_wait)
            schema = self._schema_of(name)
        if schema is None:
            # Never relayed unchecked, even should the tool appear a moment later.
            return {"result": stamp("tools/call", tool_error({"error": "TOOL_NOT_FOUND"}))}
        rejection = validate_mcp_param_headers(schema, arguments if isinstance(arguments, dict) else {}, headers)
        if rejection is not None:
            return {"error": {"code": rejection.code, "message": rejection.message}}
        return None

    def _schema_of(self, name: Any) -> Any:
        for tool in self._hub.catalog.tools:
            if tool.get("name") == name:
                return tool.get("inputSchema", {})
        return None


def wants_stream(message: Message, headers: Mapping[str, str]) -> bool:
    """Whether to answer as an event stream: the client accepts one and asked for progress."""
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return "text/event-stream" in headers.get("accept", "") and isinstance(meta, dict) and "progressToken" in meta


def _status(code: Any) -> int:
    from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS

    return ERROR_CODE_HTTP_STATUS.get(code, 200) if isinstance(code, int) else 200
