"""This process's stdin and stdout as anyio byte streams, without a thread per message where possible."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator

import anyio
import anyio.abc

from inherence_proxy_core._pipes import PipeSink, PipeSource, SinkProtocol, SourceProtocol

__all__ = ["stdio_streams"]


class _FdReader(anyio.abc.ByteReceiveStream):
    """Reads a file descriptor in a worker thread: for stdin that is a regular file, or off asyncio."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    async def receive(self, max_bytes: int = 65536) -> bytes:
        data = await anyio.to_thread.run_sync(os.read, self._fd, max_bytes, abandon_on_cancel=True)
        if not data:
            raise anyio.EndOfStream
        return data

    async def aclose(self) -> None:
        return None


class _FdWriter(anyio.abc.ByteSendStream):
    def __init__(self, fd: int) -> None:
        self._fd = fd

    async def send(self, item: bytes) -> None:
        view = memoryview(item)
        while view:
            written = await anyio.to_thread.run_sync(os.write, self._fd, view)
            view = view[written:]

    async def aclose(self) -> None:
        return None


def _pollable(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@contextlib.asynccontextmanager
async def stdio_streams() -> AsyncIterator[tuple[anyio.abc.ByteReceiveStream, anyio.abc.ByteSendStream]]:
    in_fd, out_fd = sys.stdin.fileno(), sys.stdout.fileno()
    try:
        asyncio.get_running_loop()
        on_asyncio = True
    except RuntimeError:
        on_asyncio = False
    if not on_asyncio:
        yield _FdReader(in_fd), _FdWriter(out_fd)
        return
    loop = asyncio.get_running_loop()
    receive: anyio.abc.ByteReceiveStream
    send: anyio.abc.ByteSendStream
    in_file = os.fdopen(os.dup(in_fd), "rb", buffering=0)
    out_file = os.fdopen(os.dup(out_fd), "wb", buffering=0)
    read_transport: asyncio.BaseTransport | None = None
    try:
        receive, send = _FdReader(in_fd), _FdWriter(out_fd)
        # Only a pipe or a socket goes on the loop: uvloop aborts the process on a regular file or a
        # character device (/dev/null, a terminal), and asyncio refuses some of them. Those few are
        # served by a worker thread instead.
        if _pollable(in_fd):
            source = PipeSource()
            read_transport, _ = await loop.connect_read_pipe(lambda: SourceProtocol(source), in_file)
            receive = source
        if _pollable(out_fd):
            transport, protocol = await loop.connect_write_pipe(SinkProtocol, out_file)
            send = PipeSink(transport, protocol.flow)
        yield receive, send
    finally:
        if read_transport is not None:
            read_transport.close()
        with contextlib.suppress(OSError):
            in_file.close()
