"""Real processes: every upstream group ends with the proxy, however the proxy ends.

The process table is the witness: after each way of ending, no upstream and no grandchild
(a process the upstream started in its group) is left alive.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

import pytest

from inherence_proxy_core._lock import ClientLock, read_lock_file
from inherence_proxy_core._proc_errors import ClientLockHeld, UpstreamCommandNotFound
from inherence_proxy_core._proc_identity import boot_time, is_alive
from inherence_proxy_core._proc_registry import ProcessRegistry, read_state_file
from inherence_proxy_core._process import spawn_upstream, terminate_all
from inherence_proxy_core._reap import ReapKind, reap

from .conftest import UPSTREAM_CHILD, wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")


def alive(pids):
    return [pid for pid in pids if is_alive(pid)]


async def read_report(upstream):
    data = b""
    while not data.endswith(b"\n"):
        data += await upstream.stdout.receive()
    return json.loads(data)


# ---- the proxy process ends: stdin EOF, SIGTERM, SIGINT, SIGHUP ---------------------------


@pytest.mark.parametrize("ending", ["stdin-eof", "SIGTERM", "SIGINT", "SIGHUP"])
def test_every_group_ends_with_the_proxy(home, start_proxy, leftovers, ending):
    proxy = start_proxy(home, "cursor")
    leftovers.extend(proxy.all_pids)
    assert len(alive(proxy.all_pids)) == 4
    state = read_state_file(home / "upstreams-cursor.json")
    assert sorted(g.pid for g in state.groups) == sorted(proxy.upstream_pids)
    assert state.proxy.pid == proxy.pid

    if ending == "stdin-eof":
        proxy.proc.stdin.close()
    else:
        proxy.proc.send_signal(getattr(signal, ending))
    assert proxy.wait() == 0

    assert alive(proxy.all_pids) == []
    assert not (home / "upstreams-cursor.json").exists()
    assert not (home / "proxy-cursor.pid").exists()


def test_sigkill_of_the_proxy_takes_its_upstreams_and_reap_ends_the_rest(home, start_proxy, leftovers):
    proxy = start_proxy(home, "cursor")
    leftovers.extend(proxy.all_pids)
    proxy.proc.kill()
    proxy.wait()

    if sys.platform.startswith("linux"):
        # PR_SET_PDEATHSIG: the direct children die with the proxy, nobody else ends them.
        wait_until(lambda: not alive(proxy.upstream_pids), what="upstreams to die with the proxy")
    # Grandchildren are not covered by the death signal: the state file is how they are found.
    assert alive(proxy.grandchild_pids) == proxy.grandchild_pids
    assert read_lock_file(home / "proxy-cursor.pid").pid == proxy.pid

    actions = reap(home, grace=1.0)

    assert alive(proxy.all_pids) == []
    kinds = [a.kind for a in actions]
    assert kinds[0] == ReapKind.LOCK_REMOVED
    assert kinds.count(ReapKind.GROUP_TERMINATED) == 2
    assert kinds[-1] == ReapKind.STATE_REMOVED
    assert sorted(a.pid for a in actions if a.kind == ReapKind.GROUP_TERMINATED) == sorted(proxy.upstream_pids)
    assert sorted(p.name for p in home.iterdir()) == []


def test_next_proxy_of_the_client_ends_what_a_killed_one_left(home, start_proxy, leftovers):
    first = start_proxy(home, "cursor")
    leftovers.extend(first.all_pids)
    first.proc.kill()
    first.wait()

    with ClientLock(home, "cursor"), ProcessRegistry(home, "cursor", grace=1.0) as registry:
        assert alive(first.all_pids) == []
        assert registry.groups == ()


def test_reap_leaves_a_live_proxy_alone(home, start_proxy, leftovers):
    proxy = start_proxy(home, "cursor")
    leftovers.extend(proxy.all_pids)
    actions = reap(home, grace=0.5)
    assert [(a.kind, a.pid) for a in actions] == [(ReapKind.PROXY_ALIVE, proxy.pid)]
    assert alive(proxy.all_pids) == proxy.all_pids
    proxy.proc.stdin.close()
    assert proxy.wait() == 0


# ---- locks across processes ---------------------------------------------------------------


def test_two_clients_run_at_once_and_one_client_never_twice(home, start_proxy, leftovers):
    cursor = start_proxy(home, "cursor", upstreams=1)
    claude = start_proxy(home, "claude-desktop", upstreams=1)
    leftovers.extend(cursor.all_pids + claude.all_pids)

    second = start_proxy(home, "cursor", upstreams=1, expect_ready=False)
    assert second.wait(timeout=30) == 3
    with pytest.raises(ClientLockHeld) as refused:
        ClientLock(home, "cursor").acquire()
    assert refused.value.holder_pid == cursor.pid

    for proxy in (cursor, claude):
        proxy.proc.stdin.close()
        assert proxy.wait() == 0
    assert alive(cursor.all_pids + claude.all_pids) == []


def test_lock_of_a_killed_proxy_is_taken_over(home, start_proxy, leftovers):
    proxy = start_proxy(home, "cursor", upstreams=1)
    leftovers.extend(proxy.all_pids)
    proxy.proc.kill()
    proxy.wait()
    assert read_lock_file(home / "proxy-cursor.pid").pid == proxy.pid  # left behind, stale
    with ClientLock(home, "cursor") as lock:
        assert read_lock_file(lock.path).pid == os.getpid()
    reap(home, grace=0.5)


def test_legacy_pid_file_of_a_running_proxy_refuses_the_default_client(home, start_proxy, leftovers):
    other = start_proxy(home, "cursor", upstreams=1)  # any live process stands in for a 0.1.x proxy
    leftovers.extend(other.all_pids)
    home.mkdir(exist_ok=True)
    (home / "proxy.pid").write_text(f"{other.pid}\n{boot_time()}\n")
    refused = start_proxy(home, "default", upstreams=1, expect_ready=False)
    assert refused.wait(timeout=30) == 3
    (home / "proxy.pid").write_text(f"{other.pid}\n{boot_time() - 7 * 86400}\n")  # previous boot: stale
    with ClientLock(home, "default"):
        assert not (home / "proxy.pid").exists()
    other.proc.stdin.close()
    assert other.wait() == 0


# ---- one upstream, in this process ---------------------------------------------------------


async def test_terminate_ends_the_group_and_forgets_it(home, leftovers):
    registry = ProcessRegistry(home, "tests")
    upstream = await spawn_upstream([sys.executable, str(UPSTREAM_CHILD)], name="fs", registry=registry)
    report = await read_report(upstream)
    leftovers.extend([report["pid"], report["grandchild"]])
    assert report["pid"] == upstream.pid
    assert report["pgid"] == report["sid"] == upstream.pgid == upstream.pid  # own session and group
    assert report["pgid"] != os.getpgrp()

    await upstream.terminate(grace=2.0)

    assert upstream.returncode is not None
    assert alive([report["pid"], report["grandchild"]]) == []
    assert registry.groups == ()
    await upstream.terminate()  # idempotent
    registry.close()
    assert not registry.path.exists()


async def test_upstream_ignoring_sigterm_is_killed_after_grace(home, leftovers):
    upstream = await spawn_upstream([sys.executable, str(UPSTREAM_CHILD), "stubborn"], name="stubborn")
    report = await read_report(upstream)
    leftovers.extend([report["pid"], report["grandchild"]])
    await upstream.terminate(grace=0.3)
    assert upstream.returncode == -signal.SIGKILL
    assert alive([report["pid"], report["grandchild"]]) == []


async def test_exit_of_the_upstream_takes_its_group_down(leftovers):
    upstream = await spawn_upstream([sys.executable, str(UPSTREAM_CHILD), "exit-on-eof"], name="short")
    report = await read_report(upstream)
    leftovers.extend([report["pid"], report["grandchild"]])
    await upstream.stdin.aclose()
    assert await upstream.wait(grace=1.0) == 3
    assert alive([report["grandchild"]]) == []


async def test_terminate_all_ends_every_upstream_at_once(leftovers):
    upstreams = [
        await spawn_upstream([sys.executable, str(UPSTREAM_CHILD), "stubborn"], name=f"s{i}") for i in range(3)
    ]
    reports = [await read_report(u) for u in upstreams]
    pids = [r[k] for r in reports for k in ("pid", "grandchild")]
    leftovers.extend(pids)
    await terminate_all(upstreams, grace=0.3)
    assert alive(pids) == []
    assert all(u.returncode == -signal.SIGKILL for u in upstreams)


async def test_stderr_goes_to_the_logger_not_stdout(caplog, leftovers):
    logger = logging.getLogger("tests.upstream")
    caplog.set_level(logging.INFO, logger=logger.name)
    upstream = await spawn_upstream([sys.executable, str(UPSTREAM_CHILD)], name="fs", stderr_logger=logger)
    report = await read_report(upstream)
    leftovers.extend([report["pid"], report["grandchild"]])
    assert "hello" not in json.dumps(report)
    await upstream.terminate(grace=1.0)
    assert "upstream fs stderr: upstream says hello on stderr" in [r.getMessage() for r in caplog.records]


async def test_environment_is_the_base_plus_overlay_without_the_api_key(leftovers):
    parent = {"PATH": os.environ["PATH"], "HOME": "/home/someone", "INHERENCE_API_KEY": "inh_x", "SECRET": "s"}
    upstream = await spawn_upstream(
        [sys.executable, str(UPSTREAM_CHILD)], name="fs", env={"GITHUB_TOKEN": "t"}, parent_env=parent
    )
    report = await read_report(upstream)
    leftovers.extend([report["pid"], report["grandchild"]])
    await upstream.terminate(grace=1.0)
    env = report["env"]
    assert env["GITHUB_TOKEN"] == "t"
    assert env["HOME"] == "/home/someone"
    assert "INHERENCE_API_KEY" not in env
    assert "SECRET" not in env


async def test_working_directory_is_honoured(tmp_path, leftovers):
    code = "import os, sys; print(os.getcwd(), flush=True); sys.stdin.read()"
    upstream = await spawn_upstream([sys.executable, "-c", code], name="cwd", cwd=tmp_path)
    line = b""
    while not line.endswith(b"\n"):
        line += await upstream.stdout.receive()
    await upstream.terminate(grace=1.0)
    assert line.decode().strip() == str(tmp_path.resolve())


async def test_missing_command_is_a_clear_error():
    with pytest.raises(UpstreamCommandNotFound, match="'no-such-mcp-server' not found"):
        await spawn_upstream(["no-such-mcp-server"], name="gh")
