"""Helpers for the process tests: a proxy of our own run as a real process, bounded waits."""

from __future__ import annotations

import contextlib
import json
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inherence_proxy_core._proc_identity import is_alive

HERE = Path(__file__).parent
FAKE_PROXY = HERE / "fake_proxy.py"
UPSTREAM_CHILD = HERE / "upstream_child.py"

if sys.platform == "win32":
    collect_ignore_glob = ["test_*.py"]


def wait_until(predicate, timeout=10.0, what="condition"):
    """Poll `predicate` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def read_line(stream, timeout=20.0):
    """One line from a pipe, failing the test if none comes within `timeout` seconds."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                pytest.fail(f"no line within {timeout}s (got {data!r})")
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(1)
            if not chunk:
                pytest.fail(f"stream closed before a full line (got {data!r})")
            data += chunk
        return data


class RunningProxy:
    def __init__(self, proc, report, stderr_path):
        self.proc = proc
        self.pid = proc.pid
        self.report = report
        self.stderr_path = stderr_path

    @property
    def upstream_pids(self):
        return [u["pid"] for u in self.report["upstreams"]]

    @property
    def grandchild_pids(self):
        return [u["grandchild"] for u in self.report["upstreams"]]

    @property
    def all_pids(self):
        return self.upstream_pids + self.grandchild_pids

    def wait(self, timeout=20.0):
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def start_proxy(tmp_path):
    """Start fake_proxy.py for a client; every one is killed at teardown whatever the test did."""
    started = []

    def start(home, client, upstreams=2, expect_ready=True):
        stderr_path = tmp_path / f"proxy-{client}-{len(started)}.err"
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, str(FAKE_PROXY), str(home), client, str(upstreams)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        started.append(proc)
        if not expect_ready:
            return proc
        line = read_line(proc.stdout)
        return RunningProxy(proc, json.loads(line), stderr_path)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=20)
        for stream in (proc.stdin, proc.stdout):
            stream.close()


@pytest.fixture
def leftovers():
    """Kill, at teardown, any process a test recorded here that is still alive (a failed test's debris)."""
    pids = []
    yield pids
    import psutil

    for pid in pids:
        if is_alive(pid):
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
