"""Same-named servers from different clients are told apart deterministically, and the caller learns how."""

from __future__ import annotations

from pathlib import Path

import pytest

from inherence_client_adapters import ClientConfigUsageError, ProxyCommand, ServerEntry, merge_servers


def _entry(name: str, client: str, command: str, scope: str = "user") -> ServerEntry:
    return ServerEntry(
        name=name, transport="stdio", client=client, scope=scope, source=Path(f"/{client}"), command=command
    )


def test_identical_servers_from_two_clients_are_one() -> None:
    merged = merge_servers([_entry("github", "cursor", "gh"), _entry("github", "claude-desktop", "gh")])
    assert list(merged.servers) == ["github"]
    assert merged.renamed == {}


def test_different_servers_with_one_name_are_renamed_by_client_in_any_input_order() -> None:
    entries = [
        _entry("github", "cursor", "gh-a"),
        _entry("github", "claude-desktop", "gh-b"),
        _entry("fs", "cursor", "fs"),
    ]
    forward = merge_servers(entries)
    backward = merge_servers(list(reversed(entries)))
    assert forward == backward
    assert sorted(forward.servers) == ["fs", "github-claude-desktop", "github-cursor"]
    assert forward.servers["github-cursor"].command == "gh-a"
    assert forward.renamed[("cursor", "user", Path("/cursor"), "github")] == "github-cursor"


def test_a_rename_never_collides_with_an_existing_name() -> None:
    entries = [_entry("x", "cursor", "a"), _entry("x", "zed", "b"), _entry("x-cursor", "zed", "c")]
    merged = merge_servers(entries)
    assert sorted(merged.servers) == ["x-cursor", "x-cursor-2", "x-zed"]
    assert merged.servers["x-cursor"].command == "c"


def test_the_proxy_path_must_be_absolute() -> None:
    with pytest.raises(ClientConfigUsageError, match="absolute"):
        ProxyCommand(Path("inherence-proxy"))
