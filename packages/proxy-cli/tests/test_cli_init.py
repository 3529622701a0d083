import json
import os

import pytest
from click.testing import CliRunner

from inherence_proxy._errors import ExitCode


def test_dry_run_shows_a_diff_of_every_file_and_changes_none(machine, invoke) -> None:
    cursor = machine.add_client("cursor")
    desktop = machine.add_client("claude-desktop")
    before = {p: p.read_bytes() for p in (cursor, desktop)}
    result = invoke(["init", "--local", "--yes", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"--- {cursor} (now)" in result.output
    assert f"--- {desktop} (now)" in result.output
    assert f"+++ {machine.proxy_home / 'config.json'} (after)" in result.output
    assert '-    "server-name": {' in result.output
    assert f'+      "command": "{machine.executable}",' in result.output
    assert "3 files would change; none was changed" in result.output
    assert {p: p.read_bytes() for p in before} == before
    assert not machine.proxy_home.exists()
    assert [p.name for p in cursor.parent.iterdir()] == ["mcp.json"]


def test_init_wraps_each_client_to_start_its_own_proxy_by_absolute_path(machine, invoke) -> None:
    machine.add_client("cursor")
    machine.add_client("claude-desktop")
    result = invoke(["init", "--local", "--yes", "--no-discovery"])
    assert result.exit_code == 0, result.output
    for client in ("cursor", "claude-desktop"):
        wrapped = json.loads(machine.client_file(client).read_text())
        assert wrapped["mcpServers"] == {"inherence": {"command": str(machine.executable), "args": ["serve", client]}}
        assert len(list(machine.client_file(client).parent.glob("*.bak_inherence.*"))) == 1
    config = machine.config()
    owners = {c["name"]: c["upstream_names"] for c in config["migrated_clients"]}
    assert owners == {"claude-desktop": ["filesystem", "github"], "cursor": ["server-name", "remote", "python-app"]}
    upstreams = {u["name"]: u for u in config["upstreams"]}
    assert upstreams["filesystem"]["command"][:3] == ["npx", "-y", "@modelcontextprotocol/server-filesystem"]
    assert upstreams["remote"]["url"] == "https://example.com/mcp"
    assert "api_key" not in config
    assert (machine.proxy_home / "config.json").stat().st_mode & 0o777 == 0o600
    assert "Next: restart Claude Desktop, Cursor" in result.output
    assert "envFile" not in result.output
    assert "reads variables from .env" in result.output


def test_init_of_one_client_leaves_the_others_alone(machine, invoke) -> None:
    machine.add_client("cursor")
    desktop = machine.add_client("claude-desktop")
    original = desktop.read_bytes()
    result = invoke(["init", "--local", "--client", "cursor", "--no-discovery"])
    assert result.exit_code == 0, result.output
    assert desktop.read_bytes() == original
    assert [c["name"] for c in machine.config()["migrated_clients"]] == ["cursor"]


def test_init_twice_keeps_the_upstreams_and_the_pristine_backup(machine, invoke) -> None:
    cursor = machine.add_client("cursor")
    original = cursor.read_bytes()
    assert invoke(["init", "--local", "--yes", "--no-discovery"]).exit_code == 0
    result = invoke(["init", "--local", "--yes", "--no-discovery"])
    assert result.exit_code == 0, result.output
    assert "(already wrapped)" in result.output
    backups = list(cursor.parent.glob("*.bak_inherence.*"))
    assert [b.read_bytes() for b in backups] == [original]
    assert machine.config()["migrated_clients"][0]["upstream_names"] == ["server-name", "remote", "python-app"]


def test_init_discovers_and_classifies_every_upstream(machine, invoke) -> None:
    machine.add_client("cursor", machine.demo_servers("tools"))
    machine.add_client("claude-desktop", {"gone": {"command": "no-such-mcp-server"}})
    result = invoke(["init", "--local", "--yes"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "5      ready" in lines["tools"]
    assert "1 shell_exec" in lines["tools"]
    assert "failed" in lines["gone"]
    assert "not found" in lines["gone"]
    discovery = json.loads((machine.proxy_home / "discovery.json").read_text())["upstreams"]
    assert discovery["tools"]["tool_count"] == 5
    assert discovery["gone"]["last_error"]
    classified = json.loads((machine.proxy_home / "classifications.json").read_text())
    assert {entry["tool_name"] for entry in classified} >= {"tools__read_file", "tools__run_command"}
    assert "\r" not in result.output  # no progress line off a terminal


def test_the_same_server_name_in_two_clients_with_different_commands_gets_two_upstreams(machine, invoke) -> None:
    machine.add_client("cursor", {"git": {"command": "git-mcp", "args": ["a"]}})
    machine.add_client("claude-desktop", {"git": {"command": "git-mcp", "args": ["b"]}})
    assert invoke(["init", "--local", "--yes", "--no-discovery"]).exit_code == 0
    config = machine.config()
    owners = {c["name"]: c["upstream_names"] for c in config["migrated_clients"]}
    assert owners == {"claude-desktop": ["git-claude-desktop"], "cursor": ["git-cursor"]}
    assert {u["name"]: u["command"][-1] for u in config["upstreams"]} == {"git-claude-desktop": "b", "git-cursor": "a"}


def test_config_path_wraps_a_file_the_client_is_not_usually_looked_for_in(machine, invoke, tmp_path) -> None:
    elsewhere = tmp_path / "project" / "mcp.json"
    elsewhere.parent.mkdir()
    elsewhere.write_text(json.dumps({"mcpServers": {"x": {"command": "x-server"}}}))
    result = invoke(["init", "--local", "--client", "cursor", "--config-path", str(elsewhere), "--no-discovery"])
    assert result.exit_code == 0, result.output
    assert json.loads(elsewhere.read_text())["mcpServers"]["inherence"]["args"] == ["serve", "cursor"]
    assert machine.config()["migrated_clients"][0]["config_path"] == str(elsewhere)


def test_the_interactive_pick_takes_numbers_or_all_and_asks_again_on_nonsense(machine) -> None:
    machine.add_client("cursor")
    machine.add_client("claude-desktop")
    from inherence_client_adapters import HostEnvironment
    from inherence_proxy._cmd_init import _pick, _readable
    from inherence_proxy._locations import detected

    readable = _readable(detected(HostEnvironment(home=machine.home, platform="linux")), strict=True)
    assert [adapter.name for (adapter, _), _ in readable] == ["claude-desktop", "cursor"]
    with CliRunner().isolation(input="7\n2\n") as streams:
        chosen = _pick(readable)
    assert [adapter.name for (adapter, _), _ in chosen] == ["cursor"]
    assert b"Please answer with numbers from 1 to 2" in streams[0].getvalue()
    with CliRunner().isolation(input="\n"):
        assert _pick(readable) == readable


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["init", "--local", "--api-key", "inh_x"], ExitCode.USAGE, "--local excludes --api-key and --endpoint"),
        (["init", "--local", "--endpoint", "https://p.example"], ExitCode.USAGE, "--local excludes"),
        (["init", "--local", "--config-path", "{file}"], ExitCode.USAGE, "--config-path needs --client NAME"),
        (["init", "--local", "--client", "nosuch"], ExitCode.USAGE, "'nosuch' is not one of"),
        (["init", "--local", "--yes"], ExitCode.NOTHING_TO_DO, "no MCP client config found"),
        (["init", "--local", "--client", "zed", "--yes"], ExitCode.NOTHING_TO_DO, "no zed MCP client config found"),
    ],
)
def test_init_refusals(machine, invoke, tmp_path, args, code, message) -> None:
    file = tmp_path / "some.json"
    file.write_text("{}")
    result = invoke([arg.replace("{file}", str(file)) for arg in args])
    assert result.exit_code == code
    assert message in result.output


def test_an_unreadable_client_config_is_skipped_but_refused_when_named(machine, invoke) -> None:
    broken = machine.add_client("cursor", text='{"mcpServers": {')
    machine.add_client("claude-desktop")
    result = invoke(["init", "--local", "--yes", "--no-discovery"])
    assert result.exit_code == 0
    assert "skipped Cursor" in result.output
    assert broken.read_text() == '{"mcpServers": {'
    named = invoke(["init", "--local", "--client", "cursor", "--config-path", str(broken)])
    assert named.exit_code == ExitCode.CONFIG
    assert named.output.startswith(f"Error: {broken}: line 1")


def test_an_unreachable_policy_service_stops_init_before_any_write(machine, invoke) -> None:
    cursor = machine.add_client("cursor")
    original = cursor.read_bytes()
    result = invoke(["init", "--api-key", "inh_test_0123456789abcdef", "--endpoint", "http://127.0.0.1:9", "--yes"])
    assert result.exit_code == ExitCode.POLICY_UNREACHABLE
    assert "could not be reached" in result.output
    assert "0123456789abcdef" not in result.output
    assert cursor.read_bytes() == original
    assert not (machine.proxy_home / "config.json").exists()


def test_a_broken_config_json_is_one_line_with_exit_3(machine, invoke) -> None:
    machine.proxy_home.mkdir()
    (machine.proxy_home / "config.json").write_text("{not json")
    result = invoke(["init", "--local", "--yes"])
    assert result.exit_code == ExitCode.CONFIG
    assert result.output.count("\n") == 1
    assert "config.json: is not valid JSON" in result.output


def test_inherence_debug_adds_the_traceback(machine, invoke) -> None:
    machine.proxy_home.mkdir()
    (machine.proxy_home / "config.json").write_text("{not json")
    result = invoke(["status"], env={"INHERENCE_DEBUG": "1"})
    assert result.exit_code == ExitCode.CONFIG
    assert "Traceback (most recent call last)" in result.output
    assert os.environ.get("INHERENCE_DEBUG") is None


def test_init_again_on_a_0_1_x_home_gives_the_client_its_own_proxy_and_keeps_the_way_back(machine, invoke) -> None:
    path = machine.client_file("claude-desktop")
    path.parent.mkdir(parents=True)
    original = json.dumps({"mcpServers": {"filesystem": {"command": "fs-server"}}}).encode()
    (path.parent / f"{path.name}.bak_inherence.20260602T091455").write_bytes(original)
    path.write_text(json.dumps({"mcpServers": {"inherence": {"command": str(machine.executable), "args": ["serve"]}}}))
    machine.proxy_home.mkdir()
    legacy = {
        "api_key": None,
        "upstreams": [{"name": "filesystem", "command": ["fs-server"], "env": {}, "cwd": None, "transport": "stdio"}],
        "client_type": "claude_desktop",
        "migrated_clients": [{"name": "claude_desktop", "config_path": str(path), "upstream_names": ["filesystem"]}],
    }
    (machine.proxy_home / "config.json").write_text(json.dumps(legacy))
    result = invoke(["init", "--local", "--client", "claude-desktop", "--no-discovery"])
    assert result.exit_code == 0, result.output
    assert json.loads(path.read_text())["mcpServers"]["inherence"]["args"] == ["serve", "claude-desktop"]
    config = machine.config()
    assert config["client_type"] == "claude_desktop"
    assert config["migrated_clients"] == [
        {"name": "claude_desktop", "config_path": str(path), "upstream_names": ["filesystem"]}
    ]
    assert invoke(["restore"]).exit_code == 0
    assert path.read_bytes() == original


def test_asked_for_a_key_enter_means_the_embedded_policy(machine) -> None:
    from inherence_client_adapters import HostEnvironment
    from inherence_proxy._app import Environment
    from inherence_proxy._cmd_init import _target
    from inherence_proxy._config import ProxyConfig
    from inherence_proxy._home import ProxyHome

    env = Environment({}, machine.home, ProxyHome(machine.proxy_home), HostEnvironment(machine.home, "linux"))
    with CliRunner().isolation(input="\n") as streams:
        target = _target(env, ProxyConfig(), api_key=None, endpoint=None, local=False, interactive=True)
    assert target.embedded
    assert b"press Enter to use the embedded local policy" in streams[0].getvalue()
    with CliRunner().isolation(input="inh_typed_in_key_0001\n") as streams:
        target = _target(env, ProxyConfig(), api_key=None, endpoint=None, local=False, interactive=True)
    assert (target.api_key, target.endpoint) == ("inh_typed_in_key_0001", "https://mcp.inherencelabs.com")
    assert b"inh_typed_in_key_0001" not in streams[0].getvalue()  # typed, not echoed
