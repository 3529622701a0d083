"""Bad input: malformed files name the line and column, wrong shapes are refused, nothing is ever written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inherence_client_adapters import (
    ConfigAccessError,
    ConfigLockedError,
    ConfigTooLargeError,
    LosslessRewriteError,
    MalformedConfigError,
    UnexpectedStructureError,
    get_adapter,
    list_backups,
)
from inherence_client_adapters._fileio import file_lock, resolve_target

DATA = Path(__file__).parent / "data"
SUFFIX = {"cursor": ".json", "vscode": ".json", "zed": ".json", "continue": ".yaml", "codex": ".toml"}
SCOPE = {"vscode": "workspace", "zed": "project", "cursor": "project", "continue": "user", "codex": "user"}


def _lines(name: str) -> list[list[str]]:
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append([part.strip() for part in line.split("|", 3 if name == "malformed.txt" else 2)])
    return rows


def _unescape(text: str) -> bytes:
    return text.replace("\\n", "\n").replace("\\t", "\t").encode("utf-8")


MALFORMED = _lines("malformed.txt")
STRUCTURE = _lines("structure.txt")


def _assert_untouched(location, content: bytes) -> None:
    assert location.path.read_bytes() == content
    assert list_backups(location.path) == []
    assert [p.name for p in location.path.parent.iterdir()] == [location.path.name]


@pytest.mark.parametrize(("client", "line", "column", "content"), MALFORMED, ids=[row[3][:30] for row in MALFORMED])
def test_malformed_files_name_line_and_column_and_nothing_is_written(machine, client, line, column, content) -> None:
    data = _unescape(content)
    location = machine.place(client, SCOPE[client], data, SUFFIX[client])
    with pytest.raises(MalformedConfigError) as raised:
        get_adapter(client).wrap(location, machine.proxy)
    assert (raised.value.path, raised.value.line, raised.value.column) == (location.path, int(line), int(column))
    assert f"line {line}, column {column}" in str(raised.value)
    _assert_untouched(location, data)


@pytest.mark.parametrize(("client", "suffix", "content"), STRUCTURE, ids=[row[2][:40] for row in STRUCTURE])
def test_unknown_shapes_are_refused_and_nothing_is_written(machine, client, suffix, content) -> None:
    data = _unescape(content)
    location = machine.place(client, SCOPE[client], data, suffix)
    adapter = get_adapter(client)
    with pytest.raises((UnexpectedStructureError, LosslessRewriteError)) as raised:
        adapter.wrap(location, machine.proxy)
    assert raised.value.path == location.path
    if isinstance(raised.value, UnexpectedStructureError):
        with pytest.raises(UnexpectedStructureError):
            adapter.read(location)
    _assert_untouched(location, data)


def test_errors_never_show_the_secrets_of_entries(machine) -> None:
    data = b'{"mcpServers": {"x": {"command": "npx", "env": {"TOKEN": "ghp_TOPSECRET"}, "args": "ghp_TOPSECRET"}}}'
    location = machine.place("cursor", "user", data, ".json")
    with pytest.raises(UnexpectedStructureError) as raised:
        get_adapter("cursor").read(location)
    assert "TOPSECRET" not in str(raised.value)
    assert "args" in str(raised.value)


def test_a_file_over_the_size_limit_is_refused(machine) -> None:
    data = b'{"mcpServers": {}, "pad": "' + b"x" * 200 + b'"}'
    location = machine.place("cursor", "user", data, ".json")
    with pytest.raises(ConfigTooLargeError) as raised:
        get_adapter("cursor").wrap(location, machine.proxy, max_bytes=100)
    assert (raised.value.size, raised.value.limit) == (len(data), 100)
    _assert_untouched(location, data)


def test_a_folder_where_the_file_should_be_is_a_clear_error(machine) -> None:
    location = machine.place("cursor", "user", b"{}", ".json")
    location.path.unlink()
    location.path.mkdir()
    with pytest.raises(ConfigAccessError, match="folder"):
        get_adapter("cursor").read(location)


def test_a_missing_file_is_a_clear_error(machine) -> None:
    location = machine.place("cursor", "user", b"{}", ".json")
    location.path.unlink()
    with pytest.raises(ConfigAccessError, match="No such file"):
        get_adapter("cursor").wrap(location, machine.proxy)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_a_clear_error(machine) -> None:
    location = machine.place("cursor", "user", b"{}", ".json")
    location.path.chmod(0)
    with pytest.raises(ConfigAccessError, match="Permission denied"):
        get_adapter("cursor").read(location)


def test_invalid_utf8_names_line_and_column(machine) -> None:
    data = b'{\n  "a": "\xff"\n}'
    location = machine.place("cursor", "user", data, ".json")
    with pytest.raises(MalformedConfigError) as raised:
        get_adapter("cursor").read(location)
    assert (raised.value.line, raised.value.column) == (2, 9)


def test_a_held_lock_stops_the_writer_and_nothing_is_written(machine) -> None:
    data = b'{"mcpServers": {"a": {"command": "a"}}}'
    location = machine.place("cursor", "user", data, ".json")
    with file_lock(resolve_target(location.path)), pytest.raises(ConfigLockedError):
        get_adapter("cursor").wrap(location, machine.proxy, lock_timeout=0.1)
    assert location.path.read_bytes() == data
    assert list_backups(location.path) == []
