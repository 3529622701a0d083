"""A home left by inherence-proxy 0.1.11 keeps working after the upgrade, with no action by the user."""

from __future__ import annotations

import json

import pytest
from fake_policy import Deny

from inherence_proxy import __version__

from .conftest import EXECUTABLE, Machine, denial, tool_text

pytestmark = pytest.mark.slow

BACKUP_NAME = "claude_desktop_config.json.bak_inherence.20260602T091455"


def _home_of_0_1_11(machine: Machine, fake_policy) -> dict[str, bytes]:
    """The exact files 0.1.11 leaves: config.json, classifications.json, proxy.pid, wrapped config, backup."""
    desktop = machine.client_file("claude-desktop")
    desktop.parent.mkdir(parents=True)
    original = {"globalShortcut": "Ctrl+Space", "mcpServers": {"filesystem": machine.demo_server("legacy")}}
    (desktop.parent / BACKUP_NAME).write_text(json.dumps(original, indent=2) + "\n")
    wrapped = {
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {"inherence": {"command": str(EXECUTABLE), "args": ["serve"]}},
    }
    desktop.write_text(json.dumps(wrapped, indent=2) + "\n")
    demo = machine.demo_server("legacy")
    config = {
        "api_key": fake_policy.api_key,
        "hosted_endpoint": fake_policy.base_url,
        "upstreams": [{"name": "filesystem", "command": [demo["command"], *demo["args"]], "env": demo["env"],
                       "cwd": None, "transport": "stdio"}],
        "migrated_at": "2026-06-02T09:14:55.123456+00:00",
        "client_type": "claude_desktop",
        "client_config_path": str(desktop),
        "migrated_clients": [{"name": "claude_desktop", "config_path": str(desktop), "upstream_names": ["filesystem"]}],
    }  # fmt: skip
    machine.proxy_home.mkdir(mode=0o700)
    (machine.proxy_home / "config.json").write_text(json.dumps(config, indent=2))
    (machine.proxy_home / "config.json").chmod(0o600)
    classified = [{"schema_hash": "sha256:" + "0" * 64, "tool_name": "filesystem__old_tool", "category": "file_read",
                   "source": "llm", "confidence": 0.9}]  # fmt: skip
    (machine.proxy_home / "classifications.json").write_text(json.dumps(classified))
    (machine.proxy_home / "proxy.pid").write_text("999999999\n1700000000\n")  # a proxy of an earlier boot
    return {
        "config.json": (machine.proxy_home / "config.json").read_bytes(),
        "original": (desktop.parent / BACKUP_NAME).read_bytes(),
    }


async def test_serve_status_and_restore_work_on_an_unchanged_0_1_11_home(machine: Machine, fake_policy) -> None:
    files = _home_of_0_1_11(machine, fake_policy)
    fake_policy.decide(Deny("*run_command", reason="no shells here"))
    async with machine.client_session("claude-desktop") as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        assert "filesystem__read_file" in tools  # the 0.1.x exposed names
        allowed = await session.call_tool("filesystem__read_file", {"path": "notes.txt"})
        assert tool_text(allowed) == "standup at ten\n"
        refused = denial(await session.call_tool("filesystem__run_command", {"command": "ls"}))
        assert refused == {"error": "POLICY_DENIAL", "reason": "no shells here", "failed_clauses": ["fake_policy.deny"],
                           "receipt_id": refused["receipt_id"]}  # fmt: skip
        status = machine.json("status")
        # A 0.1.x wrapped entry starts `serve` with no client name: that is the `default` proxy.
        running = {p["client"]: (p["running"], p["served_by_default"]) for p in status["proxies"]}
        assert running == {"claude-desktop": (False, True), "default": (True, False)}
        assert "served by the default proxy (0.1.x entry)" in machine.cli("status").stdout
        assert (machine.proxy_home / "proxy-default.pid").exists()
    assert machine.received("legacy") == ["read_file"]
    registered = fake_policy.requests_to("register")[0].json["upstreams"]
    assert registered == [{"name": "filesystem", "transport": "stdio", "tool_count": 5}]
    heartbeat = fake_policy.requests_to("heartbeat")[0].json
    assert (heartbeat["proxy_version"], heartbeat["upstream_count"], heartbeat["tool_count"]) == (__version__, 1, 5)
    decide = fake_policy.requests_to("decide")
    assert [r.json["tool_name"] for r in decide] == ["filesystem__read_file", "filesystem__run_command"]
    assert decide[0].headers.get("authorization") == f"Bearer {fake_policy.api_key}"
    assert not (machine.proxy_home / "proxy.pid").exists()  # the stale 0.1.x PID file was taken over
    assert (machine.proxy_home / "config.json").read_bytes() == files["config.json"]
    cache = json.loads((machine.proxy_home / "classifications.json").read_text())
    assert "sha256:" + "0" * 64 in {entry["schema_hash"] for entry in cache}
    log = (machine.proxy_home / "proxy.log").read_text()
    assert fake_policy.api_key not in log
    assert f"inh_…{fake_policy.api_key[-4:]}" in log

    assert status["policy"]["endpoint"] == fake_policy.base_url
    assert status["policy"]["key"] == f"inh_…{fake_policy.api_key[-4:]}"
    assert status["policy"]["healthy"] is True
    assert status["upstreams"][0]["clients"] == ["claude-desktop"]
    assert status["clients"][0]["clean"] is True

    restored = machine.cli("restore")
    assert restored.returncode == 0, restored.stderr
    assert machine.client_file("claude-desktop").read_bytes() == files["original"]
    assert json.loads((machine.proxy_home / "config.json").read_text())["migrated_clients"] == []
