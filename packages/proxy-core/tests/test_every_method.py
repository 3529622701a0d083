"""Every method that reaches an upstream is decided by the policy, or listed as relayed without a decision."""

from __future__ import annotations

import logging
import pathlib

import pytest

from inherence_proxy_core._methods import DECIDED_METHODS, UNDECIDED_METHODS

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


async def test_completion_of_a_prompt_argument_is_decided_with_its_name_value_and_ref(kit) -> None:
    upstream = kit.FakeUpstream("files")
    async with kit.running([upstream]) as (_, client, policy):
        params = {
            "ref": {"type": "ref/prompt", "name": "files__greet"},
            "argument": {"name": "who", "value": "token ghp_abcdefghijklmnopqrstuvwxyz0123456789"},
            "context": {"arguments": {"tone": "warm"}},
        }
        answer = await client.request("completion/complete", params)
    assert "result" in answer
    decided = policy.decisions[0]
    assert decided.kind == "prompt"
    assert decided.tool_name == "files__completion_complete"
    assert decided.upstream == "files"
    assert decided.arguments == {
        "prompt": "files__greet",
        "tone": "warm",
        "who": "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    }
    assert upstream.calls[0]["params"]["ref"] == {"type": "ref/prompt", "name": "greet"}


async def test_a_denied_completion_never_reaches_the_upstream(kit) -> None:
    upstream = kit.FakeUpstream("files")
    async with kit.running([upstream]) as (_, client, policy):
        policy.deny("files__completion_complete", reason="a secret in a completion", clause="secret.block")
        params = {
            "ref": {"type": "ref/resource", "uri": "memo://files/{name}"},
            "argument": {"name": "name", "value": "anything"},
        }
        answer = await client.request("completion/complete", params)
    assert answer["error"]["data"]["error"] == "POLICY_DENIAL"
    assert policy.decisions[0].kind == "resource"
    assert policy.decisions[0].arguments == {"uri": "memo://files/{name}", "name": "anything"}
    assert upstream.calls == []


@pytest.mark.parametrize("method", ["resources/subscribe", "resources/unsubscribe"])
async def test_a_subscription_is_decided_like_a_read_of_its_uri(kit, method: str) -> None:
    upstream = kit.FakeUpstream("files")
    async with kit.running([upstream]) as (_, client, policy):
        policy.deny("files__resources_*", reason="credentials", clause="credential.read")
        denied = await client.request(method, {"uri": "memo://files/note"})
        policy.allow("files__resources_*")
        allowed = await client.request(method, {"uri": "memo://files/note"})
    assert denied["error"]["data"]["error"] == "POLICY_DENIAL"
    assert "result" in allowed
    decided = policy.decisions[0]
    assert decided.kind == "resource"
    assert decided.tool_name == f"files__{method.replace('/', '_')}"
    assert decided.arguments == {"uri": "memo://files/note"}
    assert [c["method"] for c in upstream.calls] == [method]


async def test_a_subscription_the_policy_cannot_decide_fails_closed(kit) -> None:
    upstream = kit.FakeUpstream("files")
    async with kit.running([upstream]) as (_, client, policy):
        policy.unreachable()
        answer = await client.request("resources/subscribe", {"uri": "memo://files/note"})
    assert answer["error"]["data"]["error"] == "POLICY_GATE_UNREACHABLE"
    assert upstream.calls == []


async def test_relayed_methods_without_a_decision_are_logged(kit, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="inherence_proxy_core")
    upstream = kit.FakeUpstream("files")
    async with kit.running([upstream]) as (_, client, policy):
        await client.request("logging/setLevel", {"level": "debug"})
    assert policy.decisions == []
    assert "logging/setLevel relayed without a decision" in caplog.text


def test_every_relayed_method_is_decided_or_deliberately_undecided(kit) -> None:
    from inherence_proxy_core._hub import Hub

    hub = Hub.__new__(Hub)
    Hub.__init__(hub, gate=None, settings=kit.FAST)  # type: ignore[arg-type]
    assert not DECIDED_METHODS & UNDECIDED_METHODS
    assert set(hub.relayed) <= DECIDED_METHODS | UNDECIDED_METHODS
    assert set(hub.relayed) >= DECIDED_METHODS


def test_the_readme_lists_every_method_and_whether_it_is_decided() -> None:
    text = README.read_text(encoding="utf-8")
    for method in sorted(DECIDED_METHODS | UNDECIDED_METHODS):
        assert f"`{method}`" in text, method
