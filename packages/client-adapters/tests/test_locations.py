"""Each client's files are looked for where its documentation says, on every platform and scope."""

from __future__ import annotations

from pathlib import Path

import pytest

from inherence_client_adapters import ClientConfigUsageError, HostEnvironment, all_adapters, get_adapter

HOME = Path("/home/someone")
PROJECT = HOME / "work" / "app"
ROWS = [
    [part.strip() for part in line.split("|")]
    for line in (Path(__file__).parent / "data" / "locations.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


@pytest.mark.parametrize(("platform", "client", "scope", "where"), ROWS, ids=[" ".join(row[:3]) for row in ROWS])
def test_candidates_include_the_documented_path(platform, client, scope, where) -> None:
    host = HostEnvironment(home=HOME, platform=platform, variables={})
    expected = (HOME if where.startswith("~") else PROJECT) / where[2:]
    found = [(c.scope, c.path) for c in get_adapter(client).candidates(host, [PROJECT])]
    assert (scope, expected) in found


def test_environment_variables_move_the_files() -> None:
    variables = {
        "APPDATA": "D:/Roaming",
        "CODEX_HOME": "/opt/codex",
        "CLAUDE_CONFIG_DIR": "/cfg/claude",
        "XDG_CONFIG_HOME": "/xdg",
    }
    windows = HostEnvironment(home=HOME, platform="win32", variables=variables)
    linux = HostEnvironment(home=HOME, platform="linux", variables=variables)
    assert get_adapter("claude-desktop").candidates(windows)[0].path == Path(
        "D:/Roaming/Claude/claude_desktop_config.json"
    )
    assert get_adapter("codex").candidates(linux)[0].path == Path("/opt/codex/config.toml")
    assert get_adapter("claude-code").candidates(linux)[0].path == Path("/cfg/claude/.claude.json")
    assert get_adapter("zed").candidates(linux)[0].path == Path("/xdg/zed/settings.json")


def test_every_client_of_the_issue_has_an_adapter_with_a_documented_source() -> None:
    names = sorted(adapter.name for adapter in all_adapters())
    assert names == sorted(
        [
            "claude-desktop",
            "cursor",
            "continue",
            "windsurf",
            "vscode",
            "cline",
            "claude-code",
            "gemini-cli",
            "codex",
            "zed",
        ]
    )
    for adapter in all_adapters():
        assert "Source:" in (type(adapter).__doc__ or ""), adapter


def test_detect_lists_only_files_that_exist(machine) -> None:
    adapter = get_adapter("gemini-cli")
    assert adapter.detect(machine.host, [machine.project]) == []
    location = machine.place("gemini-cli", "project", b"{}", ".json")
    assert adapter.detect(machine.host, [machine.project]) == [location]


def test_continue_block_files_are_found_in_the_workspace_folder(machine) -> None:
    folder = machine.project / ".continue" / "mcpServers"
    folder.mkdir(parents=True)
    (folder / "b.yaml").write_text("mcpServers:\n  - name: b\n    command: b\n")
    (folder / "a.json").write_text('{"mcpServers": {"a": {"command": "a"}}}')
    (folder / "notes.txt").write_text("not a block")
    found = [(loc.scope, loc.path.name) for loc in get_adapter("continue").detect(machine.host, [machine.project])]
    assert found == [("project-block", "a.json"), ("project-block", "b.yaml")]


def test_an_unknown_client_is_a_caller_mistake() -> None:
    with pytest.raises(ClientConfigUsageError, match="known clients: claude-desktop"):
        get_adapter("notepad")
