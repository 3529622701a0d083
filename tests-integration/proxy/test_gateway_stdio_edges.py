"""The gateway process with its stdout on a file, /dev/null or a socket, and a client line it cannot parse."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types")

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
DEEP = '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":' + '{"a":' * 1000 + "1" + "}" * 1001
CALL = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "rec__record", "arguments": {"v": 1}}}


def wait_until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("sink", ["file", "devnull", "socket"])
def test_serves_with_stdout_on_any_file_type_and_answers_a_line_nested_too_deeply(kit, tmp_path, sink) -> None:
    config = {"upstreams": [kit.recording_upstream(tmp_path)], "policy": "allow-all", "home": str(tmp_path / "home")}
    (tmp_path / "gateway.json").write_text(json.dumps(config))
    out_path = tmp_path / "out.jsonl"
    ours = None
    if sink == "file":
        stdout: Any = out_path.open("wb")
    elif sink == "devnull":
        stdout = subprocess.DEVNULL
    else:
        ours, stdout = socket.socketpair()
    with (tmp_path / "err.txt").open("wb") as stderr:
        proxy = subprocess.Popen(
            [sys.executable, kit.runner, str(tmp_path / "gateway.json")],
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
        )
    if sink != "devnull":
        stdout.close()
    assert proxy.stdin is not None
    lines = [json.dumps(INITIALIZE), DEEP, json.dumps(CALL)]
    proxy.stdin.write(("\n".join(lines) + "\n").encode())
    proxy.stdin.flush()
    received = b""
    record = tmp_path / "rec.jsonl"
    if sink == "socket":
        assert ours is not None
        ours.settimeout(30)
        while b'"id":3,' not in received:
            chunk = ours.recv(65536)
            assert chunk, "the gateway closed its output"
            received += chunk
    elif sink == "file":
        wait_until(lambda: b'"id":3,' in out_path.read_bytes(), "the call's answer in the file")
    else:
        wait_until(lambda: record.exists() and record.read_text().strip(), "the call to reach the upstream")
    proxy.stdin.close()
    assert proxy.wait(timeout=30) == 0, (tmp_path / "err.txt").read_text()
    if ours is not None:
        ours.close()
    assert json.loads(record.read_text().splitlines()[0])["params"]["arguments"] == {"v": 1}
    if sink == "devnull":
        return
    data = received if sink == "socket" else out_path.read_bytes()
    answers = {m["id"]: m for m in map(json.loads, data.splitlines()) if "id" in m}
    assert answers[1]["result"]["serverInfo"]["name"] == "inherence-proxy"
    assert answers[2]["error"]["message"] == "message nested too deeply"
    assert answers[3]["result"]["structuredContent"] == {"arguments": {"v": 1}}
