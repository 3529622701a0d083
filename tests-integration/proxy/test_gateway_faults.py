"""Every way an upstream can fail, on every transport it applies to: it fails alone, and says why.

One gateway process per transport fronts a healthy upstream and one upstream per fault: real
processes, real loopback servers (fault_http_server.py), a closed port, an unresolvable `.invalid`
name, and a plain-HTTP server reached over https. Each faulty upstream must be reported down with
its reason (to the client as a `notifications/message` warning, and in the tool error of its
calls) or, when it fails in the middle of a call, fail that call with a clear tool error; the
healthy upstream must keep answering throughout.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from .conftest import HERE

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process handling")

SETTINGS = {
    "initialize_timeout": 3.0,
    "list_timeout": 2.0,
    "call_timeout": 20.0,
    "ready_wait": 15.0,
    "restart_backoff_initial": 0.5,
    "restart_backoff_max": 5.0,
    "max_message_bytes": 1_000_000,
}
STATUSES = (401, 403, 404, 500, 503)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FaultServers:
    """fault_http_server.py processes, one per mode, ended when the test ends."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def port(self, mode: str) -> int:
        process = subprocess.Popen(
            [sys.executable, str(HERE / "fault_http_server.py"), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.processes.append(process)
        assert process.stdout is not None
        return int(process.stdout.readline())

    def close(self) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            assert process.stdout is not None
            process.stdout.close()


@contextlib.contextmanager
def fault_servers() -> Iterator[FaultServers]:
    servers = FaultServers()
    try:
        yield servers
    finally:
        servers.close()


def remote_faults(servers: FaultServers, transport: str) -> dict[str, tuple[str, str]]:
    """Upstream name -> (url, what its reason must say), for the faults that keep it from starting."""
    path = "/mcp" if transport == "http" else "/sse"
    faults = {
        "refused": (f"http://127.0.0.1:{closed_port()}{path}", "connection refused"),
        "dns": (f"http://upstream.invalid{path}", "DNS lookup failed"),
        "tls": (f"https://127.0.0.1:{servers.port('plain')}{path}", "TLS failed"),
        "web-page": (f"http://127.0.0.1:{servers.port('html')}{path}", "text/html"),
        "hung": (f"http://127.0.0.1:{servers.port('hang')}{path}", "no answer"),
    }
    for status in STATUSES:
        faults[f"status-{status}"] = (f"http://127.0.0.1:{servers.port(f'status:{status}')}{path}", f"HTTP {status}")
    return faults


def payload(result: Any) -> dict[str, Any]:
    assert result.is_error is True, result
    return json.loads(result.content[0].text)  # type: ignore[no-any-return]


class Warnings:
    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}

    async def __call__(self, message: Any) -> None:
        params = getattr(getattr(message, "root", message), "params", None)
        data = getattr(params, "data", None)
        if getattr(params, "level", None) == "warning" and isinstance(data, dict):
            self.reasons.setdefault(data["upstream"], data["reason"])


async def tools_once_ready(session: Any, wanted: list[str]) -> set[str]:
    """The tool names once all of `wanted` are listed (a busy machine may start an upstream late)."""
    for _ in range(100):
        names = {tool.name for tool in (await session.list_tools()).tools}
        if set(wanted) <= names:
            return names
        await anyio.sleep(0.2)
    pytest.fail(f"never listed: {sorted(set(wanted) - names)}")


async def check_gateway(kit, tmp_path, upstreams, down: dict[str, str], mid_call: dict[str, tuple[str, Any]]) -> None:
    """Through one gateway: each of `down` is down with its reason, each of `mid_call` fails its call alone."""
    warnings = Warnings()
    upstreams = [kit.recording_upstream(tmp_path, "good"), *upstreams]
    async with kit.through_gateway(tmp_path, upstreams, settings=SETTINGS, message_handler=warnings) as session:
        await tools_once_ready(session, ["good__record", *(f"{name}__{tool}" for name, (tool, _) in mid_call.items())])
        reasons = {}
        for name in down:
            refusal = payload(await session.call_tool(f"{name}__echo", {}))
            assert (refusal["error"], refusal["upstream"]) == ("UPSTREAM_UNAVAILABLE", name)
            reasons[name] = refusal.get("reason", "")
        failures = {}
        for name, (tool, arguments) in mid_call.items():
            failures[name] = payload(await session.call_tool(f"{name}__{tool}", arguments))
            alive = await session.call_tool("good__record", {"value": name})
            assert alive.structured_content == {"arguments": {"value": name}}
        await session.send_ping()
    assert {name: expected in reasons[name] for name, expected in down.items()} == dict.fromkeys(down, True), reasons
    assert {name: expected in warnings.reasons.get(name, "") for name, expected in down.items()} == dict.fromkeys(
        down, True
    ), warnings.reasons
    for name, failure in failures.items():
        assert failure["error"] in ("UPSTREAM_ERROR", "UPSTREAM_UNAVAILABLE"), (name, failure)
        detail = failure.get("detail") or failure.get("reason") or ""
        assert detail, (name, failure)
        assert "no answer within" not in detail, (name, failure)  # failed at once, not by the call's deadline
    log = (tmp_path / "good.jsonl").read_text()
    assert all(name in log for name in mid_call)


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_each_remote_fault_leaves_the_other_upstreams_serving(kit, tmp_path, transport) -> None:
    with fault_servers() as servers:
        faults = remote_faults(servers, transport)
        path = "/mcp" if transport == "http" else "/sse"
        mid_call = {
            "dropped": (f"http://127.0.0.1:{servers.port('drop-call')}{path}", ("echo", {})),
            "oversize": (f"http://127.0.0.1:{servers.port('oversize:1500000')}{path}", ("echo", {})),
        }
        upstreams = [{"name": n, "transport": transport, "url": url} for n, (url, _) in faults.items()]
        upstreams += [{"name": n, "transport": transport, "url": url} for n, (url, _) in mid_call.items()]
        down = {name: expected for name, (_, expected) in faults.items()}
        await check_gateway(kit, tmp_path, upstreams, down, {n: call for n, (_, call) in mid_call.items()})


async def test_each_stdio_fault_leaves_the_other_upstreams_serving(kit, tmp_path) -> None:
    down = {
        "crash-at-start": ("crash", "closed its output"),
        "garbage-at-start": ("garbage", "not JSON-RPC"),
        "hung": ("hang", "no answer to initialize"),
    }
    upstreams = [kit.recording_upstream(tmp_path, name, FAULT=fault) for name, (fault, _) in down.items()]
    kinds = ["deep", "nan", "huge", "surrogate", "oversize", "garbage"]
    upstreams += [kit.recording_upstream(tmp_path, f"bad-{kind}") for kind in kinds]
    upstreams.append(kit.recording_upstream(tmp_path, "crash-mid-call"))
    mid_call: dict[str, tuple[str, Any]] = {f"bad-{kind}": ("bad", {"kind": kind}) for kind in kinds}
    mid_call["crash-mid-call"] = ("crash", {})
    await check_gateway(kit, tmp_path, upstreams, {n: e for n, (_, e) in down.items()}, mid_call)
