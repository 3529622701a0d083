"""One client connection: the MCP handshake, dispatch of its messages, cancellation, and requests to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from inherence_proxy_core import __version__
from inherence_proxy_core._bridge import bridged_capabilities
from inherence_proxy_core._channel import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    Channel,
    Malformed,
    Message,
    error_response,
    pump,
)
from inherence_proxy_core._link import PendingAnswer, cancel_and_wait, spawn_tracked
from inherence_proxy_core._modern import (
    CLIENT_CAPABILITIES_KEY,
    CLIENT_INFO_KEY,
    MODERN_RELAYED,
    discover_result,
    has_envelope,
    initialize_refusal,
    modern_handler,
    validate_envelope,
)

if TYPE_CHECKING:
    from inherence_proxy_core._hub import Hub
    from inherence_proxy_core._modern_confirm import ConfirmRound

__all__ = ["OUTCOME", "ClientConnection"]

logger = logging.getLogger("inherence_proxy_core")

SERVER_CAPABILITIES: dict[str, Any] = {
    "tools": {"listChanged": True},
    "resources": {"subscribe": True, "listChanged": True},
    "prompts": {"listChanged": True},
    "logging": {},
    "completions": {},
}

Answer = dict[str, Any]  # {"result": ...} or {"error": ...}
# The key under which a handler hands over what to report of an allowed call; never sent.
OUTCOME = "inherence.outcome"
_FLUSH_SECONDS = 5.0
RelayedHandler = Callable[["ClientConnection", Any, dict[str, Any]], Awaitable[Answer]]


if sys.version_info >= (3, 12):

    def _start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A task whose first step runs now, up to its first wait: the decision and the write to
        the upstream happen in the callback that read the request, a loop iteration sooner."""
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:

    def _start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return loop.create_task(coro)


class ClientConnection:
    """The gateway as seen by one client. Requests that go upstream run as tasks so they can be cancelled."""

    def __init__(self, hub: Hub, channel: Channel, *, session_id: str | None = None) -> None:
        self.hub = hub
        self.channel = channel
        self.id = session_id or uuid.uuid4().hex
        self.capabilities: dict[str, Any] = {}
        self.client_info: dict[str, Any] = {}
        self.protocol_version: str | None = None
        # Pinned by the first request carrying the 2026-07-28 envelope (see `_modern`).
        self.modern = False
        # Whether this connection can carry a stream of notifications (no: one HTTP exchange).
        self.streams = True
        # What each modern request in flight brought of the gateway's own confirmation round.
        self.rounds: dict[Any, ConfirmRound] = {}
        self.closed = False
        self._in_flight: dict[Any, asyncio.Task[None]] = {}
        self._relays: set[asyncio.Task[Any]] = set()
        self._replies: set[asyncio.Task[Any]] = set()
        self._cancelled_by_client: set[asyncio.Task[Any]] = set()
        # Kept, not looked up per call: on Python 3.11 every lookup of the running loop is a getpid().
        self._loop = asyncio.get_running_loop()
        self._outgoing: dict[str, PendingAnswer] = {}
        self._next_outgoing = 0

    async def run(self) -> None:
        """Serve this client until its stream ends; then cancel what it still has in flight."""
        self.hub.sessions.add(self)
        try:
            await pump(self.channel, self._deliver)
        finally:
            self.closed = True
            self.hub.sessions.discard(self)
            if self.modern and self.streams:
                self.hub.release(self)
            for waiter in self._outgoing.values():
                waiter.settle(None)
            await cancel_and_wait(self._relays)
            if self._replies:
                # Answers already decided (a client that sends and closes its input at once still gets
                # them, over a slow writer too), within a bound.
                with anyio.CancelScope(shield=True), anyio.move_on_after(_FLUSH_SECONDS):
                    await asyncio.wait(list(self._replies))
                await cancel_and_wait(self._replies)

    async def send(self, message: Message, related_id: Any = None) -> None:
        if self.closed:
            return
        try:
            await self.channel.send(message, related_id=related_id)
        except anyio.BrokenResourceError:
            self.closed = True
        except Exception:
            # A message the channel cannot carry (the SDK's transports validate it): the client
            # waiting on it gets an error instead of silence.
            logger.exception("sending a message to the client failed")
            request_id = message.get("id")
            if "method" not in message and request_id is not None:
                refusal = error_response(request_id, INTERNAL_ERROR, "the gateway could not send this answer")
                with contextlib.suppress(Exception):
                    await self.channel.send(refusal, related_id=related_id)

    def _deliver(self, message: Message | Malformed) -> bool:
        # Runs in the loop's I/O callback when the client is on a pipe: it must not wait for anything.
        if isinstance(message, Malformed):
            self._reply(error_response(message.request_id, message.code, message.detail))
            return True
        try:
            self._dispatch(message)
        except Exception:
            # One message that trips the gateway up is answered and logged; the session serves on.
            logger.exception("handling a client message failed")
            request_id = message.get("id")
            if "method" in message and isinstance(request_id, (str, int)) and not isinstance(request_id, bool):
                self._reply(error_response(request_id, INTERNAL_ERROR, "the gateway failed to handle this message"))
        return True

    def _reply(self, message: Message) -> None:
        """Send an answer that needs no upstream, without making the reading side wait for the write."""
        spawn_tracked(self._loop, self.send(message), self._replies)

    def _dispatch(self, message: Message) -> None:
        method = message.get("method")
        has_id = "id" in message
        request_id = message.get("id")
        if method is None and has_id and ("result" in message or "error" in message):
            waiter = self._outgoing.pop(str(request_id), None)
            if waiter is not None:
                waiter.settle(message)
            return
        if not isinstance(method, str):
            self._reply(error_response(request_id, INVALID_REQUEST, "not a JSON-RPC request or notification"))
            return
        params = message.get("params")
        if not has_id:
            self._notification(method, params if isinstance(params, dict) else {})
            return
        if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
            self._reply(error_response(None, INVALID_REQUEST, "a request id must be a string or an integer"))
            return
        if params is None:
            params = {}
        if not isinstance(params, dict):
            self._reply(error_response(request_id, INVALID_PARAMS, "params must be an object"))
            return
        if self.modern or (self.protocol_version is None and has_envelope(params)):
            self._modern_request(method, request_id, message, params)
            return
        inline = self._inline(method, params)
        if inline is not None:
            self._reply({"jsonrpc": "2.0", "id": request_id, **inline})
            if method == "initialize":
                self.hub.greet(self)  # after the answer: which upstreams are down already
            return
        if self.protocol_version is None:
            # A client that skipped `initialize` declared nothing; upstreams wait for a declaration.
            self.hub.capabilities.offer({})
        handler = self.hub.relayed.get(method)
        if handler is None:
            self._reply(error_response(request_id, METHOD_NOT_FOUND, f"method not found: {method}"))
            return
        # A plain task of the running loop: anyio's task groups cost more than the rest of a relayed call.
        # (Written out here rather than calling `_start`: this is the hot path.)
        task = _start_task(self._loop, self._relay(handler, request_id, params))
        if not task.done():  # a refusal may have been answered already, in the task's first step
            self._in_flight[request_id] = task
            self._relays.add(task)

    def _start(self, handler: RelayedHandler, request_id: Any, params: dict[str, Any]) -> None:
        task = _start_task(self._loop, self._relay(handler, request_id, params))
        if not task.done():  # a refusal may have been answered already, in the task's first step
            self._in_flight[request_id] = task
            self._relays.add(task)

    def _modern_request(self, method: str, request_id: Any, message: Message, params: dict[str, Any]) -> None:
        """A request of a 2026-07-28 client: its envelope checked, then answered here or relayed."""
        if method == "initialize":
            self._reply(initialize_refusal(request_id, params))
            return
        refusal = validate_envelope(message)
        if refusal is not None:
            self._reply({"jsonrpc": "2.0", "id": request_id, "error": refusal})
            return
        if not self.modern:
            self.modern = True
            info = params["_meta"].get(CLIENT_INFO_KEY)
            self.client_info = info if isinstance(info, dict) else {}
            # Upstreams are told only of the input it can give (asked of it as input_required rounds).
            self.hub.capabilities.offer(bridged_capabilities(params["_meta"].get(CLIENT_CAPABILITIES_KEY)))
        if method == "server/discover":
            self._reply({"jsonrpc": "2.0", "id": request_id, "result": discover_result(streams=self.streams)})
            return
        if method == "subscriptions/listen" and self.streams:
            self._start(modern_handler(method, self.hub.listeners.listen), request_id, params)
            return
        handler = self.hub.relayed.get(method) if method in MODERN_RELAYED else None
        if handler is None:
            self._reply(error_response(request_id, METHOD_NOT_FOUND, f"method not found: {method}"))
            return
        self._start(modern_handler(method, handler), request_id, params)

    def _inline(self, method: str, params: dict[str, Any]) -> Answer | None:
        if method == "initialize":
            return self._initialize(params)
        if method == "ping":
            return {"result": {}}
        return None

    def _initialize(self, params: dict[str, Any]) -> Answer:
        from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

        requested = params.get("protocolVersion")
        version = requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION
        capabilities = params.get("capabilities")
        self.capabilities = capabilities if isinstance(capabilities, dict) else {}
        info = params.get("clientInfo")
        self.client_info = info if isinstance(info, dict) else {}
        self.protocol_version = str(version)
        self.hub.capabilities.offer(self.capabilities)
        result = {
            "protocolVersion": version,
            "capabilities": SERVER_CAPABILITIES,
            "serverInfo": {"name": "inherence-proxy", "version": __version__},
        }
        return {"result": result}

    async def _relay(self, handler: RelayedHandler, request_id: Any, params: dict[str, Any]) -> None:
        try:
            try:
                answer = await handler(self, request_id, params)
            except asyncio.CancelledError:
                if asyncio.current_task(self._loop) in self._cancelled_by_client:
                    return  # the client gave up on it and expects no answer
                raise
            except Exception:
                logger.exception("answering %r failed", request_id)
                answer = error_response(request_id, INTERNAL_ERROR, "the gateway failed to answer")
            outcome = answer.pop(OUTCOME, None)
            await self.send({"jsonrpc": "2.0", "id": request_id, **answer})
            if outcome is not None:
                # Only now, with the answer written: reporting never delays it.
                reporter = self.hub.reporter
                if reporter is not None:
                    reporter.add_result(outcome, answer)
        finally:
            self._forget(request_id)

    def _forget(self, request_id: Any) -> None:
        task = asyncio.current_task(self._loop)
        if task is not None:
            self._relays.discard(task)
            self._cancelled_by_client.discard(task)
        # A client may reuse the id of a call in flight; only the entry of this very task goes.
        if self._in_flight.get(request_id) is task:
            del self._in_flight[request_id]

    def _notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "notifications/cancelled":
            task = self._in_flight.get(params.get("requestId"))
            if task is not None:
                self._cancelled_by_client.add(task)
                task.cancel()
        elif method == "notifications/roots/list_changed":
            self.hub.broadcast_upstream(method, params)

    async def request(self, method: str, params: dict[str, Any] | None, *, deadline: float, related_id: Any) -> Message:
        """Send a request to the client (sampling, elicitation, roots) and return its whole answer.

        Raises `TimeoutError` after `deadline`. A request that times out or whose caller is
        cancelled is withdrawn with `notifications/cancelled`, so the client stops asking its user.
        """
        self._next_outgoing += 1
        request_id = f"inherence-{self._next_outgoing}"
        waiter = PendingAnswer(self._loop)
        self._outgoing[request_id] = waiter
        message: Message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            await self.send(message, related_id=related_id)
            response = await waiter.wait(deadline)
        except TimeoutError:
            await self._withdraw(request_id, "timed out", related_id)
            raise
        except asyncio.CancelledError:
            await self._withdraw(request_id, "cancelled", related_id)
            raise
        finally:
            self._outgoing.pop(request_id, None)
        if response is None:
            return error_response(None, -32000, "the client went away")
        return response

    async def _withdraw(self, request_id: str, reason: str, related_id: Any) -> None:
        if self.closed:
            return
        note: Message = {"jsonrpc": "2.0", "method": "notifications/cancelled"}
        note["params"] = {"requestId": request_id, "reason": reason}
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await self.send(note, related_id=related_id)
