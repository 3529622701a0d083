"""The least a Python stdio relay can do: bytes from our stdin to a child's, and back, untouched.

    python benchmarks/plain_relay.py [--uvloop] COMMAND [ARGS...]

No parsing, no tasks: each chunk is written on in the callback that read it. `bench_proxy.py`
measures it beside the gateway as the floor that any relay written in Python pays.
"""

from __future__ import annotations

import asyncio
import os
import sys
import typing


class _Forward(asyncio.Protocol):
    def __init__(self, sink: asyncio.WriteTransport, done: asyncio.Future[None]) -> None:
        self._sink = sink
        self._done = done

    def data_received(self, data: bytes) -> None:
        self._sink.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_result(None)


class _Child(asyncio.SubprocessProtocol):
    def __init__(self, sink: asyncio.WriteTransport, done: asyncio.Future[None]) -> None:
        self._sink = sink
        self._done = done

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._sink.write(data)

    def process_exited(self) -> None:
        if not self._done.done():
            self._done.set_result(None)


async def relay(argv: list[str]) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    stdout, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(os.dup(1), "wb", buffering=0))
    child, _ = await loop.subprocess_exec(lambda: _Child(stdout, done), *argv, stderr=asyncio.subprocess.DEVNULL)
    child_stdin = typing.cast(asyncio.WriteTransport, child.get_pipe_transport(0))  # uvloop's is no subclass
    await loop.connect_read_pipe(lambda: _Forward(child_stdin, done), os.fdopen(os.dup(0), "rb", buffering=0))
    try:
        await done
    finally:
        child.close()


def main(argv: list[str]) -> None:
    if argv[:1] == ["--uvloop"]:
        import uvloop

        uvloop.run(relay(argv[1:]))
    else:
        asyncio.run(relay(argv))


if __name__ == "__main__":
    main(sys.argv[1:])
