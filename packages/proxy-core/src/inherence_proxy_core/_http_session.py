"""One streamable HTTP session of the front, as a `Channel` of plain dicts: no SDK models on the way.

A POST carries one JSON-RPC message, decoded once with the same bounds as a pipe's line (size,
nesting, NaN, lone surrogates). A notification or a response is answered 202 at once. A request
is answered when the gateway answers it: as one `application/json` body when nothing else was
sent for it first, the common case, else as an event stream that carries what the gateway sent
in relation to the request (a progress notification, an elicitation) and then the answer. A GET
opens the session's one stream for what relates to no request (list changes, warnings); what
finds no stream to go to is dropped, as the protocol allows. DELETE ends the session. A body is
bounded by the gateway's `max_message_bytes`, and what waits for one stream by `MAX_QUEUED`.

The session id, Host, Origin and the owner of a session are checked by `HttpFront` before a
request reaches a session.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

import anyio

from inherence_proxy_core._channel import (
    INVALID_REQUEST,
    Deliver,
    Malformed,
    Message,
    _decode,
    encode,
    error_response,
)

__all__ = ["HttpSession", "read_body"]

logger = logging.getLogger("inherence_proxy_core.http")

MAX_BODY_BYTES = 64 * 1024 * 1024
# Messages waiting for one event stream; past it the oldest goes.
MAX_QUEUED = 4096
_JSON = b"application/json"
_EVENTS = b"text/event-stream"


def _key(request_id: Any) -> tuple[bool, Any]:
    # 1 and "1" are different ids.
    return (isinstance(request_id, str), request_id)


class _Outbox:
    """What waits to go out on one HTTP answer: messages in order, then maybe the final answer."""

    __slots__ = ("closed", "dropped", "final", "messages", "ready")

    def __init__(self) -> None:
        self.messages: collections.deque[Message] = collections.deque()
        self.final: Message | None = None
        self.closed = False
        self.dropped = 0
        self.ready = asyncio.Event()

    def push(self, message: Message) -> None:
        if len(self.messages) >= MAX_QUEUED:
            # A client that does not read its stream cannot make the gateway hold more for it.
            self.messages.popleft()
            self.dropped += 1
            if self.dropped == 1:
                logger.warning("an HTTP client reads its event stream too slowly: messages dropped")
        self.messages.append(message)
        self.ready.set()

    def finish(self, message: Message | None) -> None:
        self.final = message
        self.closed = True
        self.ready.set()


def _headers(session_id: str, content_type: bytes, length: int | None = None) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", content_type), (b"mcp-session-id", session_id.encode("ascii"))]
    if length is not None:
        headers.append((b"content-length", str(length).encode("ascii")))
    else:
        headers.append((b"cache-control", b"no-cache, no-transform"))
    return headers


def _event(message: Message) -> bytes:
    return b"event: message\ndata: " + encode(message)[:-1] + b"\n\n"


class HttpSession:
    """The transport of one MCP session over streamable HTTP, and the `Channel` the gateway serves."""

    def __init__(self, session_id: str, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.session_id = session_id
        self.is_terminated = False
        self._max_body = max_body_bytes
        self._deliver: Deliver | None = None
        self._inbox: collections.deque[Message | Malformed] = collections.deque()
        self._arrived = asyncio.Event()
        self._ended = asyncio.Event()
        self._waiting: dict[tuple[bool, Any], _Outbox] = {}
        self._stream: _Outbox | None = None

    # The Channel side, for the gateway.

    async def pump(self, deliver: Deliver) -> None:
        """Hand each POSTed message to `deliver` as it arrives, until the session ends."""
        while self._inbox:
            if not deliver(self._inbox.popleft()):
                return
        self._deliver = deliver
        try:
            await self._ended.wait()
        finally:
            self._deliver = None

    async def receive(self) -> Message | Malformed:
        while not self._inbox:
            if self._ended.is_set():
                raise anyio.EndOfStream
            self._arrived.clear()
            waiting = asyncio.ensure_future(self._arrived.wait())
            ending = asyncio.ensure_future(self._ended.wait())
            try:
                await asyncio.wait({waiting, ending}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
                ending.cancel()
        return self._inbox.popleft()

    async def send(self, message: Message, *, related_id: Any = None) -> None:
        if self.is_terminated:
            raise anyio.BrokenResourceError
        if "method" not in message:
            waiting = self._waiting.pop(_key(message.get("id")), None)
            if waiting is not None:
                waiting.finish(message)
            else:
                logger.debug("an answer found no request waiting for it on its HTTP session")
            return
        if related_id is not None:
            waiting = self._waiting.get(_key(related_id))
            if waiting is not None:
                waiting.push(message)
                return
        if self._stream is not None:
            self._stream.push(message)
        else:
            logger.debug("%s dropped: no GET stream is open on its HTTP session", message.get("method"))

    async def aclose(self) -> None:
        self.terminate()

    def terminate(self) -> None:
        """End the session: requests still waiting get no answer, the GET stream closes."""
        self.is_terminated = True
        self._ended.set()
        for waiting in self._waiting.values():
            waiting.finish(None)
        self._waiting.clear()
        if self._stream is not None:
            self._stream.finish(None)

    def _hand_over(self, message: Message | Malformed) -> None:
        if self._deliver is not None:
            self._deliver(message)
        else:
            self._inbox.append(message)
            self._arrived.set()

    # The HTTP side, for `HttpFront`.

    async def handle_request(self, scope: dict[str, Any], headers: dict[str, str], receive: Any, send: Any) -> None:
        method = scope.get("method")
        if self.is_terminated:
            await _error(send, 404, "Not Found: the session has ended")
        elif method == "POST":
            await self._post(headers, receive, send)
        elif method == "GET":
            await self._get(headers, receive, send)
        elif method == "DELETE":
            self.terminate()
            await _reply(send, 200, _headers(self.session_id, _JSON, 0), b"")
        else:
            body = _error_body(None, INVALID_REQUEST, "Method Not Allowed")
            headers_out = [*_headers(self.session_id, _JSON, len(body)), (b"allow", b"GET, POST, DELETE")]
            await _reply(send, 405, headers_out, body)

    async def _post(self, headers: dict[str, str], receive: Any, send: Any) -> None:
        accept = headers.get("accept", "").encode("latin-1")
        if _JSON not in accept or _EVENTS not in accept:
            await _error(send, 406, "Not Acceptable: Client must accept both application/json and text/event-stream")
            return
        if not headers.get("content-type", "").lower().startswith("application/json"):
            await _error(send, 415, "Unsupported Media Type: Content-Type must be application/json")
            return
        body = await read_body(receive, self._max_body)
        if body is None:
            await _error(send, 413, f"Payload Too Large: a message is at most {self._max_body} bytes")
            return
        message = _decode(body)
        if isinstance(message, Malformed):
            await _reply_json(send, 400, self.session_id, _error_body(message.request_id, message.code, message.detail))
            return
        if "method" not in message or "id" not in message:
            await _reply(send, 202, _headers(self.session_id, _JSON, 0), b"")
            self._hand_over(message)
            return
        key = _key(message["id"])
        if key in self._waiting:
            detail = "a request with this id is already in flight on this session"
            await _reply_json(send, 400, self.session_id, _error_body(message["id"], INVALID_REQUEST, detail))
            return
        outbox = self._waiting[key] = _Outbox()
        self._hand_over(message)
        await self._answer(outbox, send)

    async def _answer(self, outbox: _Outbox, send: Any) -> None:
        """Answer one request: its answer as JSON, or an event stream when something came first."""
        streaming = False
        while True:
            await outbox.ready.wait()
            outbox.ready.clear()
            if not streaming and not outbox.messages:
                if outbox.final is not None:
                    await _reply_json(send, 200, self.session_id, encode(outbox.final)[:-1])
                elif outbox.closed:
                    await _error(send, 404, "Not Found: the session ended before the request was answered")
                if outbox.closed:
                    return
                continue
            if not streaming:
                streaming = True
                start = {"type": "http.response.start", "status": 200, "headers": _headers(self.session_id, _EVENTS)}
                await send(start)
            while outbox.messages:
                await send({"type": "http.response.body", "body": _event(outbox.messages.popleft()), "more_body": True})
            if outbox.closed:
                last = b"" if outbox.final is None else _event(outbox.final)
                await send({"type": "http.response.body", "body": last, "more_body": False})
                return

    async def _get(self, headers: dict[str, str], receive: Any, send: Any) -> None:
        if _EVENTS not in headers.get("accept", "").encode("latin-1"):
            await _error(send, 406, "Not Acceptable: Client must accept text/event-stream")
            return
        if self._stream is not None:
            await _error(send, 409, "Conflict: Only one SSE stream is allowed per session")
            return
        stream = self._stream = _Outbox()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _headers(self.session_id, _EVENTS)})
            async with anyio.create_task_group() as tasks:

                async def gone() -> None:
                    # The client hung up: nothing else would tell, since nothing more is read.
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    stream.finish(None)

                tasks.start_soon(gone)
                while True:
                    await stream.ready.wait()
                    stream.ready.clear()
                    while stream.messages:
                        event = _event(stream.messages.popleft())
                        await send({"type": "http.response.body", "body": event, "more_body": True})
                    if stream.closed:
                        break
                tasks.cancel_scope.cancel()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if self._stream is stream:
                self._stream = None


def _error_body(request_id: Any, code: int, message: str) -> bytes:
    return encode(error_response(request_id, code, message))[:-1]


async def _error(send: Any, status: int, message: str) -> None:
    body = _error_body(None, INVALID_REQUEST, message)
    await _reply(send, status, [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())], body)


async def _reply_json(send: Any, status: int, session_id: str, body: bytes) -> None:
    await _reply(send, status, _headers(session_id, _JSON, len(body)), body)


async def _reply(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def read_body(receive: Any, limit: int) -> bytes | None:
    """The whole request body; None past `limit` bytes or when the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
