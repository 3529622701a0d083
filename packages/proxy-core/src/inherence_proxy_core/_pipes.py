"""Byte streams over asyncio pipe transports, as lean as the relay's hot path needs them.

anyio's process streams yield to the event loop after every write (a checkpoint), and every
anyio call pays for looking up the running backend; on a path that carries each call twice
each way, that costs more than the relaying itself. These streams write straight into the
transport and wait only when its buffer is full.

A `PipeSendStream` writes each item whole before it can wait, so items from concurrent
senders never interleave: `LineChannel` needs no lock in front of it.
"""

from __future__ import annotations

import asyncio

import anyio
import anyio.abc

__all__ = ["PipeReceiveStream", "PipeSendStream"]


class PipeReceiveStream(anyio.abc.ByteReceiveStream):
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    async def receive(self, max_bytes: int = 65536) -> bytes:
        try:
            data = await self._reader.read(max_bytes)
        except (ConnectionError, OSError) as exc:
            raise anyio.BrokenResourceError from exc
        if not data:
            raise anyio.EndOfStream
        return data

    async def aclose(self) -> None:
        return None


class PipeSendStream(anyio.abc.ByteSendStream):
    atomic_send = True

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def send(self, item: bytes) -> None:
        writer = self._writer
        if writer.is_closing():
            raise anyio.BrokenResourceError
        try:
            writer.write(item)
            if writer.transport.get_write_buffer_size() > 0:
                # Only when the peer is slower than us: wait for the high-water mark to clear.
                await writer.drain()
        except (ConnectionError, RuntimeError, OSError) as exc:
            # RuntimeError: uvloop's transports raise it on a write after the pipe closed.
            raise anyio.BrokenResourceError from exc

    async def aclose(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
