import importlib.metadata
import json

import pytest
from click.testing import CliRunner

from inherence_proxy import __version__
from inherence_proxy.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version_flag_prints_the_distribution_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output == f"inherence-proxy, version {__version__}\n"


def test_version_is_an_upgrade_over_the_published_0_1_line() -> None:
    major, minor = (int(part) for part in __version__.split(".")[:2])
    assert (major, minor) >= (0, 2)


def test_version_command_lists_every_package(runner: CliRunner) -> None:
    result = runner.invoke(main, ["version", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    versions = json.loads(result.output)
    assert versions["inherence-proxy"] == __version__
    assert versions["inherence-policy-client"] == importlib.metadata.version("inherence-policy-client")
    assert versions["mcp"] == importlib.metadata.version("mcp")
    assert set(versions) >= {"inherence-proxy-core", "inherence-policy-server", "inherence-client-adapters", "fastmcp"}


def test_version_command_table_marks_missing_distributions(runner: CliRunner) -> None:
    result = runner.invoke(main, ["version"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = dict(line.split(maxsplit=1) for line in result.output.splitlines())
    assert lines["inherence-proxy"] == __version__
    for name, found in json.loads(runner.invoke(main, ["version", "--json"]).output).items():
        assert lines[name] == (found or "not installed")
