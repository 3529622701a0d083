"""The write path: a change between read and write stops the writer, and no temporary file stays behind."""

from __future__ import annotations

import pytest

from inherence_client_adapters import ConcurrentChangeError
from inherence_client_adapters._fileio import atomic_replace, read_snapshot


def test_a_change_between_read_and_write_is_not_overwritten(tmp_path) -> None:
    target = tmp_path / "settings.json"
    target.write_bytes(b'{"a": 1}')
    snapshot = read_snapshot(target)
    target.write_bytes(b'{"a": 2, "client": "rewrote me"}')
    with pytest.raises(ConcurrentChangeError):
        atomic_replace(target, b"{}", like=snapshot, expected_digest=snapshot.digest, max_bytes=1000, shown_as=target)
    assert target.read_bytes() == b'{"a": 2, "client": "rewrote me"}'
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_replace_writes_the_new_bytes_and_leaves_nothing_else(tmp_path) -> None:
    target = tmp_path / "settings.json"
    target.write_bytes(b'{"a": 1}')
    snapshot = read_snapshot(target)
    atomic_replace(target, b'{"b": 2}', like=snapshot, expected_digest=snapshot.digest, max_bytes=1000, shown_as=target)
    assert target.read_bytes() == b'{"b": 2}'
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]
