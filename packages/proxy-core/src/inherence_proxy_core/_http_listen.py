"""`subscriptions/listen` over the HTTP front: a POST answered with an event stream that stays open.

In MCP 2026-07-28 over streamable HTTP the answer to a `subscriptions/listen` POST is the stream of
its notifications (`text/event-stream`, never JSON: a POST that does not accept one answers 406).
The stream's first event is the acknowledgement, then each notification the listen asked for,
tagged `_meta["io.modelcontextprotocol/subscriptionId"]`, until the client closes the response.

Bounded, so that clients that open streams and go away do not pile up:

* at most `per_client` open streams for one client (its peer address and User-Agent, as sessions
  are owned) and `overall` for the front; one more is refused (429, 503) before anything is served;
* a comment line (`: ping`) after every `keepalive` seconds without an event, so that a peer that
  is gone is found by the write (and a proxy in front does not close an idle stream);
* at most `queued` notifications waiting for a client that does not read them: one more ends its
  stream (the client listens again and lists anew, as after any dropped stream); a write the
  client does not take within `write_timeout` seconds ends it too, the connection closed unfinished.

The stream's slot is freed as the response ends, however it ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from inherence_proxy_core._channel import Message, encode

if TYPE_CHECKING:
    from inherence_proxy_core._http_modern import ModernHttp

__all__ = ["ListenLimits", "ListenStreams"]

logger = logging.getLogger("inherence_proxy_core.http")

_STREAM_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]
_PING = b": ping\n\n"


@dataclasses.dataclass(frozen=True)
class ListenLimits:
    """How many listen streams may be open (per client, overall), and how each is kept alive."""

    per_client: int = 8
    overall: int = 256
    keepalive: float = 15.0
    queued: int = 64
    write_timeout: float = 30.0


class ListenStreams:
    """The open `subscriptions/listen` streams of the HTTP front, counted per client."""

    def __init__(self, limits: ListenLimits | None = None) -> None:
        self.limits = limits or ListenLimits()
        self._per_client: dict[tuple[str, str], int] = {}
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def refusal(self, owner: tuple[str, str]) -> tuple[int, str] | None:
        """The status and reason to refuse one more stream of `owner`, or None when it may open."""
        if self._per_client.get(owner, 0) >= self.limits.per_client:
            return 429, f"too many open subscriptions/listen streams of this client (max {self.limits.per_client})"
        if self._count >= self.limits.overall:
            return 503, "too many open subscriptions/listen streams; retry later"
        return None

    @contextlib.contextmanager
    def slot(self, owner: tuple[str, str]) -> Iterator[None]:
        self._per_client[owner] = self._per_client.get(owner, 0) + 1
        self._count += 1
        try:
            yield
        finally:
            self._count -= 1
            left = self._per_client[owner] - 1
            if left:
                self._per_client[owner] = left
            else:
                del self._per_client[owner]

    async def serve(
        self,
        modern: ModernHttp,
        message: Message,
        headers: Mapping[str, str],
        raw_headers: Iterable[tuple[str, str]],
        owner: tuple[str, str],
        receive: Any,
        send: Any,
    ) -> None:
        """Answer one `subscriptions/listen` POST: refused as JSON, or its stream until it ends."""
        request_id = message.get("id")
        if "text/event-stream" not in headers.get("accept", ""):
            await _json(send, 406, _error(request_id, -32600, "subscriptions/listen is answered as text/event-stream"))
            return
        refusal = self.refusal(owner)
        if refusal is not None:
            logger.warning("refused a subscriptions/listen stream: %s", refusal[1])
            await _json(send, refusal[0], _error(request_id, -32000, refusal[1]))
            return
        with self.slot(owner):
            await self._stream(modern, message, headers, raw_headers, owner, receive, send)

    async def _stream(
        self,
        modern: ModernHttp,
        message: Message,
        headers: Mapping[str, str],
        raw_headers: Iterable[tuple[str, str]],
        owner: tuple[str, str],
        receive: Any,
        send: Any,
    ) -> None:
        notes_in, notes_out = anyio.create_memory_object_stream[Message](self.limits.queued)
        ended = anyio.Event()
        dropped = False
        outcome: list[tuple[int, Message | None]] = []

        def drop() -> None:
            nonlocal dropped
            dropped = True
            ended.set()

        async def emit(note: Message) -> None:
            if dropped:
                return
            try:
                notes_in.send_nowait(note)
            except anyio.WouldBlock:
                logger.warning("ended a subscriptions/listen stream: its client reads nothing of it")
                drop()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass

        async def run() -> None:
            with notes_in:
                outcome.append(await modern.answer(message, headers, raw_headers, owner, emit, ended))

        watching = anyio.CancelScope()

        async def watch() -> None:
            # The client closing its response is the end of the listen (the revision has no other).
            with watching:
                while (await receive()).get("type") != "http.disconnect":
                    pass
                drop()

        async with anyio.create_task_group() as tasks, notes_out:
            tasks.start_soon(run)
            tasks.start_soon(watch)
            try:
                first = await notes_out.receive()
            except anyio.EndOfStream:
                # Refused before any notification (an envelope or header that does not hold): one JSON answer.
                status, answer = outcome[0] if outcome else (500, None)
                if not dropped:
                    await _json(send, status, answer or _error(message.get("id"), -32603, "no answer"))
                watching.cancel()
                return
            writes = _Writes(send, self.limits.write_timeout)
            if not (
                await writes.put({"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS})
                and await writes.put({"type": "http.response.body", "body": _event(first), "more_body": True})
            ):
                drop()
                watching.cancel()
                return
            while True:
                with anyio.move_on_after(self.limits.keepalive) as quiet:
                    try:
                        note = await notes_out.receive()
                    except anyio.EndOfStream:
                        break
                body = _PING if quiet.cancelled_caught else _event(note)
                if not await writes.put({"type": "http.response.body", "body": body, "more_body": True}):
                    logger.warning("ended a subscriptions/listen stream: its client took no write for a while")
                    drop()
                    watching.cancel()
                    return
            # The listen's own answer (should the gateway end it) closes the stream; a stream the client
            # closed, or one dropped, carries none.
            answer = outcome[0][1] if outcome and not dropped else None
            await writes.put({"type": "http.response.body", "body": _event(answer) if answer is not None else b""})
            watching.cancel()


class _Writes:
    """The ASGI `send` of a stream, each write given at most `timeout` seconds to be taken."""

    def __init__(self, send: Any, timeout: float) -> None:
        self._send = send
        self._timeout = timeout

    async def put(self, message: dict[str, Any]) -> bool:
        with anyio.move_on_after(self._timeout):
            await self._send(message)
            return True
        return False


def _event(message: Message) -> bytes:
    return b"event: message\ndata: " + encode(message).rstrip(b"\n") + b"\n\n"


def _error(request_id: Any, code: int, text: str) -> Message:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text}}


async def _json(send: Any, status: int, message: Message) -> None:
    body = encode(message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
