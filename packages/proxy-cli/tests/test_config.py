import json
import pathlib

import pytest

from inherence_proxy._config import ConfigFileError, ProxyConfig, SettingError, load_config
from inherence_proxy._home import ProxyHome
from inherence_proxy._serve import gateway_settings

DATA = pathlib.Path(__file__).parent / "data"
LEGACY_KEY = "inh_live_0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_a_0_1_11_config_loads_unchanged() -> None:
    config = load_config(DATA / "config-0.1.11.json")
    assert config.effective_api_key({}) == LEGACY_KEY
    assert config.hosted_endpoint == "https://mcp.inherencelabs.com"
    assert [u.name for u in config.upstreams] == ["filesystem", "github"]
    assert config.upstreams[0].command == [
        "npx",
        "-y",
        "@modelcontextprotocol/server-filesystem",
        "/Users/ada/Documents",
    ]
    assert config.upstreams[1].cwd == "/Users/ada"
    assert config.migrated_clients[0].upstream_names == ["filesystem", "github"]
    assert json.loads(config.to_json()) == json.loads((DATA / "config-0.1.11.json").read_text())


def test_keys_this_version_does_not_know_survive_a_save(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"future_setting": {"a": 1}, "upstreams": [{"name": "x", "command": ["x"], "k": 2}]}))
    saved = json.loads(load_config(path).to_json())
    assert saved["future_setting"] == {"a": 1}
    assert saved["upstreams"][0]["k"] == 2


def test_the_key_is_in_no_repr() -> None:
    config = load_config(DATA / "config-0.1.11.json")
    assert LEGACY_KEY not in repr(config)
    assert LEGACY_KEY not in str(config)


def test_a_missing_file_is_an_empty_config(tmp_path: pathlib.Path) -> None:
    assert load_config(tmp_path / "config.json") == ProxyConfig()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"api_key": "inh_x",\n  "upstreams": [}', "not valid JSON: .* line 2, column 17"),
        (b"[1, 2]", "must hold a JSON object, not list"),
        (b'{"upstreams": [{"name": "a", "command": "npx server"}]}', r"field upstreams\[0\]\.command"),
        (b'{"upstreams": [{"name": "a", "transport": "stdio"}]}', "uses stdio but has no command"),
        (b'{"upstreams": [{"name": "a", "transport": "sse"}]}', "uses sse but has no url"),
        (b'{"migrated_clients": [{"name": "cursor"}]}', r"field migrated_clients\[0\]\.config_path"),
        (b"\xff\xfe{}", "is not UTF-8"),
        (b'{"confirm_timeout_seconds": 0}', "field confirm_timeout_seconds: Input should be greater than 0"),
        (b'{"confirm_timeout_seconds": "60"}', "field confirm_timeout_seconds: Input should be a valid number"),
        (b'{"confirm_timeout_seconds": 86400}', "field confirm_timeout_seconds: Input should be less than or equal"),
        (b'{"report_outcomes": "no"}', "field report_outcomes: Input should be a valid boolean"),
        (b'{"tool_names": "short"}', "field tool_names: Input should be 'prefixed' or 'upstream'"),
        (b'{"tool_names": 1}', "field tool_names: Input should be 'prefixed' or 'upstream'"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_place(
    tmp_path: pathlib.Path, content: bytes, message: str
) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(ConfigFileError, match=message) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_wrongly_typed_key_is_refused_without_echoing_the_value(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"api_key": ["inh_secret_value_123"]}))
    with pytest.raises(ConfigFileError, match="field api_key") as caught:
        load_config(path)
    assert "inh_secret_value_123" not in str(caught.value)


def test_environment_overrides_key_and_endpoint() -> None:
    config = load_config(DATA / "config-0.1.11.json")
    environ = {"INHERENCE_API_KEY": "inh_from_env", "INHERENCE_ENDPOINT": "https://policy.example.com"}
    assert config.effective_api_key(environ) == "inh_from_env"
    assert config.effective_endpoint(environ) == "https://policy.example.com"
    assert ProxyConfig().effective_api_key({}) is None


def test_each_client_gets_its_own_upstreams() -> None:
    config = ProxyConfig.model_validate(
        {
            "upstreams": [{"name": n, "command": [n]} for n in ("fs", "git", "memory")],
            "migrated_clients": [
                {"name": "cursor", "config_path": "/c.json", "upstream_names": ["git"]},
                {"name": "claude_desktop", "config_path": "/d.json", "upstream_names": ["fs", "memory"]},
            ],
        }
    )
    assert [u.name for u in config.upstreams_for("cursor")] == ["git"]
    assert [u.name for u in config.upstreams_for("claude_desktop")] == ["fs", "memory"]
    assert [u.name for u in config.upstreams_for(None)] == ["fs", "git", "memory"]
    assert [u.name for u in config.upstreams_for("claude-desktop")] == ["fs", "memory"]  # as 0.1.x spelled it


def test_home_is_overridable_and_names_its_files(tmp_path: pathlib.Path) -> None:
    home = ProxyHome.locate({}, tmp_path)
    assert home.root == tmp_path / ".inherence-proxy"
    assert home.pid_path("cursor") == home.root / "proxy-cursor.pid"
    assert home.legacy_pid_path.name == "proxy.pid"
    other = ProxyHome.locate({"INHERENCE_PROXY_HOME": str(tmp_path / "elsewhere")}, tmp_path)
    assert other.config_path == tmp_path / "elsewhere" / "config.json"
    with pytest.raises(ValueError, match="client name"):
        home.pid_path("../../etc/passwd")
    other.ensure()
    assert other.root.stat().st_mode & 0o777 == 0o700


def test_confirmation_and_outcome_settings_come_from_the_file_then_the_environment(tmp_path: pathlib.Path) -> None:
    legacy = load_config(DATA / "config-0.1.11.json")
    defaults = gateway_settings(legacy, {})
    assert (defaults.confirm_timeout, defaults.report_outcomes) == (120.0, True)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"confirm_timeout_seconds": 45, "report_outcomes": False}))
    config = load_config(path)
    assert (gateway_settings(config, {}).confirm_timeout, gateway_settings(config, {}).report_outcomes) == (45, False)
    environ = {"INHERENCE_PROXY_CONFIRM_TIMEOUT": "7.5", "INHERENCE_PROXY_REPORT_OUTCOMES": "1"}
    overridden = gateway_settings(config, environ)
    assert (overridden.confirm_timeout, overridden.report_outcomes) == (7.5, True)
    assert not gateway_settings(legacy, {"INHERENCE_PROXY_REPORT_OUTCOMES": "0"}).report_outcomes
    assert json.loads(config.to_json()) == {"confirm_timeout_seconds": 45, "report_outcomes": False}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("INHERENCE_PROXY_CONFIRM_TIMEOUT", "soon", "INHERENCE_PROXY_CONFIRM_TIMEOUT: 'soon' is not a number"),
        ("INHERENCE_PROXY_CONFIRM_TIMEOUT", "-1", "INHERENCE_PROXY_CONFIRM_TIMEOUT: must be more than 0"),
        ("INHERENCE_PROXY_REPORT_OUTCOMES", "maybe", "INHERENCE_PROXY_REPORT_OUTCOMES: 'maybe' is not 1 or 0"),
        ("INHERENCE_PROXY_TOOL_NAMES", "short", "INHERENCE_PROXY_TOOL_NAMES: 'short' is not prefixed or upstream"),
    ],
)
def test_a_bad_variable_is_refused_naming_it(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingError, match=message):
        gateway_settings(ProxyConfig(), {name: value})


def test_tool_names_come_from_the_file_then_the_environment(tmp_path: pathlib.Path) -> None:
    legacy = load_config(DATA / "config-0.1.11.json")
    assert gateway_settings(legacy, {}).names == "prefixed"
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"tool_names": "upstream"}))
    config = load_config(path)
    assert gateway_settings(config, {}).names == "upstream"
    assert gateway_settings(config, {"INHERENCE_PROXY_TOOL_NAMES": "prefixed"}).names == "prefixed"
    assert gateway_settings(legacy, {"INHERENCE_PROXY_TOOL_NAMES": " Upstream "}).names == "upstream"
    assert json.loads(config.to_json()) == {"tool_names": "upstream"}
