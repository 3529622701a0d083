"""HTTP sessions: created only by initialize, bound to their client, ended when idle, capped, never leaked."""

from __future__ import annotations

import contextlib
import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest

from inherence_proxy_core import HttpFront

ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@contextlib.asynccontextmanager
async def front(kit: Any, **options: Any) -> AsyncIterator[tuple[HttpFront, httpx2.AsyncClient]]:
    async with (
        kit.running([kit.FakeUpstream("files")]) as (gateway, _client, _policy),
        anyio.create_task_group() as tasks,
    ):
        app = HttpFront(gateway, tasks, **options)
        transport = httpx2.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as http:
            yield app, http
        tasks.cancel_scope.cancel()


def _data(response: httpx2.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(lines[-1])
    return response.json()


async def _initialize(http: httpx2.AsyncClient, agent: str = "client-a") -> str:
    response = await http.post("/mcp", json=INITIALIZE, headers={**ACCEPT, "user-agent": agent})
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


async def test_requests_that_are_not_an_initialize_create_no_session(kit) -> None:
    async with front(kit) as (app, http):
        refused = [
            await http.get("/mcp"),
            await http.get("/mcp", headers={"accept": "text/event-stream"}),
            await http.options("/mcp"),
            await http.delete("/mcp"),
            await http.post("/mcp", content=b"not json", headers=ACCEPT),
            await http.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=ACCEPT),
            await http.post("/mcp", content=json.dumps(INITIALIZE), headers={"content-type": "text/plain"}),
            await http.post(
                "/mcp", json=INITIALIZE, headers={"content-type": "application/json", "accept": "text/html"}
            ),
        ]
        assert [r.status_code >= 400 for r in refused] == [True] * len(refused)
        assert app.session_count == 0


async def test_a_session_answers_only_the_client_that_created_it(kit) -> None:
    async with front(kit) as (app, http):
        session = await _initialize(http, "client-a")
        mine = {**ACCEPT, "user-agent": "client-a", "mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
        theirs = {**mine, "user-agent": "client-b"}
        await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=mine)
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        assert (await http.post("/mcp", json=listing, headers=theirs)).status_code == 404
        assert (await http.delete("/mcp", headers=theirs)).status_code == 404
        assert app.session_count == 1
        tools = _data(await http.post("/mcp", json=listing, headers=mine))
        assert [tool["name"] for tool in tools["result"]["tools"]] == ["files__echo"]
        assert (await http.delete("/mcp", headers=mine)).status_code == 200
        assert app.session_count == 0
        assert (await http.post("/mcp", json=listing, headers=mine)).status_code == 404


async def test_idle_sessions_end_and_their_number_is_capped(kit) -> None:
    async with front(kit, max_sessions=2, session_idle_timeout=0.2) as (app, http):
        first = await _initialize(http)
        await _initialize(http)
        assert (await http.post("/mcp", json=INITIALIZE, headers=ACCEPT)).status_code == 503
        for _ in range(200):  # the sweeper looks every 0.05 s: ten seconds at most
            if not app.session_count:
                break
            await anyio.sleep(0.05)
        assert app.session_count == 0
        headers = {**ACCEPT, "user-agent": "client-a", "mcp-session-id": first}
        ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        assert (await http.post("/mcp", json=ping, headers=headers)).status_code == 404
        await _initialize(http)
        assert app.session_count == 1


async def _bare(app: HttpFront, method: str, headers: list[tuple[bytes, bytes]]) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b'{"jsonrpc":"2.0","id":1,"method":"tools/call"}', "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "method": method, "path": "/mcp", "headers": headers, "client": ("127.0.0.1", 1)}
    await app(scope, receive, send)
    return status


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sessions_and_memory_stay_flat_under_a_hundred_thousand_bad_requests(kit) -> None:
    host = [(b"host", b"127.0.0.1:8765")]
    kinds = [
        ("GET", host),
        ("OPTIONS", host),
        ("POST", [*host, (b"content-type", b"text/plain")]),
        ("POST", [*host, (b"content-type", b"application/json"), (b"accept", b"application/json")]),
        ("DELETE", host),
    ]
    async with front(kit) as (app, _http):
        for index in range(2_000):  # warm every path before measuring
            await _bare(app, *kinds[index % len(kinds)])
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for index in range(100_000):
                assert await _bare(app, *kinds[index % len(kinds)]) == 400
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert app.session_count == 0
        assert grown < 256 * 1024, f"{grown} bytes kept after 100,000 refused requests"
