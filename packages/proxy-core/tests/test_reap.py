"""`reap` on made-up state: stale files go, live proxies and strangers' processes are left alone.

Orphaned groups that really run are ended in tests-integration/processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from inherence_proxy_core._lock import ClientLock
from inherence_proxy_core._proc_identity import boot_time, is_alive, process_info
from inherence_proxy_core._proc_registry import ProcessRegistry, read_state_file
from inherence_proxy_core._reap import ReapKind, reap


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


@pytest.fixture
def stranger():
    """A live process that is not ours to kill."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield proc
    proc.stdin.close()
    proc.wait(timeout=30)


def write_state(home, client, *, proxy_pid, groups, proxy_start=1.0, boot=None):
    body = {
        "format": 1,
        "client": client,
        "proxy": {"pid": proxy_pid, "boot_time": boot_time() if boot is None else boot, "start_time": proxy_start},
        "groups": groups,
    }
    path = home / f"upstreams-{client}.json"
    path.write_text(json.dumps(body))
    return path


def kinds(actions):
    return [a.kind for a in actions]


def test_empty_or_missing_home_has_nothing_to_do(tmp_path, home):
    assert reap(tmp_path / "missing") == []
    assert reap(home) == []


def test_stale_lock_file_is_removed(home, dead_pid):
    path = home / "proxy-cursor.pid"
    path.write_text(f"{dead_pid}\n{round(boot_time())}\n")
    actions = reap(home)
    assert kinds(actions) == [ReapKind.LOCK_REMOVED]
    assert actions[0].pid == dead_pid
    assert actions[0].client == "cursor"
    assert not path.exists()


def test_live_proxy_is_left_alone(home):
    with ClientLock(home, "cursor") as lock, ProcessRegistry(home, "cursor") as registry:
        registry.open()
        actions = reap(home)
        assert kinds(actions) == [ReapKind.PROXY_ALIVE]
        assert actions[0].pid == os.getpid()
        assert lock.path.exists()
        assert registry.path.exists()


def test_state_file_of_a_live_proxy_without_lock_is_left_alone(home):
    me = process_info(os.getpid())
    path = write_state(home, "embedded", proxy_pid=os.getpid(), proxy_start=me.start_time, groups=[])
    assert kinds(reap(home)) == [ReapKind.PROXY_ALIVE]
    assert path.exists()


def test_legacy_pid_file_dead_is_removed_live_is_kept(home, dead_pid, stranger):
    legacy = home / "proxy.pid"
    legacy.write_text(f"{stranger.pid}\n{boot_time()}\n")
    assert kinds(reap(home)) == [ReapKind.PROXY_ALIVE]
    assert legacy.exists()
    legacy.write_text(f"{stranger.pid}\n{boot_time() - 3600}\n")
    assert kinds(reap(home)) == [ReapKind.LOCK_REMOVED]
    assert not legacy.exists()
    assert is_alive(stranger.pid)


def test_dead_proxys_finished_groups_are_reported_and_its_state_file_removed(home, dead_pid):
    group = {"name": "fs", "pid": dead_pid, "pgid": dead_pid, "argv0": "npx", "start_time": 5.0}
    path = write_state(home, "cursor", proxy_pid=dead_pid, groups=[group])
    actions = reap(home)
    assert kinds(actions) == [ReapKind.GROUP_GONE, ReapKind.STATE_REMOVED]
    assert "'fs'" in actions[0].detail
    assert not path.exists()
    assert not (home / "proxy-cursor.pid").exists()


def test_reused_pid_is_never_signalled(home, dead_pid, stranger):
    start = process_info(stranger.pid).start_time
    group = {"name": "fs", "pid": stranger.pid, "pgid": stranger.pid, "argv0": "npx", "start_time": start - 3600}
    write_state(home, "cursor", proxy_pid=dead_pid, groups=[group])
    actions = reap(home, grace=0.2)
    assert kinds(actions) == [ReapKind.GROUP_REUSED, ReapKind.STATE_REMOVED]
    assert stranger.poll() is None


def test_state_file_from_a_previous_boot_is_dead_even_if_its_proxy_pid_lives(home, stranger):
    start = process_info(stranger.pid).start_time
    path = write_state(home, "cursor", proxy_pid=stranger.pid, proxy_start=start, boot=boot_time() - 86400, groups=[])
    assert kinds(reap(home)) == [ReapKind.STATE_REMOVED]
    assert not path.exists()
    assert stranger.poll() is None


def test_corrupt_state_file_is_removed(home):
    path = home / "upstreams-cursor.json"
    path.write_text("{not json")
    actions = reap(home)
    assert kinds(actions) == [ReapKind.STATE_REMOVED]
    assert "unreadable" in actions[0].detail
    assert not path.exists()


def test_registry_writes_atomically_and_removes_its_file_when_empty(home):
    from inherence_proxy_core._proc_groups import GroupRecord

    registry = ProcessRegistry(home, "cursor")
    record = GroupRecord(name="fs", pid=4242, pgid=4242, argv0="/usr/bin/npx", start_time=12.5)
    registry.add(record)
    state = read_state_file(registry.path)
    assert state.proxy.pid == os.getpid()
    assert state.groups == (record,)
    if os.name == "posix":
        assert oct(registry.path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in home.iterdir()] == ["upstreams-cursor.json"]  # no temp files left
    registry.discard(4242)
    assert read_state_file(registry.path).groups == ()
    registry.close()
    assert not registry.path.exists()


def test_registry_close_keeps_groups_still_running_for_reap(home):
    from inherence_proxy_core._proc_groups import GroupRecord

    registry = ProcessRegistry(home, "cursor")
    registry.add(GroupRecord(name="fs", pid=4242, pgid=4242, argv0="npx", start_time=1.0))
    registry.close()
    assert len(read_state_file(registry.path).groups) == 1
