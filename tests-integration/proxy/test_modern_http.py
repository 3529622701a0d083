"""MCP 2026-07-28 on the gateway's HTTP front: stateless, and no header may disagree with the body.

The gateway runs as a real process serving streamable HTTP on 127.0.0.1, in front of the recording
server as a real upstream process, with the fake hosted policy recording every decision it is asked.
"""

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
from mcp import Client

HERE = pathlib.Path(__file__).parent
PROTOCOL = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
ENVELOPE = {PROTOCOL: "2026-07-28", CAPABILITIES: {}}


@contextlib.contextmanager
def gateway_over_http(tmp_path: pathlib.Path, policy: Any = None) -> Iterator[str]:
    """The gateway on HTTP in front of the recording server (with its `routed` tool); its /mcp URL."""
    upstream = {
        "name": "rec",
        "command": [sys.executable, str(HERE / "recording_server.py")],
        "env": {"RECORD_FILE": str(tmp_path / "rec.jsonl"), "ROUTED_TOOL": "1"},
    }
    config = {
        "upstreams": [upstream],
        "policy": policy.base_url if policy is not None else "allow-all",
        "api_key": policy.api_key if policy is not None else None,
        "home": str(tmp_path / "home"),
        "http": True,
        "settings": {"decide_timeout": 3.0},
    }
    (tmp_path / "gateway.json").write_text(json.dumps(config))
    argv = [sys.executable, str(HERE / "run_gateway.py"), str(tmp_path / "gateway.json")]
    with open(tmp_path / "gateway.err", "wb") as stderr:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip():
            pytest.fail(f"the gateway printed no port: {(tmp_path / 'gateway.err').read_text()}")
        yield f"http://127.0.0.1:{int(line)}/mcp"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def recorded_calls(tmp_path: pathlib.Path) -> list[dict[str, Any]]:
    record = tmp_path / "rec.jsonl"
    lines = record.read_text().splitlines() if record.exists() else []
    return [entry for entry in map(json.loads, lines) if entry["method"] == "tools/call"]


def modern_headers(method: str, name: str | None = None, **extra: str) -> dict[str, str]:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": method,
        **extra,
    }
    if name is not None:
        headers["Mcp-Name"] = name
    return headers


def call_body(name: str, arguments: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    params = {"name": name, "arguments": arguments, "_meta": ENVELOPE}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


@pytest.mark.parametrize("mode", ["2026-07-28", "auto", "legacy"])
async def test_every_sdk_mode_lists_and_calls_over_http(tmp_path, mode) -> None:
    with gateway_over_http(tmp_path) as url:
        async with Client(url, mode=mode) as client:
            version = client.protocol_version
            tools = await client.list_tools()
            result = await client.call_tool("rec__routed", {"region": "eu-west", "value": [1, None]})
    assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    assert {"rec__record", "rec__routed"} <= {tool.name for tool in tools.tools}
    assert result.is_error is False
    assert result.structured_content == {"arguments": {"region": "eu-west", "value": [1, None]}}
    assert [call["params"]["arguments"] for call in recorded_calls(tmp_path)] == [
        {"region": "eu-west", "value": [1, None]}
    ]


async def test_a_header_naming_another_tool_never_reaches_the_policy(tmp_path, fake_policy) -> None:
    with gateway_over_http(tmp_path, fake_policy) as url:
        async with httpx2.AsyncClient(timeout=60) as http:
            # The header says the harmless tool; the body calls another one.
            lying = await http.post(
                url, json=call_body("rec__crash", {}), headers=modern_headers("tools/call", "rec__record")
            )
            wrong_method = await http.post(
                url, json=call_body("rec__record", {"value": 1}), headers=modern_headers("tools/list")
            )
            wrong_version = await http.post(
                url,
                json=call_body("rec__record", {"value": 1}),
                headers=modern_headers("tools/call", "rec__record", **{"MCP-Protocol-Version": "2025-11-25"}),
            )
            # A header given twice: readers that take the first and the last would disagree.
            twice = await http.post(
                url,
                json=call_body("rec__record", {"value": 1}),
                headers=[*modern_headers("tools/call", "rec__record").items(), ("Mcp-Name", "rec__crash")],
            )
            honest = await http.post(
                url, json=call_body("rec__record", {"value": 2}), headers=modern_headers("tools/call", "rec__record")
            )
    for refused in (lying, wrong_method, wrong_version, twice):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == -32020
        assert refused.json()["id"] == 1
    assert honest.status_code == 200
    assert honest.json()["result"]["structuredContent"] == {"arguments": {"value": 2}}
    # Only the honest request was decided, and only it reached the upstream.
    assert [request.json["tool_name"] for request in fake_policy.requests_to("decide")] == ["rec__record"]
    assert [call["params"]["arguments"] for call in recorded_calls(tmp_path)] == [{"value": 2}]


async def test_a_mirrored_argument_must_match_its_header(tmp_path, fake_policy) -> None:
    with gateway_over_http(tmp_path, fake_policy) as url:
        async with httpx2.AsyncClient(timeout=60) as http:
            headers = modern_headers("tools/call", "rec__routed")
            other = await http.post(
                url,
                json=call_body("rec__routed", {"region": "us-east"}),
                headers={**headers, "Mcp-Param-Region": "eu-west"},
            )
            missing = await http.post(url, json=call_body("rec__routed", {"region": "us-east"}), headers=headers)
            extra = await http.post(
                url, json=call_body("rec__routed", {}), headers={**headers, "Mcp-Param-Region": "x"}
            )
            matching = await http.post(
                url,
                json=call_body("rec__routed", {"region": "us-east"}),
                headers={**headers, "Mcp-Param-Region": "us-east"},
            )
    for refused in (other, missing, extra):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == -32020
    assert matching.status_code == 200
    assert [request.json["arguments"] for request in fake_policy.requests_to("decide")] == [{"region": "us-east"}]
    assert [call["params"]["arguments"] for call in recorded_calls(tmp_path)] == [{"region": "us-east"}]


async def test_the_modern_path_keeps_no_session(tmp_path) -> None:
    with gateway_over_http(tmp_path) as url:
        async with httpx2.AsyncClient(timeout=60) as http:
            get = await http.get(url, headers={"MCP-Protocol-Version": "2026-07-28", "Accept": "text/event-stream"})
            delete = await http.delete(url, headers={"MCP-Protocol-Version": "2026-07-28"})
            body = {"jsonrpc": "2.0", "id": 7, "method": "server/discover", "params": {"_meta": ENVELOPE}}
            discover = await http.post(url, json=body, headers=modern_headers("server/discover"))
            unsupported = {**body, "params": {"_meta": {PROTOCOL: "2099-01-01", CAPABILITIES: {}}}}
            future = await http.post(
                url,
                json=unsupported,
                headers=modern_headers("server/discover", **{"MCP-Protocol-Version": "2099-01-01"}),
            )
            listen_params = {"notifications": {"toolsListChanged": True}, "_meta": ENVELOPE}
            listen_body = {"jsonrpc": "2.0", "id": 8, "method": "subscriptions/listen", "params": listen_params}
            listen = await http.post(url, json=listen_body, headers=modern_headers("subscriptions/listen"))
            note = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": 3, "_meta": ENVELOPE},
            }
            notification = await http.post(url, json=note, headers=modern_headers("notifications/cancelled"))
    assert get.status_code == 405
    assert delete.status_code == 405
    assert get.headers["allow"] == "POST"
    assert discover.status_code == 200
    assert "mcp-session-id" not in discover.headers
    assert discover.json()["result"]["supportedVersions"] == ["2026-07-28"]
    assert discover.json()["result"]["cacheScope"] == "private"
    # One JSON answer per request carries no stream: no list changes are offered, listen is not served.
    assert discover.json()["result"]["capabilities"]["tools"] == {"listChanged": False}
    assert listen.status_code == 404
    assert listen.json()["error"]["code"] == -32601
    assert future.status_code == 400
    assert future.json()["error"]["code"] == -32022
    assert notification.status_code == 202


async def test_a_request_of_the_modern_era_is_answered_in_it_even_without_its_envelope(tmp_path) -> None:
    # The MCP-Protocol-Version header names 2026-07-28, so the request is of that era: a missing or
    # half-built envelope is refused as that era refuses it, and no handshake-era session begins.
    with gateway_over_http(tmp_path) as url:
        async with httpx2.AsyncClient(timeout=60) as http:
            no_meta = {"jsonrpc": "2.0", "id": 11, "method": "tools/list", "params": {}}
            bare = await http.post(url, json=no_meta, headers=modern_headers("tools/list"))
            half = {**no_meta, "id": 12, "params": {"_meta": {CAPABILITIES: {}}}}
            halfway = await http.post(url, json=half, headers=modern_headers("tools/list"))
            removed = {}
            for request_id, method in enumerate(("initialize", "ping"), start=13):
                body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {"_meta": ENVELOPE}}
                removed[method] = await http.post(url, json=body, headers=modern_headers(method))
    for refused, request_id in ((bare, 11), (halfway, 12)):
        assert refused.status_code == 400
        assert refused.json()["id"] == request_id
        assert refused.json()["error"]["code"] == -32602
    assert "protocolVersion" in halfway.json()["error"]["message"]
    # Neither method is one of 2026-07-28: not found, as the revision's HTTP transport says (404).
    for method, answer in removed.items():
        assert answer.status_code == 404, method
        assert answer.json()["error"]["code"] == -32601
        assert "mcp-session-id" not in answer.headers


async def test_whitespace_around_a_routing_header_value_is_not_part_of_it(tmp_path) -> None:
    # RFC 9110 5.5: a field value excludes the whitespace around it. Sent byte for byte (HTTP client
    # libraries refuse to send such a value), as a client behind a lax proxy may.
    import anyio

    with gateway_over_http(tmp_path) as url:
        port = int(url.split(":")[2].split("/")[0])
        body = json.dumps(call_body("rec__record", {"value": 3})).encode()
        head = (
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n"
            "Mcp-Method: tools/call\r\nMcp-Name:   rec__record \t\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        stream = await anyio.connect_tcp("127.0.0.1", port)
        async with stream:
            await stream.send(head.encode() + body)
            reply = b""
            with anyio.fail_after(60):
                while True:
                    try:
                        reply += await stream.receive()
                    except anyio.EndOfStream:
                        break
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"200", reply
    answer = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert answer["result"]["structuredContent"] == {"arguments": {"value": 3}}
    assert [call["params"]["arguments"] for call in recorded_calls(tmp_path)] == [{"value": 3}]
