"""A minimal proxy built on the process-discipline API, run as its own process by the tests.

usage: fake_proxy.py HOME CLIENT [UPSTREAMS]
Takes the client's lock, starts UPSTREAMS copies of upstream_child.py, prints one JSON line
({"proxy": pid, "upstreams": [child reports]}), then serves until stdin closes or SIGTERM,
SIGINT or SIGHUP arrives, and ends every upstream. Exits 3 if the client's lock is held.
"""

import json
import os
import signal
import sys
from pathlib import Path

import anyio

from inherence_proxy_core._lock import ClientLock
from inherence_proxy_core._proc_errors import ClientLockHeld
from inherence_proxy_core._proc_registry import ProcessRegistry
from inherence_proxy_core._process import spawn_upstream, terminate_all

CHILD = str(Path(__file__).with_name("upstream_child.py"))


async def read_line(stream):
    data = b""
    while not data.endswith(b"\n"):
        data += await stream.receive()
    return data


async def until_stdin_closes(scope):
    while True:
        await anyio.wait_readable(sys.stdin.fileno())
        if not os.read(sys.stdin.fileno(), 65536):
            scope.cancel()
            return


async def until_signal(scope):
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def main(home, client, count):
    lock = ClientLock(home, client)
    try:
        lock.acquire()
    except ClientLockHeld as held:
        sys.stderr.write(f"{held} holder={held.holder_pid}\n")
        return 3
    registry = ProcessRegistry(home, client)
    registry.open()
    upstreams = []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(until_signal, tg.cancel_scope)
            tg.start_soon(until_stdin_closes, tg.cancel_scope)
            for i in range(count):
                upstreams.append(await spawn_upstream([sys.executable, CHILD], name=f"u{i}", registry=registry))
            reports = [json.loads(await read_line(up.stdout)) for up in upstreams]
            sys.stdout.write(json.dumps({"proxy": os.getpid(), "upstreams": reports}) + "\n")
            sys.stdout.flush()
    finally:
        with anyio.CancelScope(shield=True):
            await terminate_all(upstreams, grace=1.0)
        registry.close()
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2))
