import pathlib
from datetime import datetime

from inherence_client_adapters import ServerEntry
from inherence_proxy._config import ProxyConfig
from inherence_proxy._discovery import load_discovery, record_gateway_status
from inherence_proxy._migrate import ClientServers, forget_clients, migrate, upstream_name
from inherence_proxy._serve import parse_listen_address
from inherence_proxy_core import GatewayStatus, UpstreamStatus


def _server(name: str, client: str, command: str = "cmd", **extra) -> ServerEntry:
    return ServerEntry(name=name, transport="stdio", client=client, scope="user", source=pathlib.Path(f"/{client}"),
                       command=command, **extra)  # fmt: skip


def test_upstream_names_are_safe_for_the_engine() -> None:
    assert upstream_name("my server (dev)") == "my-server-dev"
    assert upstream_name("a__b") == "a_b"
    assert upstream_name("ü") == "server"
    assert len(upstream_name("x" * 100)) == 64


def test_disabled_servers_are_noted_and_not_served() -> None:
    chosen = [ClientServers("cursor", ("/c",), (_server("on", "cursor"), _server("off", "cursor", disabled=True)))]
    migration = migrate(ProxyConfig(), chosen, now="t")
    assert migration.upstreams_of == {"cursor": ["on"]}
    assert migration.notes == ["cursor: off is disabled in the client; not served"]


def test_a_name_taken_by_another_clients_different_server_gets_the_client_appended() -> None:
    config = ProxyConfig.model_validate(
        {"upstreams": [{"name": "git", "command": ["old"]}],
         "migrated_clients": [{"name": "claude_desktop", "config_path": "/d", "upstream_names": ["git"]}]}
    )  # fmt: skip
    migration = migrate(config, [ClientServers("cursor", ("/c",), (_server("git", "cursor", "new"),))], now="t")
    assert migration.upstreams_of == {"cursor": ["git-cursor"]}
    assert [u.name for u in migration.config.upstreams] == ["git", "git-cursor"]
    assert [c.name for c in migration.config.migrated_clients] == ["claude_desktop", "cursor"]
    assert forget_clients(migration.config, ["claude-desktop"]).upstreams == [migration.config.upstreams[1]]


def test_init_of_a_0_1_x_client_again_keeps_its_record_name_and_upstreams() -> None:
    config = ProxyConfig.model_validate(
        {"upstreams": [{"name": "fs", "command": ["fs"]}],
         "migrated_clients": [{"name": "claude_desktop", "config_path": "/d", "upstream_names": ["fs"]}]}
    )  # fmt: skip
    chosen = [ClientServers("claude-desktop", ("/d",), (_server("added", "claude-desktop"),))]
    migration = migrate(config, chosen, now="t")
    assert [(c.name, c.upstream_names) for c in migration.config.migrated_clients] == [
        ("claude_desktop", ["fs", "added"])
    ]


def test_discovery_keeps_the_last_good_count_when_an_upstream_fails(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "discovery.json"
    tools = {"x": "file_read", "y": "file_read", "z": "shell_exec"}
    ready = GatewayStatus((UpstreamStatus("a", "stdio", "ready", None, 0, 3, datetime(2026, 1, 1), tools),), 3, 3, ())
    record_gateway_status(path, ready, {})
    failed = UpstreamStatus(
        "a", "stdio", "failed", "exit 1", 1, 0, last_error="exit 1", last_error_at=datetime(2026, 1, 2)
    )
    record_gateway_status(path, GatewayStatus((failed,), 0, 3, ()), load_discovery(path))
    report = load_discovery(path)["a"]
    assert (report["tool_count"], report["last_discovery"], report["last_error"]) == (
        3,
        "2026-01-01T00:00:00",
        "exit 1",
    )
    path.write_text("not json")
    assert load_discovery(path) == {}


def test_listen_addresses() -> None:
    assert parse_listen_address("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen_address("[::1]:80") == ("::1", 80)


def test_the_progress_line_is_drawn_only_on_a_terminal(capsys) -> None:
    from inherence_proxy._discover import ProgressLine

    status = GatewayStatus((UpstreamStatus("a", "stdio", "starting", None, 0, 0),), 0, 0, ())
    ProgressLine(1, live=False).update(status)
    assert capsys.readouterr().out == ""
    line = ProgressLine(1, live=True)
    line.update(status)
    line.finish()
    out = capsys.readouterr().out
    assert "discovering tools: 0/1 upstreams - waiting for a" in out
    # Redrawn in place: each draw starts at the line's beginning, and the line is cleared at the end.
    assert out.startswith("\r")
    assert out.endswith("\r")
