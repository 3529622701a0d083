"""Pipes on asyncio transports, as lean as the relay's hot path needs them.

anyio's process streams yield to the event loop after every write, and asyncio's stream
reader wakes a reading task for every chunk; on a path that carries each call twice each
way, that costs more than the relaying itself. Here the read end of a pipe is a `PipeSource`
that can hand each chunk straight to a callback (`attach`), in the very callback the loop
delivered it in, and the write end is a `PipeSink` that writes into the transport and waits
only when the peer lags behind.

A `PipeSink` writes each item whole before it can wait, so items from concurrent senders
never interleave: `LineChannel` needs no lock in front of it.
"""

from __future__ import annotations

import asyncio
import collections
import typing
from collections.abc import Callable

import anyio
import anyio.abc

__all__ = ["ChildPipes", "PipeSink", "PipeSource", "SinkProtocol", "SourceProtocol"]

OnBytes = Callable[[bytes], None]


class PipeSource(anyio.abc.ByteReceiveStream):
    """The read end of a pipe: pulled with `receive()`, or pushed to one callback after `attach()`."""

    def __init__(self) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        self._on_bytes: OnBytes | None = None
        self._transport: asyncio.ReadTransport | None = None

    # -- fed by the protocol ------------------------------------------------------------------

    def connect(self, transport: asyncio.ReadTransport) -> None:
        self._transport = transport

    def feed(self, data: bytes) -> None:
        if self._on_bytes is not None:
            self._on_bytes(data)
            return
        self._chunks.append(data)
        self._wake()

    def end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- read by the channel ------------------------------------------------------------------

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while not self._chunks:
            if self._ended:
                raise anyio.EndOfStream
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        chunk = self._chunks.popleft()
        if len(chunk) > max_bytes:
            self._chunks.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        return chunk

    async def attach(self, on_bytes: OnBytes) -> None:
        """Hand every chunk, from now until the pipe ends, to `on_bytes`; return when it ends.

        `on_bytes` runs inside the loop's I/O callback: it must not block, and it may `detach()`.
        """
        # Attached before what is already here is handed over, so that a `detach()` from inside
        # `on_bytes` holds for those chunks as well.
        self._on_bytes = on_bytes
        while self._chunks and self._on_bytes is on_bytes:
            on_bytes(self._chunks.popleft())
        try:
            while not self._ended and self._on_bytes is on_bytes:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
        finally:
            self._on_bytes = None

    def detach(self) -> None:
        """Stop handing chunks over; `attach()` returns, and later chunks wait for `receive()`."""
        self._on_bytes = None
        self._wake()

    async def aclose(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.end()


class PipeSink(anyio.abc.ByteSendStream):
    """The write end of a pipe. `write_now` puts an item in the transport at once."""

    def __init__(self, transport: asyncio.WriteTransport, flow: _FlowControl) -> None:
        self._transport = transport
        self._flow = flow

    def write_now(self, item: bytes) -> bool:
        """Write `item` whole; False when the peer lags and the caller should `drain()` before more."""
        if self._transport.is_closing():
            raise anyio.BrokenResourceError
        try:
            self._transport.write(item)
        except (ConnectionError, RuntimeError, OSError) as exc:
            # RuntimeError: uvloop's transports raise it on a write after the pipe closed.
            raise anyio.BrokenResourceError from exc
        return not self._flow.paused

    async def drain(self) -> None:
        await self._flow.drained()

    async def send(self, item: bytes) -> None:
        if not self.write_now(item):
            await self.drain()

    async def aclose(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()


class _FlowControl:
    """Whether the transport asked us to stop writing, and a wait for it to ask us to go on."""

    def __init__(self) -> None:
        self.paused = False
        self.lost = False
        self._waiters: list[asyncio.Future[None]] = []

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def lose(self) -> None:
        self.lost = True
        self.resume()

    async def drained(self) -> None:
        if self.lost:
            raise anyio.BrokenResourceError
        if self.paused:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
            if self.lost:
                raise anyio.BrokenResourceError


class SourceProtocol(asyncio.Protocol):
    """Feeds a `PipeSource` from a read pipe (`loop.connect_read_pipe`)."""

    def __init__(self, source: PipeSource) -> None:
        self._source = source

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._source.connect(typing.cast(asyncio.ReadTransport, transport))

    def data_received(self, data: bytes) -> None:
        self._source.feed(data)

    def eof_received(self) -> bool:
        self._source.end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._source.end()


class SinkProtocol(asyncio.Protocol):
    """The flow control of a write pipe (`loop.connect_write_pipe`), for its `PipeSink`."""

    def __init__(self) -> None:
        self.flow = _FlowControl()

    def pause_writing(self) -> None:
        self.flow.pause()

    def resume_writing(self) -> None:
        self.flow.resume()

    def connection_lost(self, exc: Exception | None) -> None:
        self.flow.lose()


class ChildPipes(asyncio.SubprocessProtocol):
    """A child's stdin as a `PipeSink`, its stdout as a `PipeSource`, and its exit (`loop.subprocess_exec`)."""

    def __init__(self) -> None:
        self.stdout = PipeSource()
        self._flow = _FlowControl()
        self._exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.SubprocessTransport | None = None
        self.stdin: PipeSink | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio's interfaces without subclassing them.
        self._transport = typing.cast(asyncio.SubprocessTransport, transport)
        stdin = self._transport.get_pipe_transport(0)
        if stdin is not None:
            self.stdin = PipeSink(typing.cast(asyncio.WriteTransport, stdin), self._flow)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self.stdout.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.stdout.end()
        elif fd == 0:
            self._flow.lose()

    def pause_writing(self) -> None:
        self._flow.pause()

    def resume_writing(self) -> None:
        self._flow.resume()

    def process_exited(self) -> None:
        if not self._exited.done():
            self._exited.set_result(None)

    @property
    def pid(self) -> int:
        assert self._transport is not None
        return self._transport.get_pid()

    @property
    def returncode(self) -> int | None:
        return self._transport.get_returncode() if self._transport is not None else None

    async def wait(self) -> int:
        await asyncio.shield(self._exited)
        code = self.returncode
        assert code is not None
        return code

    def close(self) -> None:
        """Let go of the transport; call once the child has exited (before, closing it kills the child)."""
        if self._transport is not None:
            self._transport.close()
