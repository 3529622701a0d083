"""The hosted-key path of `init` against a real hosted-protocol server, and `serve --http`."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import anyio
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from .conftest import EXECUTABLE, Machine, denial, tool_text

pytestmark = pytest.mark.slow


def test_init_with_a_hosted_key_checks_it_classifies_through_it_and_never_prints_it(
    machine: Machine, fake_policy
) -> None:
    machine.write_client("cursor", {"mcpServers": {"workspace": machine.demo_server()}})
    key = fake_policy.api_key
    done = machine.cli("init", "--api-key", key, "--endpoint", fake_policy.base_url, "--yes")
    assert done.returncode == 0, done.stderr
    assert key not in done.stdout + done.stderr
    assert f"key inh_…{key[-4:]}" in done.stdout
    config = json.loads((machine.proxy_home / "config.json").read_text())
    assert (config["api_key"], config["hosted_endpoint"]) == (key, fake_policy.base_url)
    assert len(fake_policy.requests_to("auth/verify")) == 1
    classified = fake_policy.requests_to("classify")[0].json["tools"]
    assert {tool["name"] for tool in classified} >= {"workspace__read_file", "workspace__send_email"}


def test_init_with_a_refused_key_changes_nothing(machine: Machine, fake_policy) -> None:
    path = machine.write_client("cursor", {"mcpServers": {"workspace": machine.demo_server()}})
    original = path.read_bytes()
    done = machine.cli(
        "init", "--api-key", "inh_test_not_a_key_at_all_0000", "--endpoint", fake_policy.base_url, "--yes"
    )
    assert done.returncode == 4
    assert (
        done.stderr
        == "Error: the policy service refused the API key; check it, or use --local for the embedded policy\n"
    )
    assert path.read_bytes() == original
    assert not (machine.proxy_home / "config.json").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(args: list[str], machine: Machine) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(EXECUTABLE), *args],
        env=machine.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def test_serve_over_streamable_http(machine: Machine) -> None:
    machine.write_client("cursor", {"mcpServers": {"workspace": machine.demo_server("http")}})
    assert machine.cli("init", "--yes", "--local", "--no-discovery").returncode == 0
    port = _free_port()
    proxy = _start(["serve", "cursor", "--http", f"127.0.0.1:{port}", "--verbose"], machine)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proxy.poll() is None, proxy.stderr.read() if proxy.stderr else b""
                assert time.monotonic() < deadline, "the HTTP proxy did not start listening"
                await anyio.sleep(0.05)
        with anyio.fail_after(30):
            async with (
                httpx2.AsyncClient() as http,
                streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http) as streams,
                ClientSession(streams[0], streams[1]) as session,
            ):
                await session.initialize()
                allowed = await session.call_tool("workspace__read_file", {"path": "notes.txt"})
                refused = await session.call_tool("workspace__fetch_url", {"url": "http://169.254.169.254/latest/"})
                rebound = await http.post(f"http://127.0.0.1:{port}/mcp", headers={"Host": "attacker.example"}, json={})
        # A web page that rebinds its own name to 127.0.0.1 reaches nothing.
        assert rebound.status_code == 403
        assert tool_text(allowed) == "standup at ten\n"
        assert denial(refused)["failed_clauses"] == ["lateral_pivot.metadata_endpoint"]
        assert machine.received("http") == ["read_file"]
    finally:
        proxy.send_signal(signal.SIGTERM)
        out, _err = proxy.communicate(timeout=20)
    assert proxy.returncode == 0
    assert out == b""
    log = (machine.proxy_home / "proxy.log").read_text()
    assert " DEBUG " in log
    assert "standup at ten" not in log  # never a tool result, even with --verbose
    assert not (machine.proxy_home / "proxy-cursor.pid").exists()
