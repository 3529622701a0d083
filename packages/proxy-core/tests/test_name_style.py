"""`GatewaySettings(names="upstream")`: one upstream's own tool and prompt names, refused with more upstreams."""

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


@pytest.mark.parametrize("count", [0, 2])
def test_upstream_names_need_exactly_one_upstream(count: int) -> None:
    upstreams = [UpstreamConfig(f"u{i}", command=["unused"]) for i in range(count)]
    with pytest.raises(GatewayUsageError, match="exactly one upstream"):
        Gateway(upstreams, policy=object(), settings=GatewaySettings(names="upstream"))  # type: ignore[arg-type]


def test_an_unknown_name_style_is_refused() -> None:
    with pytest.raises(GatewayUsageError, match="'names'"):
        GatewaySettings(names="short")  # type: ignore[arg-type]
