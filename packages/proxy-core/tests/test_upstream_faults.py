"""One upstream failing in any way leaves the others serving, and says why it is down."""

from __future__ import annotations

import json
from typing import Any


def payload(result: dict[str, Any]) -> dict[str, Any]:
    assert result["isError"] is True
    return json.loads(result["content"][0]["text"])  # type: ignore[no-any-return]


async def test_an_upstream_refused_inside_a_task_group_is_down_with_its_reason_and_the_rest_serves(kit) -> None:
    down, good = kit.FakeUpstream("remote"), kit.FakeUpstream("local")
    refused = ConnectionRefusedError(111, "Connection refused")
    try:
        raise OSError("All connection attempts failed") from refused
    except OSError as exc:
        down.refuse = exc
    async with kit.running([down, good]) as (gateway, client, _):
        tools = (await client.request("tools/list"))["result"]["tools"]
        assert [t["name"] for t in tools] == ["local__echo"]
        assert (await client.call("local__echo", {"text": "hi"}))["structuredContent"] == {"arguments": {"text": "hi"}}
        assert payload(await client.call("remote__anything", {})) == {
            "error": "UPSTREAM_UNAVAILABLE",
            "upstream": "remote",
            "reason": "connection refused",
        }
        status = {u.name: u for u in gateway.status().upstreams}
        assert (status["remote"].state, status["remote"].reason) == ("failed", "connection refused")
        assert status["local"].state == "ready"


async def test_clients_hear_which_upstream_is_down_and_why_also_when_they_come_later(kit) -> None:
    down = kit.FakeUpstream("remote")
    down.hang_initialize = True
    async with kit.running([down, kit.FakeUpstream("local")]) as (gateway, _first, _):
        ours, theirs = kit.channel_pair()
        later = kit.TestClient(ours)
        gateway.hub.task_group.start_soon(gateway.serve, theirs)
        gateway.hub.task_group.start_soon(later.pump)
        await later.initialize()
        notes = [await later.wait_for("notifications/message")]
        await ours.aclose()
        await theirs.aclose()
    for note in notes:
        params = note["params"]
        assert (params["level"], params["data"]["upstream"]) == ("warning", "remote")
        assert params["data"]["reason"] == "no answer to initialize within 1 s"


async def test_each_upstream_is_told_exactly_the_capabilities_the_client_declared(kit) -> None:
    declared = {"roots": {"listChanged": True}, "sampling": {}}
    plain, capable = kit.FakeUpstream("plain"), kit.FakeUpstream("capable")
    async with kit.running([plain]):
        pass
    async with kit.running([capable], capabilities=declared):
        pass
    (told_plain,) = [m["params"]["capabilities"] for m in plain.received if m.get("method") == "initialize"]
    (told_capable,) = [m["params"]["capabilities"] for m in capable.received if m.get("method") == "initialize"]
    assert told_plain == {}
    assert told_capable == declared


async def test_an_upstream_request_during_one_clients_call_is_never_put_to_another_client(kit) -> None:
    upstream = kit.FakeUpstream("files", [kit.echo_tool("ask")])
    async with kit.running([upstream], capabilities={}) as (gateway, first, _):
        ours, theirs = kit.channel_pair()
        second = kit.TestClient(ours)
        second.on_request = lambda message: {"role": "assistant", "content": {"type": "text", "text": "leaked"}}
        gateway.hub.task_group.start_soon(gateway.serve, theirs)
        gateway.hub.task_group.start_soon(second.pump)
        await second.initialize({"sampling": {}})
        result = await first.call("files__ask", {})
        await ours.aclose()
        await theirs.aclose()
    answer = json.loads(result["content"][0]["text"])
    assert "error" in answer
    assert second.requests == []
