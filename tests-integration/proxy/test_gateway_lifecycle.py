"""A real gateway process in front of real upstreams leaves no process behind, however it ends.

Every process of one test (the gateway, its upstreams, their children) carries a marker in its
environment; the process table is searched for that marker before and after the gateway ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from inherence_proxy_core import reap

HERE = Path(__file__).parent
RUNNER = HERE / "run_gateway.py"
MARK = "INHERENCE_TEST_MARK"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups and signals are POSIX here")


def marked(mark: str) -> list[psutil.Process]:
    """Every live (not zombie) process in the process table that carries `mark`."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARK) == mark and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def describe(processes: list[psutil.Process]) -> list[str]:
    described = []
    for process in processes:
        try:
            described.append(f"{process.pid} {process.status()} {' '.join(process.cmdline())[:120]}")
        except psutil.Error:
            continue
    return described


def wait_until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


class GatewayProcess:
    """run_gateway.py as a child process, spoken to with newline-delimited JSON-RPC."""

    def __init__(self, tmp_path: Path, upstreams: list[dict[str, Any]], mark: str, **extra: Any) -> None:
        self.home = tmp_path / "home"
        config = {"upstreams": upstreams, "policy": "allow-all", "home": str(self.home), **extra}
        path = tmp_path / "gateway.json"
        path.write_text(json.dumps(config))
        self.stderr_path = tmp_path / "gateway.err"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, str(RUNNER), str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, MARK: mark},
            )
        self._ids = 0
        self._buffer = b""
        self.passed_over: list[dict[str, Any]] = []  # what arrived while `request` waited for its answer

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> dict[str, Any]:
        self._ids += 1
        self.send({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params or {}})
        while True:
            message = self._read_message(timeout)
            if message.get("id") == self._ids and "method" not in message:
                return message
            self.passed_over.append(message)

    def _read_message(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    pytest.fail(f"no message from the gateway within {timeout} s")
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    pytest.fail("the gateway closed its output")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)  # type: ignore[no-any-return]

    def initialize(self) -> None:
        params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        assert "result" in self.request("initialize", params)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        answer = self.request("tools/call", {"name": tool, "arguments": arguments})
        assert "result" in answer, answer
        return answer["result"]  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=20)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def mark() -> Any:
    """A marker for this test's processes; whatever still carries it at teardown is killed."""
    value = uuid.uuid4().hex
    yield value
    for process in marked(value):
        with contextlib.suppress(psutil.Error):
            process.kill()


def upstreams_for(kit: Any, tmp_path: Path, mark: str) -> list[dict[str, Any]]:
    recording = {
        "name": "rec",
        "command": [sys.executable, kit.recording_server],
        "env": {"RECORD_FILE": str(tmp_path / "record.jsonl"), "GRANDCHILD_FILE": str(tmp_path / "gc"), MARK: mark},
    }
    everything = {"name": "everything", "command": kit.everything(), "env": {MARK: mark}}
    return [recording, everything]


@pytest.mark.parametrize("ending", ["stdin-eof", "sigterm", "sigkill-then-reap"])
def test_no_process_is_left_after_the_gateway_ends(kit: Any, tmp_path: Path, mark: str, ending: str) -> None:
    gateway = GatewayProcess(tmp_path, upstreams_for(kit, tmp_path, mark), mark, client="lifecycle")
    try:
        gateway.initialize()
        assert gateway.call("rec__record", {"value": 1})["structuredContent"] == {"arguments": {"value": 1}}
        assert gateway.call("everything__echo", {"message": "hi"})["content"][0]["text"].endswith("hi")
        grandchild = int((tmp_path / "gc").read_text().split()[0])
        before = {p.pid for p in marked(mark)}
        # the gateway, two upstreams and the recording server's child at least
        assert {gateway.proc.pid, grandchild} <= before
        assert len(before) >= 4
        if ending == "stdin-eof":
            assert gateway.proc.stdin is not None
            gateway.proc.stdin.close()
        elif ending == "sigterm":
            gateway.proc.send_signal(signal.SIGTERM)
        else:
            gateway.proc.kill()
        gateway.proc.wait(timeout=30)
        if ending == "sigkill-then-reap":
            # A SIGKILLed gateway ends nothing itself; its upstreams' groups are in the state file.
            actions = reap(gateway.home, grace=2.0)
            reaped = {a.pid for a in actions if a.kind.value.startswith("group_")}
            assert reaped, actions
        wait_until(lambda: not marked(mark), f"every process of the gateway to end: {describe(marked(mark))}")
        assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    finally:
        gateway.close()


def recorded(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_call_the_client_cancels_is_cancelled_upstream_and_never_answered(
    kit: Any, tmp_path: Path, mark: str
) -> None:
    upstream = kit.recording_upstream(tmp_path, "rec")
    record = tmp_path / "rec.jsonl"
    gateway = GatewayProcess(tmp_path, [upstream], mark)
    try:
        gateway.initialize()
        gateway.send({"jsonrpc": "2.0", "id": "slow-1", "method": "tools/call", "params": {"name": "rec__hang"}})
        wait_until(lambda: any(m.get("method") == "tools/call" for m in recorded(record)), "the call to arrive")
        (call,) = recorded(record)
        gateway.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "slow-1"}})
        wait_until(lambda: len(recorded(record)) == 2, "the cancellation to arrive upstream")
        cancelled = recorded(record)[1]
        assert cancelled["method"] == "notifications/cancelled"
        assert cancelled["params"]["requestId"] == call["id"]
        # The gateway keeps serving, and no answer ever comes for the cancelled call.
        answer = gateway.request("tools/call", {"name": "rec__record", "arguments": {"value": 2}})
        assert answer["result"]["structuredContent"] == {"arguments": {"value": 2}}
        assert gateway.request("ping")["result"] == {}
        assert [m for m in gateway.passed_over if m.get("id") == "slow-1"] == []
    finally:
        gateway.close()
