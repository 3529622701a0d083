"""New rules in force: each weakening in the admin log, readable by the proxy's status; embedder paths kept."""

from __future__ import annotations

import datetime

import httpx2

from inherence_policy_client import DecideRequest, PolicyClient, Verdict
from inherence_policy_server import create_app, recent_rule_weakenings
from inherence_policy_server.rules import RulesConfig

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


def test_a_weakening_reload_is_in_the_admin_log(tmp_path) -> None:
    app = create_app(data_dir=tmp_path, require_key=False, clock=lambda: NOW)
    try:
        assert app.replace_config(RulesConfig.model_validate({"mass_destruction": {"bulk_delete_threshold": 10}})) == []
        weaker = app.replace_config(
            RulesConfig.model_validate({"credential_access": {"mode": "off"}}), source="/home/u/rules.toml"
        )
        assert weaker == [
            "credential_access.mode is now off (was enforce)",
            "mass_destruction.bulk_delete_threshold raised from 10 to 25",
        ]
    finally:
        app.close()
    [entry] = recent_rule_weakenings(tmp_path)
    assert entry.source == "/home/u/rules.toml"
    assert "credential_access.mode is now off" in entry.detail
    assert entry.at.startswith("2026-12-01T12:00:00")


def test_no_policy_state_yet_means_no_weakening(tmp_path) -> None:
    assert recent_rule_weakenings(tmp_path / "absent") == []


async def test_the_embedders_paths_stay_protected_across_reloads(tmp_path) -> None:
    home = tmp_path / "gate-home"
    app = create_app(data_dir=tmp_path / "policy", require_key=False, protected_paths=[str(home)])
    write = DecideRequest(
        tool_name="write_file",
        classification="file_write",
        arguments={"path": str(home / "rules.toml"), "content": "[rules.credential_access]\nmode='off'"},
        session_id="s",
    )
    try:
        async with PolicyClient(None, base_url="http://127.0.0.1", transport=httpx2.ASGITransport(app=app)) as client:
            first = await client.decide(write)
            app.replace_config(RulesConfig(), source="rules.toml")
            second = await client.decide(write)
    finally:
        app.close()
    for decision in (first, second):
        assert decision.decision is Verdict.DENY
        assert decision.failed_clauses == ["gate_integrity.protected_file"]
