"""Rule settings through the admin API: validated whole, applied live, saved with comments kept."""

from __future__ import annotations

import stat

import pytest

from inherence_policy_server import load_rules_config

from .support import BEARER, decide, new_key, payment


async def test_a_threshold_change_applies_to_the_next_decision_and_is_saved(client, board_app, config_path) -> None:
    key = await new_key(client)
    assert (await decide(client, key, payment(50, "acct_a"), board_app))["decision"] == "allow"
    answer = await client.put(
        "/api/admin/rules/financial_drain", json={"new_recipient_limit_cents": 1000}, headers=BEARER
    )
    assert answer.status_code == 200
    assert answer.json()["changed"] == ["new_recipient_limit_cents: 50000 -> 1000"]
    denied = await decide(client, key, payment(50, "vendor-b"), board_app)
    assert denied["decision"] == "deny"
    assert "new-recipient limit" in denied["reason"]
    text = config_path.read_text(encoding="utf-8")
    assert "# Rules of the test team." in text
    assert "# money is serious" in text
    assert "new_recipient_limit_cents = 1000" in text
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o640
    assert load_rules_config(config_path).financial_drain.new_recipient_limit_cents == 1000
    assert not [p for p in config_path.parent.iterdir() if p.name.endswith(".tmp")]


async def test_a_mode_change_turns_a_rule_off(client, board_app) -> None:
    key = await new_key(client)
    body = {"tool_name": "run", "classification": "shell_exec", "arguments": {"command": "rm -rf /"}}
    assert (await decide(client, key, body, board_app))["decision"] == "deny"
    await client.put("/api/admin/rules/mass_destruction", json={"mode": "log"}, headers=BEARER)
    assert (await decide(client, key, body, board_app))["decision"] == "allow_with_log"


async def test_lists_are_edited_as_lists(client, config_path) -> None:
    answer = await client.put(
        "/api/admin/rules/organisation", json={"email_domains": ["Example.com", "corp.test"]}, headers=BEARER
    )
    assert answer.status_code == 200
    assert load_rules_config(config_path).organisation.email_domains == ("example.com", "corp.test")


@pytest.mark.parametrize(
    ("section", "changes", "fields"),
    [
        ("financial_drain", {"per_call_limit_cents": -5}, {"per_call_limit_cents": "greater than or equal to 0"}),
        ("financial_drain", {"per_call_limit_cents": "lots"}, {"per_call_limit_cents": "must be a whole number"}),
        ("financial_drain", {"per_call_limit_cents": True}, {"per_call_limit_cents": "must be a whole number"}),
        ("financial_drain", {"mode": "sometimes"}, {"mode": "enforce"}),
        ("financial_drain", {"per_cal_limit_cents": 5}, {"per_cal_limit_cents": "unknown setting"}),
        ("financial_drain", {"hour_limit_cents": 900_000}, {"hour_limit_cents": "hour_limit_cents <= day_limit_cents"}),
        ("mass_destruction", {"bulk_delete_threshold": 0}, {"bulk_delete_threshold": "greater than or equal to 1"}),
        ("unauthorized_exfiltration", {"scan_secrets": "maybe"}, {"scan_secrets": "must be true or false"}),
        ("organisation", {"email_domains": "a.test"}, {"email_domains": "must be a list"}),
        ("no_such_rule", {"mode": "off"}, {"": "unknown section"}),
    ],
)
async def test_an_invalid_setting_is_named_and_nothing_changes(
    client, board_app, config_path, section, changes, fields
) -> None:
    before_file = config_path.read_bytes()
    before_config = board_app.config
    answer = await client.put(f"/api/admin/rules/{section}", json=changes, headers=BEARER)
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["error"] == "INVALID_SETTINGS"
    assert set(problem["fields"]) == set(fields)
    for name, words in fields.items():
        assert words in problem["fields"][name]
    assert config_path.read_bytes() == before_file
    assert board_app.config is before_config
    assert (await client.get("/api/admin/audit", headers=BEARER)).json()["events"] == []


async def test_a_change_that_cannot_be_saved_is_not_applied(client, board_app, config_path) -> None:
    config_path.unlink()
    config_path.mkdir()  # a folder where the file should be: the write fails
    before = board_app.config
    answer = await client.put("/api/admin/rules/mass_destruction", json={"bulk_delete_threshold": 3}, headers=BEARER)
    assert answer.status_code == 422
    assert "cannot write the config file" in answer.json()["fields"][""]
    assert board_app.config is before


async def test_a_body_that_is_not_an_object_is_refused(client) -> None:
    answer = await client.put("/api/admin/rules/financial_drain", content=b"[1]", headers=BEARER)
    assert answer.status_code == 400


async def test_a_rule_can_be_set_to_confirm_and_its_clause_modes_are_kept(client, board_app, config_path) -> None:
    answer = await client.put("/api/admin/rules/financial_drain", json={"mode": "confirm"}, headers=BEARER)
    assert answer.status_code == 200
    assert answer.json()["changed"] == ["mode: enforce -> confirm"]
    saved = load_rules_config(config_path).financial_drain
    assert saved.mode.value == "confirm"
    assert saved.clauses["new_recipient"].value == "off"  # set in the file, untouched by the form
    assert "# payees are vetted by the bank" in config_path.read_text(encoding="utf-8")
    refused = await client.put("/api/admin/rules/financial_drain", json={"clauses": {}}, headers=BEARER)
    assert refused.status_code == 422
    assert refused.json()["fields"] == {"clauses": "unknown setting"}
    ttl = await client.put("/api/admin/rules/confirmation", json={"approval_ttl_seconds": 120}, headers=BEARER)
    assert ttl.json()["changed"] == ["approval_ttl_seconds: 600 -> 120"]
    assert board_app.config.confirmation.approval_ttl_seconds == 120
