import json
import os

from inherence_proxy._errors import ExitCode
from inherence_proxy_core import ClientLock


def test_status_json_on_a_fresh_machine(machine, invoke) -> None:
    result = invoke(["status", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["config_exists"] is False
    assert facts["policy"]["mode"] == "embedded"
    assert facts["policy"]["healthy"] is True
    assert facts["upstreams"] == []
    assert facts["proxies"] == []
    assert facts["clients"] == []
    assert not machine.proxy_home.exists()  # status wrote nothing


def test_status_after_init_shows_upstreams_tools_drift_and_the_running_proxy(machine, invoke) -> None:
    machine.add_client("cursor", machine.demo_servers("tools"))
    machine.add_client("claude-desktop", {"gone": {"command": "no-such-mcp-server"}})
    assert invoke(["init", "--local", "--yes"]).exit_code == 0
    with ClientLock(machine.proxy_home, "cursor"):
        facts = json.loads(invoke(["status", "--json"]).output)
        text = invoke(["status"]).output
    upstreams = {u["name"]: u for u in facts["upstreams"]}
    assert upstreams["tools"]["tool_count"] == 5
    assert upstreams["tools"]["clients"] == ["cursor"]
    assert upstreams["tools"]["last_discovery"]
    assert upstreams["tools"]["last_error"] is None
    assert "not found" in upstreams["gone"]["last_error"]
    assert facts["classification_cache_size"] == 5
    proxies = {p["client"]: p for p in facts["proxies"]}
    assert proxies["cursor"] == {
        "client": "cursor",
        "running": True,
        "pid": os.getpid(),
        "stale_lock_files": [],
        "served_by_default": False,
    }
    assert proxies["claude-desktop"]["running"] is False
    assert [c["clean"] for c in facts["clients"]] == [True, True]
    rows = [line.split() for line in text.splitlines() if line.strip()]
    assert ["tools", "cursor", "stdio", "ready", "5"] in [row[:5] for row in rows]
    assert ["gone", "claude-desktop", "stdio", "down", "(failed)", "-"] in [row[:6] for row in rows]
    assert upstreams["gone"]["state"] == "failed"
    assert ["cursor", "running", "(pid", f"{os.getpid()})"] in rows


def test_status_masks_the_key_and_reports_an_unreachable_policy(machine, invoke) -> None:
    machine.proxy_home.mkdir()
    key = "inh_live_abcdefghijklmnopqrstuvwxyz0123"
    (machine.proxy_home / "config.json").write_text(
        json.dumps({"api_key": key, "hosted_endpoint": "http://127.0.0.1:9"})
    )
    result = invoke(["status"])
    assert result.exit_code == 0, result.output
    assert "key         inh_…0123" in result.output
    assert key not in result.output
    assert "unreachable" in result.output


def test_status_shows_drift_and_a_stale_lock(machine, invoke) -> None:
    machine.add_client("cursor", {"a": {"command": "a"}})
    assert invoke(["init", "--local", "--yes", "--no-discovery"]).exit_code == 0
    path = machine.client_file("cursor")
    wrapped = json.loads(path.read_text())
    wrapped["mcpServers"]["sneaky"] = {"command": "sneaky"}
    path.write_text(json.dumps(wrapped))
    (machine.proxy_home / "proxy-cursor.pid").write_text("999999999\n1\n")
    facts = json.loads(invoke(["status", "--json"]).output)
    assert facts["clients"][0]["bypassing"] == ["sneaky"]
    assert facts["proxies"][0]["stale_lock_files"] == [str(machine.proxy_home / "proxy-cursor.pid")]
    assert "bypassing: sneaky" in invoke(["status"]).output


def test_audit_fails_while_servers_bypass_and_passes_once_wrapped(machine, invoke) -> None:
    machine.add_client("cursor")
    result = invoke(["audit", "--json"])
    assert result.exit_code == ExitCode.BYPASS
    facts = json.loads(result.output.split("\nError:")[0])
    assert facts["clients"][0]["wrapped"] is False
    assert facts["clients"][0]["bypassing"] == ["server-name", "remote", "python-app"]
    assert invoke(["init", "--local", "--yes", "--no-discovery"]).exit_code == 0
    passed = invoke(["audit"])
    assert passed.exit_code == 0, passed.output
    assert "Cursor  user   " in passed.output


def test_audit_names_agents_with_built_in_tools_and_strict_fails_on_them(machine, invoke) -> None:
    (machine.home / ".codex").mkdir()
    (machine.home / ".claude").mkdir()
    result = invoke(["audit"])
    assert result.exit_code == 0, result.output
    assert "Claude Code" in result.output
    assert "Bash, Read, Write" in result.output
    assert "Codex CLI" in result.output
    assert "apply_patch" in result.output
    strict = invoke(["audit", "--strict", "--json"])
    assert strict.exit_code == ExitCode.BYPASS
    assert "2 agents have built-in tools" in strict.output


def test_a_rug_pull_found_at_discovery_shows_in_status(machine, invoke) -> None:
    machine.add_client("cursor", machine.demo_servers("tools"))
    machine.proxy_home.mkdir()
    known = {"schema_hash": "sha256:" + "1" * 64, "tool_name": "tools__read_file", "category": "file_read",
             "source": "rules", "confidence": 1.0, "upstream": "tools", "tool": "read_file"}  # fmt: skip
    (machine.proxy_home / "classifications.json").write_text(json.dumps([known]))
    assert invoke(["init", "--local", "--yes"]).exit_code == 0
    facts = json.loads(invoke(["status", "--json"]).output)
    assert facts["rug_pulls"] == 1
    pull = facts["upstreams"][0]["rug_pulls"][0]
    assert (pull["tool"], pull["previous_fingerprint"]) == ("read_file", known["schema_hash"])
    assert "1 rug pulls seen" in invoke(["status"]).output


def test_audit_shows_a_config_it_cannot_read_without_failing(machine, invoke) -> None:
    machine.add_client("cursor", text='{"mcpServers": [1]}')
    result = invoke(["audit", "--json"])
    assert result.exit_code == 0, result.output
    client = json.loads(result.output)["clients"][0]
    assert client["wrapped"] is None
    assert "expected a mapping" in client["error"]


def test_a_rug_pull_shows_in_status_from_the_classification_cache_alone(machine, invoke) -> None:
    machine.add_client("cursor", machine.demo_servers("tools"))
    machine.proxy_home.mkdir()
    known = {"schema_hash": "sha256:" + "2" * 64, "tool_name": "tools__read_file", "category": "file_read",
             "source": "rules", "confidence": 1.0, "upstream": "tools", "tool": "read_file"}  # fmt: skip
    (machine.proxy_home / "classifications.json").write_text(json.dumps([known]))
    assert invoke(["init", "--local", "--yes"]).exit_code == 0
    (machine.proxy_home / "discovery.json").unlink()
    facts = json.loads(invoke(["status", "--json"]).output)
    assert facts["rug_pulls"] == 1
    assert facts["upstreams"][0]["tool_count"] is None
