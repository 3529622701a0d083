"""The per-client lock: one live proxy per client, stale locks taken over, the 0.1.x file honoured."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from inherence_proxy_core._lock import ClientLock, lock_holder, read_lock_file
from inherence_proxy_core._proc_errors import ClientLockHeld, ProcessUsageError
from inherence_proxy_core._proc_identity import boot_time


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield proc.pid
    proc.stdin.close()
    proc.wait(timeout=30)


def test_lock_file_names_this_process_and_boot(home):
    with ClientLock(home, "claude-desktop") as lock:
        lines = lock.path.read_text().splitlines()
        assert lock.path.name == "proxy-claude-desktop.pid"
        assert int(lines[0]) == os.getpid()
        assert abs(float(lines[1]) - boot_time()) < 2
        if os.name == "posix":
            assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
            assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert not lock.path.exists()


def test_second_lock_for_the_same_client_is_refused_with_the_holders_pid(home):
    with ClientLock(home, "cursor"), pytest.raises(ClientLockHeld) as refused:
        ClientLock(home, "cursor").acquire()
    assert refused.value.holder_pid == os.getpid()
    assert refused.value.client == "cursor"
    assert "already running" in str(refused.value)


def test_two_clients_hold_their_locks_at_once(home):
    with ClientLock(home, "cursor") as a, ClientLock(home, "claude-desktop") as b:
        assert a.held
        assert b.held
        assert lock_holder(home, "cursor") == os.getpid()
        assert lock_holder(home, "claude-desktop") == os.getpid()
    assert lock_holder(home, "cursor") is None


def test_lock_can_be_taken_again_after_release(home):
    first = ClientLock(home, "vscode")
    first.acquire()
    first.release()
    first.release()  # idempotent
    with ClientLock(home, "vscode") as second:
        assert second.held


def test_stale_lock_of_a_dead_process_is_taken_over(home, dead_pid):
    home.mkdir()
    (home / "proxy-cursor.pid").write_text(f"{dead_pid}\n{round(boot_time())}\n")
    with ClientLock(home, "cursor") as lock:
        assert read_lock_file(lock.path).pid == os.getpid()


def test_legacy_pid_file_of_a_live_process_holds_the_default_client(home, live_pid):
    home.mkdir()
    (home / "proxy.pid").write_text(f"{live_pid}\n{boot_time()}\n")
    with pytest.raises(ClientLockHeld) as refused:
        ClientLock(home).acquire()
    assert refused.value.holder_pid == live_pid
    assert lock_holder(home, "default") == live_pid
    # Another client is not held by the 0.1.x proxy.
    with ClientLock(home, "cursor"):
        pass


def test_legacy_pid_file_can_name_another_client(home, live_pid):
    home.mkdir()
    (home / "proxy.pid").write_text(f"{live_pid}\n{round(boot_time())}\n")
    with pytest.raises(ClientLockHeld):
        ClientLock(home, "claude-desktop", legacy_client="claude-desktop").acquire()
    with ClientLock(home, "default", legacy_client="claude-desktop"):
        pass


def test_legacy_pid_file_from_a_previous_boot_is_stale_even_if_the_pid_lives(home, live_pid):
    home.mkdir()
    legacy = home / "proxy.pid"
    legacy.write_text(f"{live_pid}\n{round(boot_time()) - 86400}\n")
    with ClientLock(home):
        assert not legacy.exists()


def test_legacy_pid_file_of_a_dead_process_is_stale(home, dead_pid):
    home.mkdir()
    legacy = home / "proxy.pid"
    legacy.write_text(f"{dead_pid}\n{round(boot_time())}\n")
    with ClientLock(home):
        assert not legacy.exists()


@pytest.mark.parametrize("text", ["", "garbage\n", "12x\n1\n", "-4\n1\n"])
def test_unreadable_lock_file_names_no_holder(tmp_path, text):
    path = tmp_path / "proxy.pid"
    path.write_text(text)
    assert read_lock_file(path) is None


def test_lock_file_without_boot_line_is_read(tmp_path):
    path = tmp_path / "proxy.pid"
    path.write_text("1234\n")
    record = read_lock_file(path)
    assert (record.pid, record.boot_time) == (1234, None)


@pytest.mark.parametrize("client", ["", "../x", "a/b", "-lead", "x" * 65, "a b"])
def test_unsafe_client_names_are_refused(home, client):
    with pytest.raises(ProcessUsageError):
        ClientLock(home, client)
