import json
import os

import pytest

from inherence_proxy._errors import ExitCode
from inherence_proxy_core import ClientLock


def test_a_second_proxy_for_the_same_client_is_refused(machine, invoke) -> None:
    with ClientLock(machine.proxy_home, "cursor"):
        result = invoke(["serve", "cursor"])
    assert result.exit_code == ExitCode.ALREADY_RUNNING
    assert f"an inherence proxy for client 'cursor' is already running (process {os.getpid()}" in result.output
    assert result.output.count("\n") == 1


def test_serve_without_a_client_is_the_0_1_x_proxy_and_respects_its_pid_file(machine, invoke) -> None:
    machine.proxy_home.mkdir()
    (machine.proxy_home / "proxy.pid").write_text(f"{os.getppid()}\n")  # a live process, not this one
    result = invoke(["serve"])
    assert result.exit_code == ExitCode.ALREADY_RUNNING
    assert "proxy.pid" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "cursor", "--http", "nowhere"], "is not HOST:PORT"),
        (["serve", "cursor", "--http", "127.0.0.1:99999"], "port 99999 is not between 1 and 65535"),
        (["serve", "../etc"], "client name '../etc' must be"),
    ],
)
def test_serve_refuses_bad_arguments(machine, invoke, args, message) -> None:
    result = invoke(args)
    assert result.exit_code == ExitCode.USAGE
    assert message in result.output


def test_serve_with_a_broken_config_exits_3_and_writes_nothing_to_stdout_but_the_error(machine, invoke) -> None:
    machine.proxy_home.mkdir()
    (machine.proxy_home / "config.json").write_text(json.dumps({"upstreams": [{"name": "a"}]}))
    result = invoke(["serve", "cursor"])
    assert result.exit_code == ExitCode.CONFIG
    assert "uses stdio but has no command" in result.output


def test_reap_removes_stale_locks_and_leaves_a_live_proxy_alone(machine, invoke) -> None:
    machine.proxy_home.mkdir()
    stale = machine.proxy_home / "proxy-cursor.pid"
    stale.write_text("999999999\n1\n")
    legacy = machine.proxy_home / "proxy.pid"
    legacy.write_text("999999998\n1\n")
    with ClientLock(machine.proxy_home, "claude-desktop"):
        result = invoke(["reap", "--json"])
        assert (machine.proxy_home / "proxy-claude-desktop.pid").exists()
    assert result.exit_code == 0, result.output
    actions = {(a["kind"], a["client"]) for a in json.loads(result.output)["actions"]}
    assert actions == {("lock_removed", None), ("lock_removed", "cursor"), ("proxy_alive", "claude-desktop")}
    assert not stale.exists()
    assert not legacy.exists()
    assert invoke(["reap"]).output == f"Nothing to clean up in {machine.proxy_home}.\n"


def test_reap_reports_each_action_as_a_line(machine, invoke) -> None:
    machine.proxy_home.mkdir()
    (machine.proxy_home / "proxy-cursor.pid").write_text("999999999\n1\n")
    result = invoke(["reap"])
    assert result.exit_code == 0
    assert result.output == "lock_removed      client cursor (pid 999999999): stale lock file removed\n"


def test_serve_over_http_on_a_public_address_needs_allow_remote(machine, invoke) -> None:
    result = invoke(["serve", "cursor", "--http", "0.0.0.0:8765"])
    assert result.exit_code == ExitCode.USAGE
    assert "0.0.0.0 is not a loopback address; add --allow-remote" in result.output


def test_allow_remote_lets_serve_take_a_public_address(machine, invoke) -> None:
    with ClientLock(machine.proxy_home, "cursor"):
        result = invoke(["serve", "cursor", "--http", "0.0.0.0:8765", "--allow-remote"])
    assert result.exit_code == ExitCode.ALREADY_RUNNING  # past the address check, stopped by the lock


def test_serve_refuses_a_bad_confirmation_timeout_naming_the_variable(machine, invoke) -> None:
    result = invoke(["serve"], env={"INHERENCE_PROXY_CONFIRM_TIMEOUT": "forever"})
    assert result.exit_code == ExitCode.CONFIG
    assert "INHERENCE_PROXY_CONFIRM_TIMEOUT: 'forever' is not a number of seconds" in result.output


def test_serve_refuses_bad_tool_names_naming_the_variable(machine, invoke) -> None:
    result = invoke(["serve"], env={"INHERENCE_PROXY_TOOL_NAMES": "bare"})
    assert result.exit_code == ExitCode.CONFIG
    assert "INHERENCE_PROXY_TOOL_NAMES: 'bare' is not prefixed or upstream" in result.output
