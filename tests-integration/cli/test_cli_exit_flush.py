"""What the embedded policy holds in memory is stored when `serve` stops, on each signal that stops it.

Decisions are logged, and what an allowed call returned is recorded, off the call's path; a
decision made just before the proxy is told to stop is in the decision log once it has exited,
and so is what that call read.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from typing import Any

import anyio
import anyio.abc
import pytest

from .conftest import EXECUTABLE, Machine

pytestmark = pytest.mark.slow


class Lines:
    """JSON-RPC over a process's stdio, one JSON document a line."""

    def __init__(self, process: anyio.abc.Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.process = process
        self.buffer = b""

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(json.dumps(message).encode() + b"\n")

    async def answer(self, request_id: int) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            while b"\n" not in self.buffer:
                self.buffer += await self.process.stdout.receive()
            line, self.buffer = self.buffer.split(b"\n", 1)
            message = json.loads(line)
            if message.get("id") == request_id and "method" not in message:
                return message  # type: ignore[no-any-return]

    async def request(self, request_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return await self.answer(request_id)


def _rows(machine: Machine, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(machine.proxy_home / "policy" / "policy.sqlite3")
    try:
        return db.execute(sql, parameters).fetchall()
    finally:
        db.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
async def test_a_decision_made_right_before_a_stop_signal_is_in_the_log_after_exit(
    machine: Machine, stop: signal.Signals
) -> None:
    text = "The quarterly figures for the northern region were revised after the audit found two ledgers out of step.\n"
    (machine.sandbox / "figures.txt").write_text(text)
    machine.write_client("cursor", {"mcpServers": {"workspace": machine.demo_server("exit")}})
    assert machine.cli("init", "--yes", "--local", "--no-discovery").returncode == 0
    with anyio.fail_after(60):
        process = await anyio.open_process(
            [str(EXECUTABLE), "serve", "cursor"], env=machine.env, stderr=subprocess.DEVNULL
        )
        async with process:
            client = Lines(process)
            hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
            await client.request(1, "initialize", hello)
            await client.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            answer = await client.request(
                2, "tools/call", {"name": "workspace__read_file", "arguments": {"path": "figures.txt"}}
            )
            # Told to stop the moment the answer is in: the decision and the read are still in memory.
            import time

            t0 = time.monotonic()
            process.send_signal(stop)
            assert await process.wait() == 0
            print("EXIT", time.monotonic() - t0)
    result = answer["result"]
    assert result["content"][0]["text"] == text
    receipt = result["_meta"]["inherence_receipt_id"]
    logged = _rows(machine, "SELECT tool_name, decision, session_id FROM decisions WHERE decision_id = ?", (receipt,))
    assert [row[:2] for row in logged] == [("workspace__read_file", "allow")]
    session = logged[0][2]
    # What the call returned was recorded too: the session reads it, and reports its results.
    assert _rows(machine, "SELECT COUNT(*) FROM read_items WHERE session_id = ?", (session,))[0][0] > 0
    assert _rows(machine, "SELECT reported FROM read_sessions WHERE session_id = ?", (session,))[0][0] is not None
