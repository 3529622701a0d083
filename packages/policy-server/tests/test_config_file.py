"""The rules config file: TOML into RulesConfig; a bad file names itself and the field."""

from __future__ import annotations

import pathlib

import pytest
from click.testing import CliRunner

from inherence_policy_server import ConfigError, default_rules_config, load_rules_config
from inherence_policy_server.cli import main
from inherence_policy_server.rules import Mode


def _write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_sets_modes_thresholds_and_trust(tmp_path) -> None:
    path = _write(
        tmp_path,
        """
        [financial_drain]
        mode = "log"
        per_call_limit_cents = 2500

        [organisation]
        email_domains = ["Example.COM."]
        """,
    )
    config = load_rules_config(path)
    assert config.financial_drain.mode is Mode.LOG
    assert config.financial_drain.per_call_limit_cents == 2500
    assert config.organisation.email_domains == ("example.com",)
    assert config.mass_destruction == default_rules_config().mass_destruction


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("[financial_drain]\nper_cal_limit_cents = 5\n", "financial_drain.per_cal_limit_cents", "Extra inputs"),
        ('[lateral_pivot]\nmode = "sometimes"\n', "lateral_pivot.mode", "Input should be"),
        ("[financial_drain]\nhour_limit_cents = -1\n", "financial_drain.hour_limit_cents", "greater than or equal"),
        ("[unknown_rule]\nmode = 'off'\n", "unknown_rule", "Extra inputs"),
    ],
)
def test_a_bad_field_is_named_with_the_file(tmp_path, text: str, field: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_rules_config(path)
    assert caught.value.path == path
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{path}: {field}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(("text", "message"), [("[financial_drain\n", "not valid TOML"), (b"\xff\xfe", "not UTF-8")])
def test_a_file_that_cannot_be_parsed_is_named(tmp_path, text, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=message) as caught:
        load_rules_config(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules_config(tmp_path / "absent.toml")


def test_rules_show_prints_the_effective_modes_and_thresholds(tmp_path) -> None:
    path = _write(tmp_path, '[mass_destruction]\nmode = "off"\nbulk_delete_threshold = 7\n')
    runner = CliRunner()
    shown = runner.invoke(main, ["rules", "show", "--config", str(path)], catch_exceptions=False)
    defaults = runner.invoke(main, ["rules", "show"], catch_exceptions=False)
    assert shown.exit_code == 0
    assert "mass_destruction: off" in shown.output
    assert "bulk_delete_threshold = 7" in shown.output
    assert str(path) in shown.output
    assert "mass_destruction: enforce" in defaults.output
    assert "financial_drain: enforce" in defaults.output
    assert "per_call_limit_cents = 100000" in defaults.output


def test_rules_show_with_a_bad_file_fails_naming_it(tmp_path) -> None:
    path = _write(tmp_path, "[financial_drain]\nper_cal_limit_cents = 5\n")
    result = CliRunner().invoke(main, ["rules", "show", "--config", str(path)], catch_exceptions=False)
    assert result.exit_code == 1
    assert f"{path}: financial_drain.per_cal_limit_cents" in result.output
