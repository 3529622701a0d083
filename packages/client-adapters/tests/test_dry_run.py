"""A dry run of wrap and restore says what would be written, raises what the real run raises, and touches nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from inherence_client_adapters import (
    NoPristineBackupError,
    PoisonedBackupError,
    RestoreWouldLoseChangesError,
    get_adapter,
    list_backups,
)

ORIGINAL = b'{\n  "theme": "dark",\n  "mcpServers": {\n    "github": {"command": "npx", "args": ["gh"]}\n  }\n}\n'


def _folder(path: Path) -> dict[str, tuple[bytes, int]]:
    """Every file beside `path`, with its bytes and modification time: what a dry run must leave alone."""
    return {entry.name: (entry.read_bytes(), entry.stat().st_mtime_ns) for entry in path.parent.iterdir()}


@pytest.fixture
def cursor(machine):
    return machine.place("cursor", "user", ORIGINAL, ".json"), get_adapter("cursor")


def test_a_dry_wrap_returns_the_bytes_a_real_wrap_writes_and_writes_nothing(machine, cursor) -> None:
    location, adapter = cursor
    untouched = _folder(location.path)
    preview = adapter.wrap(location, machine.proxy, dry_run=True)
    assert _folder(location.path) == untouched
    assert (preview.changed, preview.backup, preview.before) == (True, None, ORIGINAL)
    assert [entry.name for entry in preview.servers] == ["github"]
    real = adapter.wrap(location, machine.proxy)
    assert real.before == ORIGINAL
    assert preview.after == real.after == location.path.read_bytes()
    assert real.backup is not None


def test_a_dry_wrap_of_a_wrapped_file_changes_nothing(machine, cursor) -> None:
    location, adapter = cursor
    adapter.wrap(location, machine.proxy)
    preview = adapter.wrap(location, machine.proxy, dry_run=True)
    assert preview.changed is False
    assert preview.before == preview.after == location.path.read_bytes()


def test_a_dry_wrap_refuses_a_poisoned_backup_like_the_real_one(machine, cursor) -> None:
    location, adapter = cursor
    adapter.wrap(location, machine.proxy)
    first = list_backups(location.path)[0].path
    first.write_bytes(location.path.read_bytes())
    with pytest.raises(PoisonedBackupError):
        adapter.wrap(location, machine.proxy, dry_run=True)


def test_a_dry_wrap_leaves_a_leftover_temp_file_and_takes_no_lock(machine, cursor) -> None:
    location, adapter = cursor
    leftover = location.path.parent / f".{location.path.name}.inherence-tmp-stale"
    leftover.write_bytes(b"half")
    untouched = _folder(location.path)
    adapter.wrap(location, machine.proxy, dry_run=True)
    assert _folder(location.path) == untouched


def test_a_dry_restore_returns_the_original_bytes_and_restores_nothing(machine, cursor) -> None:
    location, adapter = cursor
    adapter.wrap(location, machine.proxy)
    wrapped = location.path.read_bytes()
    untouched = _folder(location.path)
    preview = adapter.restore(location, dry_run=True)
    assert _folder(location.path) == untouched
    assert (preview.changed, preview.before, preview.after, preview.saved) == (True, wrapped, ORIGINAL, None)
    assert preview.restored_from == list_backups(location.path)[0].path


def test_a_dry_restore_over_edits_refuses_without_force_and_saves_nothing_with_it(machine, cursor) -> None:
    location, adapter = cursor
    adapter.wrap(location, machine.proxy)
    data = json.loads(location.path.read_text())
    data["mcpServers"]["late"] = {"command": "late"}
    location.path.write_text(json.dumps(data, indent=2))
    with pytest.raises(RestoreWouldLoseChangesError):
        adapter.restore(location, dry_run=True)
    untouched = _folder(location.path)
    preview = adapter.restore(location, force=True, dry_run=True)
    assert _folder(location.path) == untouched
    assert preview.lost
    assert (preview.saved, preview.after) == (None, ORIGINAL)
    assert len(list_backups(location.path)) == 1


def test_a_dry_restore_without_backup_is_refused(cursor) -> None:
    location, adapter = cursor
    with pytest.raises(NoPristineBackupError):
        adapter.restore(location, dry_run=True)
    assert location.path.read_bytes() == ORIGINAL


def test_a_dry_restore_of_a_restored_file_changes_nothing(machine, cursor) -> None:
    location, adapter = cursor
    adapter.wrap(location, machine.proxy)
    adapter.restore(location)
    preview = adapter.restore(location, dry_run=True)
    assert preview.changed is False
    assert preview.before == preview.after == ORIGINAL
    assert os.path.exists(location.path)
