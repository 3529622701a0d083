import json

from inherence_proxy._errors import ExitCode


def _wrapped(machine, invoke, *clients):
    originals = {client: machine.add_client(client).read_bytes() for client in clients}
    result = invoke(["init", "--local", "--yes", "--no-discovery"])
    assert result.exit_code == 0, result.output
    return originals


def test_restore_gives_back_identical_bytes_and_forgets_the_clients(machine, invoke) -> None:
    originals = _wrapped(machine, invoke, "cursor", "claude-desktop", "gemini-cli")
    result = invoke(["restore"])
    assert result.exit_code == 0, result.output
    assert {c: machine.client_file(c).read_bytes() for c in originals} == originals
    assert sum(line.startswith("restored ") for line in result.output.splitlines()) == 3
    config = machine.config()
    assert config["migrated_clients"] == []
    assert config["upstreams"] == []


def test_restore_of_one_client(machine, invoke) -> None:
    originals = _wrapped(machine, invoke, "cursor", "claude-desktop")
    result = invoke(["restore", "--client", "claude_desktop"])
    assert result.exit_code == 0, result.output
    assert machine.client_file("claude-desktop").read_bytes() == originals["claude-desktop"]
    assert machine.client_file("cursor").read_bytes() != originals["cursor"]
    assert [c["name"] for c in machine.config()["migrated_clients"]] == ["cursor"]
    assert {u["name"] for u in machine.config()["upstreams"]} == {"server-name", "remote", "python-app"}


def test_restore_dry_run_shows_the_diff_and_changes_nothing(machine, invoke) -> None:
    _wrapped(machine, invoke, "cursor")
    wrapped = machine.client_file("cursor").read_bytes()
    config = (machine.proxy_home / "config.json").read_bytes()
    result = invoke(["restore", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert '+    "server-name": {' in result.output
    assert '-    "inherence": {' in result.output
    assert machine.client_file("cursor").read_bytes() == wrapped
    assert (machine.proxy_home / "config.json").read_bytes() == config


def test_a_file_edited_after_wrapping_is_refused_then_forced(machine, invoke) -> None:
    originals = _wrapped(machine, invoke, "cursor")
    path = machine.client_file("cursor")
    edited = json.loads(path.read_text())
    edited["mcpServers"]["added-later"] = {"command": "later"}
    path.write_text(json.dumps(edited))
    refused = invoke(["restore", "--client", "cursor"])
    assert refused.exit_code == ExitCode.UNSAFE
    assert "added-later" in refused.output
    assert "--force" in refused.output
    assert json.loads(path.read_text()) == edited
    forced = invoke(["restore", "--client", "cursor", "--force"])
    assert forced.exit_code == 0, forced.output
    assert path.read_bytes() == originals["cursor"]
    assert "the edited file was kept as mcp.json.bak_inherence." in forced.output


def test_nothing_to_restore(machine, invoke) -> None:
    machine.add_client("cursor")
    assert invoke(["restore"]).output == "No wrapped client config found: nothing to restore.\n"
    named = invoke(["restore", "--client", "cursor"])
    assert named.exit_code == ExitCode.NOTHING_TO_DO
    assert "no wrapped config of cursor found" in named.output


def test_a_poisoned_backup_is_refused(machine, invoke) -> None:
    _wrapped(machine, invoke, "cursor")
    path = machine.client_file("cursor")
    backup = next(path.parent.glob("mcp.json.bak_inherence.*"))
    backup.write_bytes(path.read_bytes())  # the backup now holds the proxy entry: the original is lost
    result = invoke(["restore", "--client", "cursor"])
    assert result.exit_code == ExitCode.UNSAFE
    assert "not restored Cursor" in result.output


def test_a_projects_configs_are_audited_wrapped_and_restored_when_named(machine, invoke, tmp_path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    config = project / ".mcp.json"
    original = json.dumps({"mcpServers": {"db": {"command": "db-server"}}}, indent=2).encode()
    config.write_bytes(original)
    assert invoke(["audit"]).exit_code == 0  # not looked at unless named
    audit = invoke(["audit", "--project", str(project), "--json"])
    assert audit.exit_code == ExitCode.BYPASS
    facts = json.loads(audit.output.split("\nError:")[0])
    assert [(c["client"], c["scope"], c["bypassing"]) for c in facts["clients"]] == [("claude-code", "project", ["db"])]
    assert invoke(["init", "--local", "--yes", "--no-discovery", "--project", str(project)]).exit_code == 0
    assert json.loads(config.read_text())["mcpServers"]["inherence"]["args"] == ["serve", "claude-code"]
    assert invoke(["audit", "--project", str(project)]).exit_code == 0
    assert invoke(["restore"]).exit_code == 0
    assert config.read_bytes() == original


def test_previews_name_env_variables_and_headers_but_never_print_their_values(machine, invoke) -> None:
    secret, token = "sk-live-4f1c9e2b7a60d3", "Bearer ghp_previewTokenValue123"
    servers = {
        "payments": {"command": "npx", "args": ["-y", "pay"], "env": {"PAY_API_KEY": secret}},
        "remote": {"url": "https://example.com/mcp", "headers": {"Authorization": token}},
    }
    machine.add_client("cursor", servers)
    previews = [invoke(["init", "--local", "--yes", "--no-discovery", "--dry-run"])]
    assert invoke(["init", "--local", "--yes", "--no-discovery"]).exit_code == 0
    previews.append(invoke(["restore", "--dry-run"]))
    for preview in previews:
        assert preview.exit_code == 0, preview.output
        assert "PAY_API_KEY" in preview.output
        assert "Authorization" in preview.output
        assert secret not in preview.output
        assert "ghp_previewTokenValue123" not in preview.output
