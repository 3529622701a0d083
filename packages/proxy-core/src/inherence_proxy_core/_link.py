"""One live JSON-RPC connection to an upstream: our own request ids out, answers matched back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.abc

from inherence_proxy_core._channel import INTERNAL_ERROR, Channel, Malformed, Message, error_response, pump
from inherence_proxy_core._errors import UpstreamClosed

__all__ = ["PendingAnswer", "UpstreamLink", "cancel_and_wait", "spawn_tracked"]

logger = logging.getLogger("inherence_proxy_core")

NotificationHandler = Callable[["UpstreamLink", Message], None]
RequestHandler = Callable[["UpstreamLink", Message], Coroutine[Any, Any, None]]

# How long a refused write waits for the upstream's output to end too, in seconds.
_OUTPUT_END_GRACE = 1.0


class PendingAnswer:
    """The answer to one request this side sent, settled by whoever reads the other side's messages.

    A bare future of the running loop with a timer, rather than an anyio Event under a cancel
    scope: one of these is made and settled for every relayed call.
    """

    __slots__ = ("_future",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._future: asyncio.Future[Message | None] = loop.create_future()

    def settle(self, response: Message | None) -> None:
        """Hand over the answer; None says the other side went away. Later calls change nothing."""
        if not self._future.done():
            self._future.set_result(response)

    async def wait(self, deadline: float) -> Message | None:
        """The answer, or None when the other side went away; `TimeoutError` after `deadline` seconds."""
        future = self._future
        timer = future.get_loop().call_later(deadline, self._expire)
        try:
            return await future
        finally:
            timer.cancel()

    def _expire(self) -> None:
        if not self._future.done():
            self._future.set_exception(TimeoutError())


def with_envelope(params: dict[str, Any] | None, envelope: dict[str, Any]) -> dict[str, Any]:
    """`params` with the 2026-07-28 envelope in its `_meta` (the envelope's keys win), as a new dict."""
    if not params:
        return {"_meta": dict(envelope)}
    meta = params.get("_meta")
    return {**params, "_meta": {**meta, **envelope} if isinstance(meta, dict) else dict(envelope)}


def spawn_tracked(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None], tasks: set[asyncio.Task[Any]]
) -> None:
    """Run `coro` as a task of `loop`, kept in `tasks` until it is done."""
    task = loop.create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def cancel_and_wait(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel every task in `tasks` and wait until all have ended, even from a scope being cancelled."""
    ending = list(tasks)
    for task in ending:
        task.cancel()
    if ending:
        with anyio.CancelScope(shield=True):
            await asyncio.wait(ending)


class UpstreamLink:
    """Requests to one upstream and the answers to them, over one `Channel`.

    `run()` reads until the upstream's stream ends or it writes something that is not JSON-RPC,
    then fails every waiting request with `UpstreamClosed`. Notifications go to
    `on_notification` (which must not block); requests from the upstream to `on_request`,
    each in a task of its own so a slow client answer never stalls the reader.
    """

    def __init__(
        self, name: str, channel: Channel, *, on_notification: NotificationHandler, on_request: RequestHandler
    ) -> None:
        self.name = name
        self.channel = channel
        self._on_notification = on_notification
        self._on_request = on_request
        self._pending: dict[int, PendingAnswer] = {}
        self._next_id = 0
        self.closed = False
        self.close_reason: str | None = None
        # The 2026-07-28 envelope every request carries to an upstream of that era; None for the handshake era.
        self.envelope: dict[str, Any] | None = None
        self._end_reason = ""
        self._requests: set[asyncio.Task[Any]] = set()
        # Kept, not looked up per call: on Python 3.11 every lookup of the running loop is a getpid().
        self._loop = asyncio.get_running_loop()

    async def run(self) -> None:
        self._end_reason = "the upstream closed its output"
        try:
            await pump(self.channel, self._deliver)
        finally:
            self._close(self._end_reason)
            await cancel_and_wait(self._requests)

    def _deliver(self, message: Message | Malformed) -> bool:
        # Runs in the loop's I/O callback when the upstream is on a pipe: it must not wait for anything.
        try:
            return self._take(message)
        except Exception:
            # One message that trips the gateway up is logged and dropped; the upstream serves on.
            logger.exception("upstream %s: handling a message failed", self.name)
            return True

    def _take(self, message: Message | Malformed) -> bool:
        if isinstance(message, Malformed):
            if message.request_id not in self._pending:
                self._end_reason = f"the upstream wrote something that is not JSON-RPC ({message.detail})"
                return False
            # An answer too large to carry fails its own request; the upstream stays up.
            message = error_response(message.request_id, INTERNAL_ERROR, message.detail)
        method = message.get("method")
        if method is None:
            request_id = message.get("id")
            pending = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
            if pending is not None:
                pending.settle(message)
        elif "id" in message:
            spawn_tracked(self._loop, self._on_request(self, message), self._requests)
        else:
            self._on_notification(self, message)
        return True

    def _close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            waiter.settle(None)

    async def request(
        self, method: str, params: dict[str, Any] | None, *, deadline: float, envelope: dict[str, Any] | None = None
    ) -> Message:
        """Send a request and return the whole answer (a `result` or an `error` message).

        To an upstream of the 2026-07-28 era the request carries `envelope`, or the link's own.

        Raises `UpstreamClosed` when the connection is or becomes closed, `TimeoutError` after
        `deadline`. When the caller is cancelled the upstream is told with `notifications/cancelled`.
        """
        if self.closed:
            raise UpstreamClosed(self.close_reason or "closed", upstream=self.name)
        self._next_id += 1
        request_id = self._next_id
        waiter = PendingAnswer(self._loop)
        self._pending[request_id] = waiter
        message: Message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if self.envelope is not None:
            params = with_envelope(params, envelope or self.envelope)
        if params is not None:
            message["params"] = params
        try:
            try:
                await self.channel.send(message)
            except anyio.BrokenResourceError:
                # A process that exited refuses writes before its output is seen to end: give the
                # reader a moment, so that the reason does not depend on which side noticed first.
                with contextlib.suppress(TimeoutError):
                    await waiter.wait(min(deadline, _OUTPUT_END_GRACE))
                self._close("the upstream's input is closed")
                raise UpstreamClosed(self.close_reason or "closed", upstream=self.name) from None
            response = await waiter.wait(deadline)
        except anyio.get_cancelled_exc_class():
            if self._pending.pop(request_id, None) is not None:
                await self._tell_cancelled(request_id)
            raise
        except TimeoutError:
            if self._pending.pop(request_id, None) is not None:
                await self._tell_cancelled(request_id, reason="timed out")
            raise
        if response is None:
            raise UpstreamClosed(self.close_reason or "closed", upstream=self.name)
        return response

    async def _tell_cancelled(self, request_id: int, reason: str = "cancelled by the client") -> None:
        await self.notify("notifications/cancelled", {"requestId": request_id, "reason": reason})

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Send a notification; a closed upstream drops it silently (nothing waits on it)."""
        if self.closed:
            return
        message: Message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                await self.channel.send(message)
            except anyio.BrokenResourceError:
                self._close("the upstream's input is closed")

    async def respond(self, message: Message) -> None:
        """Answer a request the upstream sent us."""
        if self.closed:
            return
        with anyio.move_on_after(30):
            try:
                await self.channel.send(message)
            except anyio.BrokenResourceError:
                self._close("the upstream's input is closed")
