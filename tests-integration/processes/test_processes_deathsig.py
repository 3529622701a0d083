"""The Linux exec wrapper that arms PR_SET_PDEATHSIG before becoming the upstream."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import inherence_proxy_core

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")

WRAPPER = Path(inherence_proxy_core.__file__).with_name("_proc_deathsig.py")
SIGPIPE_BIT = 1 << (13 - 1)


def run_wrapped(parent, *argv):
    return subprocess.run(
        [sys.executable, "-I", "-S", str(WRAPPER), str(parent), *argv], capture_output=True, timeout=30, check=False
    )


def test_wrapper_refuses_to_start_an_upstream_whose_proxy_is_already_gone():
    result = run_wrapped(1, "/bin/echo", "should not run")  # its parent is this test, not pid 1
    assert result.returncode == 125
    assert result.stdout == b""


def test_upstream_gets_default_signal_dispositions():
    result = run_wrapped(os.getpid(), "/bin/grep", "^SigIgn", "/proc/self/status")
    assert result.returncode == 0, result.stderr
    ignored = int(result.stdout.split()[1], 16)
    assert ignored & SIGPIPE_BIT == 0


def test_exec_failure_is_reported_on_stderr(tmp_path):
    not_executable = tmp_path / "server"
    not_executable.write_text("")
    result = run_wrapped(os.getpid(), str(not_executable))
    assert result.returncode == 127
    assert b"cannot execute" in result.stderr
