"""The `inherence-policy-server` command through click's CliRunner."""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner

from inherence_policy_server import SQLiteStorage
from inherence_policy_server._keys import parse_key, verify_secret
from inherence_policy_server._serving import (
    ENV_CONFIG,
    ENV_DATA_DIR,
    ENV_NO_AUTH,
    ENV_SINGLE_ACCEPT,
    app_from_environment,
)
from inherence_policy_server.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_keys_create_list_revoke(runner, tmp_path) -> None:
    data_dir = str(tmp_path / "data")
    created = runner.invoke(main, ["keys", "create", "--data-dir", data_dir, "--label", "ci"], catch_exceptions=False)
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert re.fullmatch(r"inh_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    key_id = parse_key(key)
    storage = SQLiteStorage(tmp_path / "data")
    try:
        assert verify_secret(key, storage.find_key(key_id))
    finally:
        storage.close()

    listed = runner.invoke(main, ["keys", "list", "--data-dir", data_dir], catch_exceptions=False)
    assert listed.exit_code == 0
    assert key_id in listed.output
    assert "ci" in listed.output
    assert key not in listed.output
    shown_prefix = listed.output.split(key_id, 1)[1].split()[0].removesuffix("...")
    assert key.startswith(shown_prefix)
    assert key[len(shown_prefix) :] not in listed.output

    revoked = runner.invoke(main, ["keys", "revoke", "--data-dir", data_dir, key_id], catch_exceptions=False)
    assert revoked.exit_code == 0
    relisted = runner.invoke(main, ["keys", "list", "--data-dir", data_dir], catch_exceptions=False)
    row = next(line for line in relisted.output.splitlines() if line.startswith(key_id))
    assert row.split()[5] != "-"  # the revoked column has a time
    storage = SQLiteStorage(tmp_path / "data")
    try:
        assert not verify_secret(key, storage.find_key(key_id))
    finally:
        storage.close()


def test_revoking_an_unknown_key_fails_with_a_message(runner, tmp_path) -> None:
    result = runner.invoke(main, ["keys", "revoke", "--data-dir", str(tmp_path), "abc"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "no API key with id 'abc'" in result.output


def test_empty_key_list(runner, tmp_path) -> None:
    result = runner.invoke(main, ["keys", "list", "--data-dir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "no API keys" in result.output


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])
def test_serve_refuses_a_non_loopback_address_without_the_flag(runner, tmp_path, host: str) -> None:
    result = runner.invoke(main, ["serve", "--host", host, "--data-dir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "--allow-remote" in result.output


def test_serve_refuses_no_auth_off_loopback(runner, tmp_path) -> None:
    args = ["serve", "--host", "0.0.0.0", "--allow-remote", "--no-auth", "--data-dir", str(tmp_path)]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 1
    assert "loopback" in result.output


def test_serve_with_a_bad_config_fails_before_listening(runner, tmp_path) -> None:
    config = tmp_path / "rules.toml"
    config.write_text("[lateral_pivot]\nmode = 'sometimes'\n")
    args = ["serve", "--data-dir", str(tmp_path / "data"), "--config", str(config), "--port", "1"]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 1
    assert f"{config}: lateral_pivot.mode" in result.output


def test_a_worker_builds_its_app_from_the_settings_its_parent_passed(tmp_path) -> None:
    config = tmp_path / "rules.toml"
    config.write_text("[mass_destruction]\nmode = 'log'\n")
    environ = {ENV_DATA_DIR: str(tmp_path / "data"), ENV_CONFIG: str(config), ENV_NO_AUTH: "1"}
    app = app_from_environment(environ)
    try:
        assert app.require_key is False
        assert app.config.mass_destruction.mode.value == "log"
        assert app.storage.path.parent == tmp_path / "data"
    finally:
        app.close()
    keyed = app_from_environment({ENV_DATA_DIR: str(tmp_path / "data")})
    try:
        assert keyed.require_key is True
        assert keyed.config.mass_destruction.mode.value == "enforce"
    finally:
        keyed.close()


def test_workers_take_connections_one_at_a_time_unless_told_otherwise(tmp_path, monkeypatch) -> None:
    import uvicorn

    from inherence_policy_server import _serving

    seen: list[str | None] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.append(os.environ.get(ENV_SINGLE_ACCEPT)))
    options = {"host": "127.0.0.1", "port": 1, "config_path": None, "require_key": True, "access_log": False}
    # What `run` hands its workers through the environment is put back after the test.
    for name in _serving.__all__:
        if name.startswith("ENV_"):
            monkeypatch.setenv(getattr(_serving, name), "")
    monkeypatch.delenv(ENV_SINGLE_ACCEPT)
    _serving.run(data_dir=tmp_path, workers=2, **options)
    monkeypatch.setenv(ENV_SINGLE_ACCEPT, "0")  # an operator's own choice stands
    _serving.run(data_dir=tmp_path, workers=2, **options)
    assert seen == ["1", "0"]
