"""`inherence-proxy dashboard`: help, bad flags, a taken port (serving itself is an integration test)."""

import socket

from click.testing import CliRunner

from inherence_proxy.cli import main


def test_dashboard_help_has_examples_and_exit_codes() -> None:
    result = CliRunner().invoke(main, ["dashboard", "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "--no-browser" in result.output
    assert "Exit codes:" in result.output


def test_a_bad_port_is_a_usage_error(invoke) -> None:
    result = invoke(["dashboard", "--port", "70000", "--no-browser"])
    assert result.exit_code == 2
    assert "--port" in result.output


def test_a_short_admin_token_is_a_usage_error(invoke) -> None:
    result = invoke(["dashboard", "--no-browser"], env={"INHERENCE_POLICY_ADMIN_TOKEN": "short"})
    assert result.exit_code == 2
    assert "at least 16 characters" in result.output


def test_a_taken_port_is_one_line_and_exit_1(invoke) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = invoke(["dashboard", "--port", str(port), "--no-browser"])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
    assert "Admin token" not in result.output
