"""HTTP both ways: HTTP and SSE upstreams behind the gateway's streamable HTTP front, with the official client."""

from __future__ import annotations

import contextlib
import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

HERE = pathlib.Path(__file__).parent


@contextlib.contextmanager
def process_printing_port(argv: list[str], stderr_path: pathlib.Path, **env: str) -> Iterator[int]:
    """Run `argv`, read the port it prints first, and end it (stdin closed, then killed) afterwards."""
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env={**__import__("os").environ, **env}
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip():
            pytest.fail(f"{argv[1]} printed no port: {stderr_path.read_text()}")
        yield int(line)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """One recording HTTP upstream and one gateway serve every test of this module."""
    return tmp_path_factory.mktemp("http")


@pytest.fixture(scope="module")
def http_upstream(folder: pathlib.Path) -> Iterator[int]:
    tmp_path = folder
    argv = [sys.executable, str(HERE / "recording_http_server.py")]
    with process_printing_port(argv, tmp_path / "upstream.err", RECORD_FILE=str(tmp_path / "record.jsonl")) as port:
        yield port


@pytest.fixture(scope="module")
def gateway_port(folder: pathlib.Path, http_upstream: int) -> Iterator[int]:
    tmp_path = folder
    base = f"http://127.0.0.1:{http_upstream}"
    config = {
        "upstreams": [
            {"name": "web", "transport": "http", "url": f"{base}/mcp"},
            {"name": "old", "transport": "sse", "url": f"{base}/sse"},
        ],
        "policy": "allow-all",
        "http": True,
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    with process_printing_port([sys.executable, str(HERE / "run_gateway.py"), str(path)], tmp_path / "gw.err") as port:
        yield port


def recorded(tmp_path: pathlib.Path) -> list[dict[str, Any]]:
    path = tmp_path / "record.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_http_and_sse_upstreams_through_the_http_front(folder: pathlib.Path, gateway_port: int) -> None:
    url = f"http://127.0.0.1:{gateway_port}/mcp"
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        web = await session.call_tool("web__record", {"value": {"nested": [1, None]}})
        old = await session.call_tool("old__record", {"value": "over sse"})
        resources = {str(r.uri) for r in (await session.list_resources()).resources}
        read_back = await session.read_resource("record://note")
    assert {"web__record", "old__record", "web__crash", "old__crash"} <= tools
    assert web.structured_content == {"arguments": {"value": {"nested": [1, None]}}}
    assert old.structured_content == {"arguments": {"value": "over sse"}}
    assert web.meta is not None
    assert web.meta["inherence_decision"] == "allow"
    assert resources == {"record://note"}
    assert read_back.contents[0].text == "note"  # type: ignore[union-attr]
    calls = [(c["method"], c["params"].get("arguments")) for c in recorded(folder)]
    assert ("tools/call", {"value": {"nested": [1, None]}}) in calls
    assert ("tools/call", {"value": "over sse"}) in calls


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example:8000"}, 403),
        ({"Host": "127.0.0.1.nip.io"}, 403),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Host": "localhost"}, 200),
        ({"Origin": "http://localhost:3000"}, 200),
        ({}, 200),
    ],
    ids=["foreign-host", "rebound-name", "foreign-origin", "null-origin", "localhost", "local-origin", "plain"],
)
async def test_the_http_front_refuses_foreign_hosts_and_origins(gateway_port: int, headers, status) -> None:
    request_headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json", **headers}
    async with httpx2.AsyncClient(timeout=20) as http:
        response = await http.post(f"http://127.0.0.1:{gateway_port}/mcp", json=INITIALIZE, headers=request_headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert "protocolVersion" in response.text
