"""The HTTP front's answers: plain JSON when only the answer goes out, an event stream when more must go first."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2

from inherence_proxy_core import serve_http

ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _initialize(capabilities: dict[str, Any]) -> dict[str, Any]:
    params = {
        "protocolVersion": "2025-06-18",
        "capabilities": capabilities,
        "clientInfo": {"name": "t", "version": "1"},
    }
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


@contextlib.asynccontextmanager
async def http_session(
    kit: Any, upstreams: list[Any], policy: Any = None, capabilities: Any = None
) -> AsyncIterator[Any]:
    """A real HTTP front on a free loopback port, with one initialized session: (client, headers, upstreams)."""
    async with kit.running(upstreams, policy) as (gateway, _client, _policy), anyio.create_task_group() as tasks:
        port = await tasks.start(serve_http, gateway, "127.0.0.1", 0)
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False) as http:
            answer = await http.post("/mcp", json=_initialize(capabilities or {}), headers=ACCEPT)
            assert answer.status_code == 200
            headers = {**ACCEPT, "mcp-session-id": answer.headers["mcp-session-id"]}
            notice = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            assert (await http.post("/mcp", json=notice, headers=headers)).status_code == 202
            yield http, headers
        tasks.cancel_scope.cancel()


def _call(request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


async def _events(response: httpx2.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield json.loads(line[5:])


async def test_an_answer_with_nothing_before_it_is_one_json_body(kit) -> None:
    with anyio.fail_after(30):
        async with http_session(kit, [kit.FakeUpstream("files")]) as (http, headers):
            response = await http.post("/mcp", json=_call(2, "files__echo", {"text": "hi"}), headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["id"] == 2
    assert answer["result"]["content"][0]["text"] == '{"text": "hi"}'


async def test_a_confirmation_goes_out_on_the_calls_own_stream_and_its_answer_after_it(kit) -> None:
    policy = kit.ScriptedPolicy()
    policy.confirm("pay__*", approval_id="apr_1")
    upstream = kit.FakeUpstream("pay")
    capabilities = {"elicitation": {}}
    with anyio.fail_after(30):
        async with (
            http_session(kit, [upstream], policy, capabilities) as (http, headers),
            http.stream("POST", "/mcp", json=_call(7, "pay__echo", {"text": "x"}), headers=headers) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            seen = []
            async for message in _events(response):
                seen.append(message)
                if message.get("method") == "elicitation/create":
                    reply = {
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "result": {"action": "accept", "content": {"approve": True}},
                    }
                    assert (await http.post("/mcp", json=reply, headers=headers)).status_code == 202
    assert [m.get("method") for m in seen] == ["elicitation/create", None]
    assert seen[-1]["id"] == 7
    assert seen[-1]["result"]["content"][0]["text"] == '{"text": "x"}'
    assert [c["params"]["arguments"] for c in upstream.tool_calls] == [{"text": "x"}]


async def test_what_relates_to_no_request_goes_to_the_get_stream(kit) -> None:
    upstream = kit.FakeUpstream("files")
    with anyio.fail_after(30):
        async with (
            http_session(kit, [upstream]) as (http, headers),
            http.stream("GET", "/mcp", headers=headers) as stream,
        ):
            assert (await http.get("/mcp", headers=headers)).status_code == 409  # one such stream a session
            upstream.tools.append(kit.echo_tool("shout"))
            await upstream.notify("notifications/tools/list_changed")
            async for message in _events(stream):
                if message.get("method") == "notifications/tools/list_changed":
                    break


async def test_bad_posts_are_answered_and_the_session_serves_on(kit) -> None:
    with anyio.fail_after(30):
        async with http_session(kit, [kit.FakeUpstream("files")]) as (http, headers):
            garbage = await http.post("/mcp", content=b'{"jsonrpc": "2.0", "id": 3, "method": ', headers=headers)
            nan = await http.post(
                "/mcp", content=b'{"jsonrpc":"2.0","id":4,"method":"ping","params":{"x":NaN}}', headers=headers
            )
            plain = await http.post("/mcp", content=b"{}", headers={**headers, "content-type": "text/plain"})
            narrow = await http.post(
                "/mcp", json=_call(5, "files__echo", {}), headers={**headers, "accept": "application/json"}
            )
            fine = await http.post("/mcp", json=_call(6, "files__echo", {"text": "ok"}), headers=headers)
            ended = await http.delete("/mcp", headers=headers)
            after = await http.post("/mcp", json=_call(8, "files__echo", {}), headers=headers)
    assert (garbage.status_code, garbage.json()["error"]["code"]) == (400, -32700)
    assert (nan.status_code, nan.json()["id"]) == (400, 4)
    assert (plain.status_code, narrow.status_code) == (415, 406)
    assert fine.json()["result"]["content"][0]["text"] == '{"text": "ok"}'
    assert (ended.status_code, after.status_code) == (200, 404)


async def test_a_client_that_never_reads_its_stream_cannot_make_the_session_hold_more_than_the_bound() -> None:
    from inherence_proxy_core._http_session import MAX_QUEUED, HttpSession

    session = HttpSession("s")
    started = anyio.Event()
    stuck = anyio.Event()

    async def receive() -> dict[str, Any]:
        await stuck.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        started.set()
        if message["type"] == "http.response.body":
            await stuck.wait()  # the client reads nothing

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(session.handle_request, {"method": "GET"}, {"accept": "text/event-stream"}, receive, send)
            await started.wait()
            for number in range(MAX_QUEUED * 2):
                await session.send({"jsonrpc": "2.0", "method": "notifications/message", "params": {"n": number}})
            stream = session._stream
            assert stream is not None
            assert len(stream.messages) <= MAX_QUEUED
            assert stream.dropped >= MAX_QUEUED - 1
            stuck.set()
            session.terminate()
