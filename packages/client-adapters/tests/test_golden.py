"""Golden tests over every client fixture: read, wrap, keep everything else, restore byte for byte."""

from __future__ import annotations

import difflib
import os

import pytest

from inherence_client_adapters import PROXY_ENTRY_NAME, get_adapter, list_backups


def _kept(original: str, wrapped: str) -> list[str]:
    """Every `KEEP...` marker (to the end of its line) that is not copied unchanged into `wrapped`."""
    kept = [False] * len(original)
    for block in difflib.SequenceMatcher(None, original, wrapped, autojunk=False).get_matching_blocks():
        kept[block.a : block.a + block.size] = [True] * block.size
    missing = []
    start = original.find("KEEP")
    while start != -1:
        end = original.find("\n", start)
        end = len(original) if end == -1 else end
        if not all(kept[start:end]):
            missing.append(original[start:end])
        start = original.find("KEEP", end)
    return missing


def test_read_finds_the_documented_servers(machine, case) -> None:
    location = machine.place_fixture(case)
    servers = get_adapter(case.client).read(location)
    described = [f"{entry.name}:{entry.transport}{'!' if entry.disabled else ''}" for entry in servers]
    assert tuple(described) == case.servers


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_wrap_keeps_everything_else_and_restore_gives_the_same_bytes(machine, case, crlf: bool) -> None:
    adapter = get_adapter(case.client)
    location = machine.place_fixture(case, crlf=crlf)
    original = location.path.read_bytes()

    result = adapter.wrap(location, machine.proxy)

    wrapped = location.path.read_bytes()
    assert result.changed
    assert [entry.name for entry in result.servers] == [item.split(":")[0] for item in case.servers]
    assert result.backup is not None
    assert result.backup.read_bytes() == original
    assert adapter.read(location) == []
    assert _kept(original.decode("utf-8"), wrapped.decode("utf-8")) == []
    if crlf:
        assert b"\n" not in wrapped.replace(b"\r\n", b""), "a bare LF crept into a CRLF file"
    holds_proxy = not case.scope.endswith("-block")
    assert (PROXY_ENTRY_NAME in wrapped.decode("utf-8") or "inherence-proxy" in wrapped.decode("utf-8")) == holds_proxy
    assert adapter.drift(location, machine.proxy).clean

    restored = adapter.restore(location)

    assert restored.changed
    assert location.path.read_bytes() == original


def test_reading_and_checking_never_touch_the_file(machine, case) -> None:
    adapter = get_adapter(case.client)
    location = machine.place_fixture(case)
    before = (location.path.read_bytes(), os.stat(location.path).st_mtime_ns)
    adapter.read(location)
    adapter.drift(location, machine.proxy)
    adapter.detect(machine.host, [machine.project])
    assert (location.path.read_bytes(), os.stat(location.path).st_mtime_ns) == before
    assert list_backups(location.path) == []


def test_wrapping_twice_changes_nothing_the_second_time(machine, case) -> None:
    adapter = get_adapter(case.client)
    location = machine.place_fixture(case)
    adapter.wrap(location, machine.proxy)
    wrapped = location.path.read_bytes()
    second = adapter.wrap(location, machine.proxy)
    assert not second.changed
    assert second.backup is None
    assert location.path.read_bytes() == wrapped
    assert len(list_backups(location.path)) == 1
