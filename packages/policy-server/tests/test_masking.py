"""Secrets never reach the decision log or the server's log lines."""

from __future__ import annotations

import logging

import httpx2
import pytest

from inherence_policy_server import create_app, issue_key
from inherence_policy_server._masking import _SECRET_VALUE, MASK, mask_arguments, mask_text

from .conftest import SCRIPTED_CONFIG, START, scripted_evaluator

SECRETS = [
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_" + "a1B2" * 9,
    "sk-proj-" + "x" * 40,
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "xoxb-123456789012-abcdefghijkl",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "inh_0123456789ab_" + "k" * 43,
]


@pytest.mark.parametrize("secret", SECRETS)
def test_token_formats_are_masked_anywhere_in_the_arguments(secret: str) -> None:
    masked = mask_arguments({"nested": [{"body": f"here it is: {secret} thanks"}]})
    text = repr(masked)
    assert secret not in text
    assert MASK in text
    assert "here it is" in text


@pytest.mark.parametrize(
    "text",
    [
        "password=hunter22",
        "PASSWORD = hunter22",
        "api-key: abcdefgh",
        # Case-insensitive matching lets these non-ASCII letters stand for ASCII ones.
        "pa\u017fsword=hunter22",
        "ap\u0131key: abcdefgh",
        "\u212aelvin token=abcdefgh",
        "curl -H 'Authorization: Bearer abcdefghijkl' https://x.example",
    ],
)
def test_assignments_and_headers_are_masked_however_they_are_spelled(text: str) -> None:
    masked = mask_text(text)
    assert MASK in masked
    assert masked == _SECRET_VALUE.sub(MASK, text)


def test_values_under_secret_keys_are_masked_and_the_rest_kept() -> None:
    masked = mask_arguments({"password": "hunter2", "Authorization": "x", "apiKey": 12345, "path": "/tmp/a"})
    assert masked == {"password": MASK, "Authorization": MASK, "apiKey": MASK, "path": "/tmp/a"}


def test_size_is_bounded() -> None:
    deep: object = 1
    for _ in range(40):
        deep = [deep]
    masked = mask_arguments({"big": "a" * 100_000, "many": list(range(10_000)), "deep": deep})
    assert len(masked["big"]) < 3000
    assert len(masked["many"]) == 201
    assert "nested too deep" in repr(masked["deep"])


async def test_keys_and_tokens_stay_out_of_logs_and_the_decision_log(tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(data_dir=tmp_path, evaluator=scripted_evaluator, config=SCRIPTED_CONFIG, clock=lambda: START)
    issued = issue_key(START)
    app.storage.add_key(issued.record)
    headers = {"Authorization": f"Bearer {issued.secret_key}"}
    arguments = {"command": f"curl -H 'Authorization: Bearer {issued.secret_key}' x", "aws": SECRETS[0]}
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://p") as client:
            body = {"tool_name": "run", "classification": "shell_exec", "arguments": arguments}
            assert (await client.post("/api/proxy/decide", json=body, headers=headers)).status_code == 200
            broken = {"tool_name": "run", "classification": "shell_exec", "arguments": {**arguments, "x": "BOOM"}}
            assert (await client.post("/api/proxy/decide", json=broken, headers=headers)).json()["decision"] == "deny"
            bad = {"Authorization": f"Bearer {issued.secret_key}x"}
            assert (await client.post("/api/proxy/decide", json=body, headers=bad)).status_code == 401
        app.flush()
        stored = [repr(entry) for entry in app.storage.recent_decisions()]
        database = b"".join(path.read_bytes() for path in tmp_path.glob("policy.sqlite3*"))
    finally:
        app.close()
    assert len(stored) == 2
    assert any("evaluation of a shell_exec call failed" in record.getMessage() for record in caplog.records)
    for secret in (issued.secret_key, SECRETS[0]):
        assert secret not in caplog.text
        assert all(secret not in entry for entry in stored)
        assert secret.encode() not in database
