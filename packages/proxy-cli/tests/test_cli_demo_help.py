import json
import pathlib

import pytest
from click.testing import CliRunner

from inherence_proxy import _demo_server
from inherence_proxy._demo import DEMO_STEPS
from inherence_proxy.cli import main

COMMANDS = ["serve", "init", "status", "audit", "restore", "reap", "version", "demo"]


def test_demo_shows_real_allow_ask_and_deny_decisions(invoke) -> None:
    result = invoke(["demo"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    decisions = [line[0] for line in lines if line and line[0] in ("ALLOW", "DENY", "ASK")]
    shown = {"allow": "ALLOW", "deny": "DENY", "confirm": "ASK"}
    assert decisions == [shown[step.expected] for step in DEMO_STEPS]
    for rule in (
        "credential_access.credential_file",
        "mass_destruction.recursive_delete",
        "lateral_pivot.metadata_endpoint",
        "gate_integrity.protected_file",
        "unauthorized_exfiltration.private_data_to_new_recipient",
    ):
        assert f"rule {rule}: " in result.output
    assert "4 allowed, 1 waiting for a person's yes, 5 denied." in result.output
    received = "read_file, run_command, search_customers, send_email"
    assert f"The demo server received 4 calls, all of them allowed ones: {received}." in result.output
    assert "\x1b[" not in result.output  # no colour off a terminal


def test_the_demo_server_reads_only_inside_its_sandbox(tmp_path: pathlib.Path, monkeypatch) -> None:
    (tmp_path / "inside.txt").write_text("inside")
    monkeypatch.setenv("DEMO_SANDBOX", str(tmp_path))
    assert _demo_server.answer("tools/call", {"name": "read_file", "arguments": {"path": "inside.txt"}}) == {
        "content": [{"type": "text", "text": "inside"}],
        "isError": False,
    }
    outside = _demo_server.answer("tools/call", {"name": "read_file", "arguments": {"path": "/etc/hostname"}})
    assert outside is not None
    assert outside["isError"] is True
    assert "outside the demo sandbox" in outside["content"][0]["text"]
    assert _demo_server.answer("resources/list", {}) is None
    assert [t["name"] for t in _demo_server.answer("tools/list", {})["tools"]] == [  # type: ignore[index]
        "read_file", "run_command", "fetch_url", "search_customers", "send_email",
    ]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples_exit_codes_and_verbose(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "Exit codes:" in result.output
    assert "7  audit: something bypasses the gate" in result.output
    assert "-v, --verbose" in result.output


def test_verbose_is_accepted_before_and_after_the_command() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["-v", "version", "--json"], catch_exceptions=False).exit_code == 0
    result = runner.invoke(main, ["version", "-v", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["inherence-proxy"]


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["frobnicate"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output
