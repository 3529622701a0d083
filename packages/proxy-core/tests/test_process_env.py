"""An upstream's environment and command: a sane base, the overlay on top, never the API key."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from inherence_proxy_core._proc_env import resolve_command, upstream_environment
from inherence_proxy_core._proc_errors import ProcessUsageError, UpstreamCommandNotFound, UpstreamSpawnError

PARENT = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/u",
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp/u",
    "INHERENCE_API_KEY": "inh_secret",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "PYTHONPATH": "/somewhere",
}


def test_base_environment_keeps_only_the_sane_names():
    env = upstream_environment(None, parent=PARENT)
    assert env == {"PATH": "/usr/bin:/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "TMPDIR": "/tmp/u"}


def test_overlay_wins_and_adds():
    env = upstream_environment({"PATH": "/opt/bin", "GITHUB_TOKEN": "t"}, parent=PARENT)
    assert env["PATH"] == "/opt/bin"
    assert env["GITHUB_TOKEN"] == "t"


def test_api_key_never_reaches_an_upstream_even_if_configured(caplog):
    env = upstream_environment({"INHERENCE_API_KEY": "inh_x"}, parent=PARENT, upstream="fs")
    assert "INHERENCE_API_KEY" not in env
    assert "never passed" in caplog.text
    assert "inh_x" not in caplog.text


def _executable(path):
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX executables")
def test_command_is_looked_up_on_the_upstreams_path(tmp_path):
    tool = _executable(tmp_path / "my-mcp-server")
    argv = resolve_command(["my-mcp-server", "--flag"], name="x", env={"PATH": str(tmp_path)}, cwd=None)
    assert argv == [str(tool), "--flag"]


def test_missing_command_names_the_path_searched(tmp_path):
    with pytest.raises(UpstreamCommandNotFound) as missing:
        resolve_command(["no-such-mcp-server"], name="gh", env={"PATH": str(tmp_path)}, cwd=None)
    assert missing.value.command == "no-such-mcp-server"
    assert str(tmp_path) in str(missing.value)
    assert "'gh'" in str(missing.value)


def test_missing_command_with_empty_path(tmp_path):
    with pytest.raises(UpstreamCommandNotFound, match="PATH is empty"):
        resolve_command(["npx"], name="gh", env={}, cwd=None)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX executables")
def test_relative_command_is_taken_from_cwd(tmp_path):
    tool = _executable(tmp_path / "server.sh")
    argv = resolve_command([f".{os.sep}server.sh"], name="x", env={"PATH": ""}, cwd=tmp_path)
    assert argv == [str(tool)]


def test_missing_path_command(tmp_path):
    with pytest.raises(UpstreamCommandNotFound, match="no executable file"):
        resolve_command([str(tmp_path / "nothing")], name="x", env={"PATH": "/bin"}, cwd=None)


def test_empty_argv_is_a_caller_mistake():
    with pytest.raises(ProcessUsageError):
        resolve_command([], name="x", env={"PATH": "/bin"}, cwd=None)


def test_missing_working_directory(tmp_path):
    with pytest.raises(UpstreamSpawnError, match="working directory"):
        resolve_command([sys.executable], name="x", env={"PATH": ""}, cwd=tmp_path / "gone")
