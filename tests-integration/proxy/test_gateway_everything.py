"""server-everything direct and through the gateway: the same schemas, results, resources, prompts, progress."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import anyio
import pytest

INHERENCE_META = {"inherence_decision", "inherence_receipt", "inherence_receipt_id"}

# Deterministic tools and arguments; the others need a client capability or change state.
CALLS: dict[str, dict[str, Any]] = {
    "echo": {"message": "hello, with null below"},
    "get-sum": {"a": 2, "b": 40},
    "get-structured-content": {"location": "New York"},
    "get-annotated-message": {"messageType": "error", "includeImage": True},
    "get-tiny-image": {},
    "get-resource-links": {"count": 2},
    "get-resource-reference": {"resourceType": "Text", "resourceId": 1},
}


def without_inherence(dumped: dict[str, Any]) -> dict[str, Any]:
    """The result without our `_meta` keys and with server-everything's wall-clock stamps blanked."""
    meta = {k: v for k, v in (dumped.get("_meta") or {}).items() if k not in INHERENCE_META}
    text = json.dumps({**dumped, "_meta": meta or None})
    return json.loads(re.sub(r"\d{1,2}:\d{2}:\d{2}\s?[AP]M", "<time>", text))


# uvloop where it installs (what `serve` runs on), and asyncio's own loop (what serves everywhere else).
@pytest.mark.parametrize("loop", ["best", "asyncio"])
async def test_tools_results_resources_and_prompts_match_a_direct_connection(kit, tmp_path, fake_policy, loop) -> None:
    command = kit.everything()
    upstreams = [{"name": "everything", "command": command}]
    async with kit.session_to(command) as direct:
        direct_tools = {t.name: t.model_dump(by_alias=True) for t in (await direct.list_tools()).tools}
        direct_results = {n: (await direct.call_tool(n, a)).model_dump(by_alias=True) for n, a in CALLS.items()}
        direct_resources = (await direct.list_resources()).model_dump(by_alias=True)["resources"]
        direct_prompts = (await direct.list_prompts()).model_dump(by_alias=True)["prompts"]
        direct_read = (await direct.read_resource(direct_resources[0]["uri"])).model_dump(by_alias=True)
    async with kit.through_gateway(
        tmp_path, upstreams, policy=fake_policy.base_url, api_key=fake_policy.api_key, loop=loop
    ) as proxied:
        proxied_tools = {t.name: t.model_dump(by_alias=True) for t in (await proxied.list_tools()).tools}
        proxied_results = {}
        for name, arguments in CALLS.items():
            result = await proxied.call_tool(f"everything__{name}", arguments)
            assert result.meta is not None
            assert result.meta["inherence_decision"] == "allow"
            proxied_results[name] = without_inherence(result.model_dump(by_alias=True))
        proxied_resources = (await proxied.list_resources()).model_dump(by_alias=True)["resources"]
        proxied_prompts = (await proxied.list_prompts()).model_dump(by_alias=True)["prompts"]
        proxied_read = without_inherence(
            (await proxied.read_resource(direct_resources[0]["uri"])).model_dump(by_alias=True)
        )
        progress: list[float] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        with anyio.fail_after(30):
            await proxied.call_tool(
                "everything__trigger-long-running-operation",
                {"duration": 0.3, "steps": 3},
                progress_callback=on_progress,
            )
    assert set(proxied_tools) == {f"everything__{n}" for n in direct_tools}
    for name, tool in direct_tools.items():
        assert proxied_tools[f"everything__{name}"] == {**tool, "name": f"everything__{name}"}, name
    for name in CALLS:
        assert proxied_results[name] == without_inherence(direct_results[name]), name
    assert proxied_resources == direct_resources
    assert proxied_read == without_inherence(direct_read)
    assert [{**p, "name": f"everything__{p['name']}"} for p in direct_prompts] == proxied_prompts
    assert len(progress) == 3


async def _unused(*args: Any) -> Any:
    raise AssertionError("listing tools asks the client nothing")


@pytest.mark.parametrize("declares", ["nothing", "everything"])
async def test_tools_list_through_the_gateway_equals_a_direct_one_for_what_the_client_declares(
    kit, tmp_path, declares
) -> None:
    """server-everything offers tools that need roots, sampling or elicitation only to a client that has them."""
    callbacks = {}
    if declares == "everything":
        callbacks = {"sampling_callback": _unused, "elicitation_callback": _unused, "list_roots_callback": _unused}
    command = kit.everything()
    async with kit.session_to(command, **callbacks) as direct:
        direct_tools = {t.name: t.model_dump(by_alias=True) for t in (await direct.list_tools()).tools}
    async with kit.through_gateway(tmp_path, [{"name": "everything", "command": command}], **callbacks) as proxied:
        proxied_tools = {t.name: t.model_dump(by_alias=True) for t in (await proxied.list_tools()).tools}
    assert {name.removeprefix("everything__"): {**t, "name": name.removeprefix("everything__")}
            for name, t in proxied_tools.items()} == direct_tools  # fmt: skip
    needs_client = {"get-roots-list", "trigger-elicitation-request", "trigger-sampling-request"}
    assert (needs_client <= set(direct_tools)) is (declares == "everything")


async def test_a_client_that_asks_for_the_newest_revision_first_connects_and_calls(kit, tmp_path) -> None:
    """The SDK's default `Client` probes `server/discover` at its newest revision, and the gateway serves it."""
    from mcp import Client, StdioServerParameters
    from mcp_types.version import LATEST_MODERN_VERSION

    config = {
        "upstreams": [{"name": "everything", "command": kit.everything()}],
        "policy": "allow-all",
        "home": str(tmp_path / "home"),
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    runner = StdioServerParameters(command=sys.executable, args=[kit.runner, str(path)])
    async with Client(runner) as client:
        assert client.session.protocol_version == LATEST_MODERN_VERSION
        tools = await client.list_tools()
        assert "everything__echo" in {t.name for t in tools.tools}
        result = await client.call_tool("everything__echo", {"message": "newest"})
    assert result.content[0].text.endswith("newest")
    assert result.meta is not None
    assert result.meta["inherence_decision"] == "allow"
