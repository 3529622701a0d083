"""Backups are never overwritten, the pristine one is protected, and restore never loses edits silently."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timezone

import pytest

from inherence_client_adapters import (
    NoPristineBackupError,
    PoisonedBackupError,
    RestoreWouldLoseChangesError,
    get_adapter,
    list_backups,
)

ORIGINAL = b'{\n  "theme": "dark",\n  "mcpServers": {\n    "github": {"command": "npx", "args": ["gh"]}\n  }\n}\n'
FIXED = datetime(2026, 11, 24, 10, 15, 0, tzinfo=timezone.utc)


def _fixed() -> datetime:
    return FIXED


@pytest.fixture
def cursor(machine):
    return machine.place("cursor", "user", ORIGINAL, ".json"), get_adapter("cursor")


def test_backups_made_in_the_same_instant_get_distinct_names(machine, cursor) -> None:
    location, adapter = cursor
    adapter.wrap(location, machine.proxy, now=_fixed)
    data = json.loads(location.path.read_text())
    data["mcpServers"]["late"] = {"command": "late"}
    location.path.write_text(json.dumps(data, indent=2))
    adapter.wrap(location, machine.proxy, now=_fixed)
    names = [backup.path.name for backup in list_backups(location.path)]
    assert names == ["mcp.json.bak_inherence.20261124T101500000000Z", "mcp.json.bak_inherence.20261124T101500000000Z.2"]
    assert list_backups(location.path)[0].path.read_bytes() == ORIGINAL


def test_rewrapping_after_drift_still_restores_the_first_original(machine, cursor) -> None:
    location, adapter = cursor
    adapter.wrap(location, machine.proxy)
    data = json.loads(location.path.read_text())
    data["mcpServers"]["sneaky"] = {"command": "sneaky"}
    location.path.write_text(json.dumps(data, indent=2))
    assert adapter.drift(location, machine.proxy).bypassing == ("sneaky",)
    second = adapter.wrap(location, machine.proxy)
    assert [entry.name for entry in second.servers] == ["sneaky"]
    assert adapter.drift(location, machine.proxy).clean
    adapter.restore(location)
    assert location.path.read_bytes() == ORIGINAL


def test_a_poisoned_oldest_backup_stops_wrap(machine, cursor) -> None:
    location, adapter = cursor
    poisoned = location.path.with_name("mcp.json.bak_inherence.20200101T000000Z")
    poisoned.write_text('{"mcpServers": {"inherence": {"command": "/old/inherence-proxy", "args": ["serve"]}}}')
    with pytest.raises(PoisonedBackupError) as raised:
        adapter.wrap(location, machine.proxy)
    assert raised.value.backup == poisoned
    assert location.path.read_bytes() == ORIGINAL
    assert len(list_backups(location.path)) == 1


def test_a_file_already_wrapped_without_any_backup_is_refused(machine) -> None:
    data = (
        b'{"mcpServers": {"inherence": {"command": "/x/inherence-proxy", "args": ["serve"]}, "gh": {"command": "gh"}}}'
    )
    location = machine.place("cursor", "user", data, ".json")
    with pytest.raises(PoisonedBackupError, match="original config is lost"):
        get_adapter("cursor").wrap(location, machine.proxy)
    assert location.path.read_bytes() == data


def test_restore_without_backup_is_refused(machine, cursor) -> None:
    location, adapter = cursor
    with pytest.raises(NoPristineBackupError):
        adapter.restore(location)
    assert location.path.read_bytes() == ORIGINAL


def test_restore_after_edits_lists_what_would_be_lost_and_needs_force(machine, cursor) -> None:
    location, adapter = cursor
    adapter.wrap(location, machine.proxy)
    data = json.loads(location.path.read_text())
    data["mcpServers"]["added"] = {"command": "added"}
    data["theme"] = "light"
    data["fontSize"] = 14
    edited = json.dumps(data, indent=2).encode()
    location.path.write_bytes(edited)

    with pytest.raises(RestoreWouldLoseChangesError) as raised:
        adapter.restore(location)

    assert raised.value.lost == ("server 'added' (user) added after wrapping", "theme changed", "fontSize added")
    assert location.path.read_bytes() == edited
    result = adapter.restore(location, force=True)
    assert location.path.read_bytes() == ORIGINAL
    assert result.saved is not None
    assert result.saved.read_bytes() == edited
    assert result.lost == raised.value.lost


def test_restore_notices_comment_only_edits(machine) -> None:
    original = b'{\n  "servers": {"a": {"type": "stdio", "command": "a"}}\n}\n'
    location = machine.place("vscode", "workspace", original, ".json")
    adapter = get_adapter("vscode")
    adapter.wrap(location, machine.proxy)
    location.path.write_bytes(location.path.read_bytes().replace(b"{", b"{ // note", 1))
    with pytest.raises(RestoreWouldLoseChangesError, match="formatting or comments"):
        adapter.restore(location)


def test_restore_after_forced_restore_and_new_edits_uses_the_new_original(machine, cursor) -> None:
    location, adapter = cursor
    adapter.wrap(location, machine.proxy)
    adapter.restore(location)
    newer = ORIGINAL.replace(b"dark", b"solarized")
    location.path.write_bytes(newer)
    adapter.wrap(location, machine.proxy)
    adapter.restore(location)
    assert location.path.read_bytes() == newer


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_wrap_and_restore_keep_the_mode_and_write_through_symlinks(machine) -> None:
    real = machine.root / "dotfiles" / "mcp.json"
    real.parent.mkdir()
    real.write_bytes(ORIGINAL)
    real.chmod(0o640)
    link = machine.home / ".cursor" / "mcp.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    adapter = get_adapter("cursor")
    location = adapter.detect(machine.host)[0]
    assert location.path == link

    adapter.wrap(location, machine.proxy)

    assert link.is_symlink()
    assert b"inherence" in real.read_bytes()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    backup = list_backups(link)[0].path
    assert backup.parent == link.parent
    adapter.restore(location)
    assert link.is_symlink()
    assert real.read_bytes() == ORIGINAL
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in real.parent.iterdir()) == ["mcp.json"]


def test_drift_reports_the_arguments_of_the_proxy_entry(machine, cursor) -> None:
    location, adapter = cursor
    assert adapter.drift(location, machine.proxy).proxy_arguments is None
    adapter.wrap(location, machine.proxy)
    assert adapter.drift(location, machine.proxy).proxy_arguments == ("serve", "cursor")
    data = json.loads(location.path.read_text())
    data["mcpServers"]["inherence"]["args"] = ["serve"]
    location.path.write_text(json.dumps(data, indent=2))
    report = adapter.drift(location, machine.proxy)
    assert (report.proxy_arguments, report.proxy_arguments_unexpected) == (("serve",), True)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_backups_are_private_whatever_the_originals_mode_and_restore_gives_the_mode_back(machine, cursor) -> None:
    # A backup holds the upstreams' env secrets: readable by its owner alone, even when the config was 0644.
    location, adapter = cursor
    location.path.chmod(0o644)
    adapter.wrap(location, machine.proxy, now=_fixed)
    [backup] = list_backups(location.path)
    assert stat.S_IMODE(backup.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(location.path.stat().st_mode) == 0o644
    data = json.loads(location.path.read_text())
    data["mcpServers"]["late"] = {"command": "late", "env": {"TOKEN": "secret"}}
    location.path.write_text(json.dumps(data, indent=2))
    result = adapter.restore(location, force=True)
    assert result.saved is not None
    assert stat.S_IMODE(result.saved.stat().st_mode) == 0o600
    assert location.path.read_bytes() == ORIGINAL
    assert stat.S_IMODE(location.path.stat().st_mode) == 0o644
