"""`subscriptions/listen` over the HTTP front: an event stream that stays open, bounded, freed when closed."""

from __future__ import annotations

import contextlib
import functools
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2

from inherence_proxy_core import HttpFront, ListenLimits

PROTOCOL = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
SUBSCRIPTION = "io.modelcontextprotocol/subscriptionId"
ENVELOPE = {PROTOCOL: "2026-07-28", CAPABILITIES: {}}


def _headers(
    method: str, agent: str = "client-a", accept: str = "application/json, text/event-stream"
) -> dict[str, str]:
    return {
        "accept": accept,
        "content-type": "application/json",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": method,
        "user-agent": agent,
    }


def _listen(request_id: Any, **wanted: Any) -> dict[str, Any]:
    params = {"notifications": wanted or {"toolsListChanged": True}, "_meta": ENVELOPE}
    return {"jsonrpc": "2.0", "id": request_id, "method": "subscriptions/listen", "params": params}


@contextlib.asynccontextmanager
async def http_front(
    kit: Any, upstreams: list[Any], wrap: Any = None, **limits: Any
) -> AsyncIterator[tuple[HttpFront, Any]]:
    """A real HTTP front (uvicorn on a free loopback port) before the gateway: (front, client).

    `wrap(app)`, when given, is the ASGI app uvicorn serves instead of the front itself."""
    import uvicorn

    async with kit.running(upstreams) as (gateway, _client, _policy), anyio.create_task_group() as tasks:
        app = HttpFront(gateway, tasks, listen_limits=ListenLimits(**limits))
        served = wrap(app) if wrap is not None else app
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        config = uvicorn.Config(served, lifespan="off", log_config=None, access_log=False)
        server = uvicorn.Server(config)
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        tasks.start_soon(functools.partial(server.serve, sockets=[sock]))
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False) as http:
            try:
                yield app, http
            finally:
                server.should_exit = True
                tasks.cancel_scope.cancel()
                sock.close()


async def _events(response: Any) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield json.loads(line[5:])


async def _until(condition: Any) -> None:
    with anyio.fail_after(30):
        for _ in range(3000):
            if condition():
                return
            await anyio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_a_list_change_reaches_the_open_listen_stream(kit) -> None:
    upstream = kit.FakeUpstream("notes")
    async with http_front(kit, [upstream]) as (app, http):
        discover = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": ENVELOPE}}
        offered = (await http.post("/mcp", json=discover, headers=_headers("server/discover"))).json()
        body = _listen("listen-1", toolsListChanged=True, promptsListChanged=True)
        with anyio.fail_after(30):
            async with http.stream("POST", "/mcp", json=body, headers=_headers("subscriptions/listen")) as response:
                events = _events(response)
                ack = await events.__anext__()
                assert app.listen_count == 1
                upstream.tools = [*upstream.tools, kit.echo_tool("shout")]
                await upstream.notify("notifications/tools/list_changed")
                changed = await events.__anext__()
            await _until(lambda: app.listen_count == 0)
    assert offered["result"]["capabilities"]["tools"] == {"listChanged": True}
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["notifications"] == {"toolsListChanged": True, "promptsListChanged": True}
    assert ack["params"]["_meta"] == {SUBSCRIPTION: "listen-1"}
    assert changed == {
        "jsonrpc": "2.0",
        "method": "notifications/tools/list_changed",
        "params": {"_meta": {SUBSCRIPTION: "listen-1"}},
    }


async def test_listen_streams_are_capped_per_client_and_overall_and_freed_when_closed(kit) -> None:
    async with http_front(kit, [kit.FakeUpstream("notes")], per_client=2, overall=3) as (app, http):
        readers = []
        async with contextlib.AsyncExitStack() as streams:
            for n, agent in enumerate(["client-a", "client-a", "client-b"]):
                response = await streams.enter_async_context(
                    http.stream("POST", "/mcp", json=_listen(n), headers=_headers("subscriptions/listen", agent))
                )
                # Kept: a reader dropped would close its response.
                readers.append(_events(response))
                await readers[-1].__anext__()
            assert app.listen_count == 3
            third_of_a = await http.post("/mcp", json=_listen(9), headers=_headers("subscriptions/listen", "client-a"))
            fourth = await http.post("/mcp", json=_listen(9), headers=_headers("subscriptions/listen", "client-c"))
        await _until(lambda: app.listen_count == 0)
        # Closed streams free their slots: the same client may listen again.
        async with http.stream(
            "POST", "/mcp", json=_listen(10), headers=_headers("subscriptions/listen", "client-a")
        ) as again:
            again_reader = _events(again)
            reopened = await again_reader.__anext__()
        await _until(lambda: app.listen_count == 0)
    assert third_of_a.status_code == 429
    assert third_of_a.json()["id"] == 9
    assert fourth.status_code == 503
    assert reopened["method"] == "notifications/subscriptions/acknowledged"


async def test_streams_opened_and_closed_leave_nothing_behind(kit) -> None:
    upstream = kit.FakeUpstream("notes")
    upstream.subscribe = True
    async with http_front(kit, [upstream]) as (app, http):
        hub = app._gateway.hub
        sessions_before = len(hub.sessions)
        for n in range(40):
            body = _listen(n, toolsListChanged=True, resourceSubscriptions=["memo://notes/note"])
            async with http.stream("POST", "/mcp", json=body, headers=_headers("subscriptions/listen")) as response:
                reader = _events(response)
                await reader.__anext__()
                open_now = (app.listen_count, len(hub.listeners))
            assert open_now == (1, 1)
        await _until(lambda: app.listen_count == 0 and len(hub.listeners) == 0)
        await _until(lambda: sum(1 for c in upstream.calls if c["method"] == "resources/unsubscribe") == 40)
        await _until(lambda: len(hub.sessions) == sessions_before)
        watched = dict(hub._watched)
    assert watched == {}


async def test_a_listen_needs_an_event_stream_and_a_valid_envelope(kit) -> None:
    async with http_front(kit, [kit.FakeUpstream("notes")]) as (app, http):
        json_only = await http.post(
            "/mcp", json=_listen(1), headers=_headers("subscriptions/listen", accept="application/json")
        )
        mismatched = await http.post("/mcp", json=_listen(2), headers=_headers("tools/list"))
        count = app.listen_count
    assert json_only.status_code == 406
    assert mismatched.status_code == 400
    assert mismatched.json()["error"]["code"] == -32020
    assert count == 0


async def test_a_quiet_stream_is_kept_alive(kit) -> None:
    async with http_front(kit, [kit.FakeUpstream("notes")], keepalive=0.05) as (app, http):
        with anyio.fail_after(30):
            async with http.stream("POST", "/mcp", json=_listen(1), headers=_headers("subscriptions/listen")) as quiet:
                lines = []
                async for line in quiet.aiter_lines():
                    lines.append(line)
                    if line.startswith(": ping"):
                        break
        await _until(lambda: app.listen_count == 0)
    assert lines[0] == "event: message"
    assert json.loads(lines[1][5:])["method"] == "notifications/subscriptions/acknowledged"


async def test_a_client_that_takes_no_write_loses_its_stream_and_its_slot(kit) -> None:
    """As a client that stops reading leaves the server's writes waiting: its stream ends, its slot frees."""
    upstream = kit.FakeUpstream("notes")
    stalled = anyio.Event()

    def stall_list_changes(app: Any) -> Any:
        async def served(scope: Any, receive: Any, send: Any) -> None:
            async def stalling(event: Any) -> None:
                if b"list_changed" in event.get("body", b""):
                    stalled.set()
                    await anyio.sleep_forever()
                await send(event)

            await app(scope, receive, stalling)

        return served

    async with http_front(kit, [upstream], stall_list_changes, queued=2, write_timeout=0.2) as (app, http):
        with anyio.fail_after(30):
            async with http.stream("POST", "/mcp", json=_listen(2), headers=_headers("subscriptions/listen")) as stream:
                reader = _events(stream)
                await reader.__anext__()
                for n in range(6):
                    # Each a real change: a notification that changes nothing is not passed on.
                    upstream.tools = [*upstream.tools, kit.echo_tool(f"tool{n}")]
                    await upstream.notify("notifications/tools/list_changed")
                await stalled.wait()
                # Freed by the server while the client still holds the response open.
                await _until(lambda: app.listen_count == 0)


async def test_a_resource_update_reaches_the_listen_stream_and_closing_it_unsubscribes(kit) -> None:
    upstream = kit.FakeUpstream("notes")
    upstream.subscribe = True
    body = _listen("listen-r", resourceSubscriptions=["memo://notes/note"])
    async with http_front(kit, [upstream]) as (app, http):
        with anyio.fail_after(30):
            async with http.stream("POST", "/mcp", json=body, headers=_headers("subscriptions/listen")) as response:
                reader = _events(response)
                ack = await reader.__anext__()
                await upstream.notify("notifications/resources/updated", {"uri": "memo://notes/note"})
                updated = await reader.__anext__()
        await _until(lambda: any(c["method"] == "resources/unsubscribe" for c in upstream.calls))
        count = app.listen_count
    assert ack["params"]["notifications"] == {"resourceSubscriptions": ["memo://notes/note"]}
    assert updated["method"] == "notifications/resources/updated"
    assert updated["params"] == {"uri": "memo://notes/note", "_meta": {SUBSCRIPTION: "listen-r"}}
    assert [c["method"] for c in upstream.calls] == ["resources/subscribe", "resources/unsubscribe"]
    assert count == 0


async def test_a_listen_naming_too_many_resources_is_refused_before_any_upstream(kit) -> None:
    upstream = kit.FakeUpstream("notes")
    upstream.subscribe = True
    uris = [f"memo://notes/{n}" for n in range(33)]
    async with http_front(kit, [upstream]) as (app, http):
        refused = await http.post(
            "/mcp", json=_listen(1, resourceSubscriptions=uris), headers=_headers("subscriptions/listen")
        )
        not_a_list = await http.post(
            "/mcp", json=_listen(2, resourceSubscriptions="memo://notes/note"), headers=_headers("subscriptions/listen")
        )
        count = app.listen_count
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == -32602
    assert "at most 32" in refused.json()["error"]["message"]
    assert not_a_list.json()["error"]["code"] == -32602
    assert upstream.calls == []
    assert count == 0
