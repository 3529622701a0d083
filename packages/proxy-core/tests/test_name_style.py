"""`GatewaySettings(names="upstream")`: the upstreams' own tool and prompt names, and what a collision does."""

from __future__ import annotations

import dataclasses

import pytest

from inherence_proxy_core import Gateway, GatewaySettings, GatewayUsageError, UpstreamConfig


async def test_upstream_names_are_exposed_and_routed_while_the_policy_sees_the_prefixed_name(kit) -> None:
    upstream = kit.FakeUpstream("files")
    settings = dataclasses.replace(kit.FAST, names="upstream")
    async with kit.running([upstream], settings=settings) as (_, client, policy):
        tools = (await client.request("tools/list"))["result"]["tools"]
        prompts = (await client.request("prompts/list"))["result"]["prompts"]
        result = await client.call("echo", {"text": "hi"})
        prompt = await client.request("prompts/get", {"name": "greet", "arguments": {"who": "you"}})
        prefixed = await client.call("files__echo", {})
    assert [t["name"] for t in tools] == ["echo"]
    assert [p["name"] for p in prompts] == ["greet"]
    assert result["structuredContent"] == {"arguments": {"text": "hi"}}
    assert "result" in prompt
    assert [c["params"]["name"] for c in upstream.calls] == ["echo", "greet"]
    assert policy.decisions[0].tool_name == "files__echo"
    assert "TOOL_NOT_FOUND" in prefixed["content"][0]["text"]


async def test_the_default_keeps_the_prefixed_names(kit) -> None:
    async with kit.running([kit.FakeUpstream("files")]) as (_, client, _policy):
        tools = (await client.request("tools/list"))["result"]["tools"]
    assert [t["name"] for t in tools] == ["files__echo"]


@pytest.mark.parametrize("count", [0, 2, 3])
def test_upstream_names_take_any_number_of_upstreams(count: int) -> None:
    upstreams = [UpstreamConfig(f"u{i}", command=["unused"]) for i in range(count)]
    Gateway(upstreams, policy=object(), settings=GatewaySettings(names="upstream"))  # type: ignore[arg-type]


async def test_several_upstreams_keep_their_own_names_and_the_policy_sees_the_prefixed_ones(kit) -> None:
    files = kit.FakeUpstream("files", [kit.echo_tool("read_file")])
    files.prompts = [{"name": "summarise"}]
    shell = kit.FakeUpstream("shell", [kit.echo_tool("run")])
    settings = dataclasses.replace(kit.FAST, names="upstream")
    async with kit.running([files, shell], settings=settings) as (gateway, client, policy):
        gateway.check_names()
        tools = (await client.request("tools/list"))["result"]["tools"]
        prompts = (await client.request("prompts/list"))["result"]["prompts"]
        await client.call("run", {"text": "hi"})
        await client.call("read_file", {})
    assert sorted(t["name"] for t in tools) == ["read_file", "run"]
    assert sorted(p["name"] for p in prompts) == ["greet", "summarise"]
    assert [d.tool_name for d in policy.decisions] == ["shell__run", "files__read_file"]
    assert [c["params"]["name"] for c in shell.tool_calls] == ["run"]


async def test_two_upstreams_offering_one_name_refuse_to_start_naming_both(kit) -> None:
    first, second = kit.FakeUpstream("alpha"), kit.FakeUpstream("beta", [kit.echo_tool("other")])
    settings = dataclasses.replace(kit.FAST, names="upstream")
    async with kit.running([first, second], settings=settings) as (gateway, _client, _policy):
        with pytest.raises(GatewayUsageError) as caught:
            gateway.check_names()
    message = str(caught.value)
    assert "prompt named 'greet'" in message
    assert "alpha" in message
    assert "beta" in message


async def test_a_collision_found_later_keeps_the_first_upstreams_tool_logs_and_warns(kit, caplog) -> None:
    first = kit.FakeUpstream("alpha")
    late = kit.FakeUpstream("beta", [kit.echo_tool("echo", description="the late one")])
    late.prompts = []
    late.refuse = ConnectionRefusedError("refused")
    settings = dataclasses.replace(kit.FAST, names="upstream")
    async with kit.running([first, late], settings=settings) as (gateway, client, policy):
        gateway.check_names()
        late.refuse = None
        note = await _warning_naming(client, "echo")
        result = await client.call("echo", {"text": "hi"})
        tools = (await client.request("tools/list"))["result"]["tools"]
    assert [t["name"] for t in tools] == ["echo"]
    assert result["_meta"]["upstream"] == "alpha"
    assert note["params"]["data"]["upstreams"] == ["alpha", "beta"]
    assert policy.decisions[0].tool_name == "alpha__echo"
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("echo" in text and "alpha" in text and "beta" in text for text in errors)


async def _warning_naming(client, name: str) -> dict:
    import anyio

    with anyio.fail_after(10):
        while True:
            note = await client.wait_for("notifications/message")
            if note["params"]["level"] == "warning" and note["params"]["data"].get("name") == name:
                return note


def test_an_unknown_name_style_is_refused() -> None:
    with pytest.raises(GatewayUsageError, match="'names'"):
        GatewaySettings(names="short")  # type: ignore[arg-type]
