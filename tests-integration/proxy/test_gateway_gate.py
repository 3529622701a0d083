"""With a real fake hosted policy: a call that is not allowed never reaches the upstream process."""

from __future__ import annotations

import json

import pytest
from fake_policy import CloseConnection, Deny, MalformedJson, Status


def recording(kit, tmp_path) -> tuple[list[dict], object]:
    record = tmp_path / "record.jsonl"
    upstream = {
        "name": "rec",
        "command": [__import__("sys").executable, kit.recording_server],
        "env": {"RECORD_FILE": str(record)},
    }
    return [upstream], record


def recorded(record) -> list[dict]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


async def test_an_allowed_call_arrives_unchanged(kit, tmp_path, fake_policy) -> None:
    upstreams, record = recording(kit, tmp_path)
    arguments = {"value": None, "nested": {"a": [1, None, {"b": "c"}]}}
    async with kit.through_gateway(tmp_path, upstreams, policy=fake_policy.base_url, api_key=fake_policy.api_key) as s:
        result = await s.call_tool("rec__record", arguments)
    assert result.is_error is False
    assert result.structured_content == {"arguments": arguments}
    assert result.meta is not None
    assert result.meta["inherence_decision"] == "allow"
    calls = recorded(record)
    assert [c["params"]["arguments"] for c in calls] == [arguments]
    assert calls[0]["params"]["name"] == "record"
    decide = fake_policy.requests_to("decide")[0].json
    assert decide["tool_name"] == "rec__record"
    assert decide["upstream"] == "rec"
    assert decide["fingerprint"].startswith("sha256:")
    assert decide["session_id"]
    assert decide["arguments"] == arguments


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (Deny(), "POLICY_DENIAL"),
        (Status(500), "POLICY_GATE_UNREACHABLE"),
        (Status(400), "POLICY_GATE_UNREACHABLE"),
        (Status(401), "POLICY_GATE_AUTH"),
        (CloseConnection(), "POLICY_GATE_UNREACHABLE"),
        (MalformedJson(), "POLICY_GATE_UNREACHABLE"),
    ],
    ids=["deny", "500", "400", "401", "hangup", "malformed"],
)
async def test_a_call_without_allow_never_reaches_the_upstream(kit, tmp_path, fake_policy, behaviour, error) -> None:
    upstreams, record = recording(kit, tmp_path)
    fake_policy.decide(behaviour)
    async with kit.through_gateway(tmp_path, upstreams, policy=fake_policy.base_url, api_key=fake_policy.api_key) as s:
        result = await s.call_tool("rec__record", {"value": "rm -rf /"})
        read_denied = error == "POLICY_DENIAL"
        if read_denied:
            with pytest.raises(Exception, match="POLICY_DENIAL"):
                await s.read_resource("record://note")
    assert result.is_error is True
    assert json.loads(result.content[0].text)["error"] == error
    assert recorded(record) == []


async def test_an_unreachable_policy_fails_closed(kit, tmp_path) -> None:
    upstreams, record = recording(kit, tmp_path)
    async with kit.through_gateway(tmp_path, upstreams, policy="http://127.0.0.1:9", api_key="inh_x") as s:
        result = await s.call_tool("rec__record", {"value": 1})
    assert json.loads(result.content[0].text)["error"] == "POLICY_GATE_UNREACHABLE"
    assert recorded(record) == []
