"""Rule packs: the shipped packs load, bad packs are refused naming file and entry, users extend them."""

from __future__ import annotations

import datetime
import pathlib
import sys
from typing import Any

import pytest

from inherence_policy_server import ConfigError
from inherence_policy_server._rules import rules_config_from_mapping
from inherence_policy_server.rules import CLAUSE_DEFAULTS, Call, Category, InMemoryLedger, RulesConfig, evaluate
from inherence_policy_server.rules._pack_views import pack_views
from inherence_policy_server.rules._packs import PACK_NAMES, SHIPPED, PackError, load_pack
from inherence_policy_server.rules._weakening import weakenings

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

NOW = datetime.datetime(2026, 6, 2, 12, 0, tzinfo=datetime.timezone.utc)
GOOD_HOST = """
description = "test"

[[entries]]
id = "first"
host = "first.example"
clause = "unauthorized_exfiltration.exfiltration_endpoint"
"""


def _clauses(call: Call, config: RulesConfig) -> set[str]:
    return set(evaluate(call, config, InMemoryLedger(), NOW).failed_clauses)


def _packs(**packs: dict[str, Any]) -> RulesConfig:
    return RulesConfig.model_validate({"packs": packs})


def test_the_shipped_packs_load_with_unique_ids_and_known_clauses() -> None:
    assert sorted(SHIPPED) == list(PACK_NAMES)
    assert list(PACK_NAMES) == [
        "api_resources",
        "credential_paths",
        "exfiltration_hosts",
        "metadata_addresses",
        "privileged_roles",
    ]
    for pack in SHIPPED.values():
        entries = pack.entries  # type: ignore[attr-defined]
        assert entries
        assert len({entry.id for entry in entries}) == len(entries)
        for entry in entries:
            rule, _, short = entry.clause.partition(".")
            assert short in CLAUSE_DEFAULTS[rule]
    views = pack_views(RulesConfig().packs)
    assert "webhook.site" in views.exfiltration_hosts.hosts
    assert views.metadata_addresses.name_clause("metadata.google.internal") == "lateral_pivot.metadata_endpoint"
    assert (".aws", "credentials") in views.credential_paths.files
    assert ("*.pub",) in views.credential_paths.harmless
    assert views.privileged_roles.clause_of("org admins") == "identity_escalation.admin_grant"
    assert views.privileged_roles.clause_of("roles/viewer") is None


def test_a_good_pack_loads() -> None:
    pack = load_pack("exfiltration_hosts", GOOD_HOST, source="mine.toml")
    assert [entry.host for entry in pack.entries] == ["first.example"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "text", "named"),
    [
        ("exfiltration_hosts", "description = 'x'\n[[entries]\n", "not valid TOML"),
        (
            "exfiltration_hosts",
            GOOD_HOST + '\n[[entries]]\nid = "first"\nhost = "second.example"\n',
            "entry 'first': the id is used twice",
        ),
        (
            "exfiltration_hosts",
            'description = "x"\n[[entries]]\nid = "typo"\nhost = "a.example"\n'
            'clause = "unauthorized_exfiltration.exfil"\n',
            "entry 'typo': unknown clause 'unauthorized_exfiltration.exfil'",
        ),
        (
            "exfiltration_hosts",
            'description = "x"\n[[entries]]\nid = "other-rule"\nhost = "a.example"\n'
            'clause = "mass_destruction.sql_drop"\n',
            "entry 'other-rule': clause 'mass_destruction.sql_drop' is not one this pack raises",
        ),
        (
            "exfiltration_hosts",
            'description = "x"\n[[entries]]\nid = "extra"\nhost = "a.example"\nhots = "b.example"\n',
            "entry 'extra', field hots: Extra inputs are not permitted",
        ),
        ("exfiltration_hosts", "version = 2\n" + GOOD_HOST, "version: Extra inputs are not permitted"),
        (
            "metadata_addresses",
            'description = "x"\n[[entries]]\nid = "both"\nhost = "a.example"\nnetwork = "10.0.0.0/8"\n',
            "entry 'both': give exactly one of network and host",
        ),
        (
            "metadata_addresses",
            'description = "x"\n[[entries]]\nid = "bad-net"\nnetwork = "10.0.0.1/8"\n',
            "entry 'bad-net': network '10.0.0.1/8'",
        ),
        (
            "credential_paths",
            'description = "x"\n[[entries]]\nid = "absolute"\npath = "/etc/app/token"\n',
            "entry 'absolute', field path",
        ),
        (
            "credential_paths",
            'description = "x"\n[[entries]]\nid = "Bad Id"\npath = "token"\n',
            "entry 'Bad Id', field id",
        ),
        (
            "privileged_roles",
            'description = "x"\n[[entries]]\nid = "star"\nrole = "*admin"\n',
            "entry 'star', field role: role '*admin' must be",
        ),
        (
            "privileged_roles",
            'description = "x"\n[[entries]]\nid = "wrong-clause"\nrole = "boss"\n'
            'clause = "identity_escalation.password_reset"\n',
            "entry 'wrong-clause': clause 'identity_escalation.password_reset' is not one this pack raises",
        ),
    ],
)
def test_a_bad_pack_is_refused_naming_the_file_and_the_entry(name: str, text: str, named: str) -> None:
    with pytest.raises(PackError) as caught:
        load_pack(name, text, source=f"packs/{name}.toml")
    assert str(caught.value).startswith(f"packs/{name}.toml: ")
    assert named in str(caught.value)


def test_a_host_added_in_the_config_is_denied_with_the_packs_clause() -> None:
    call = Call("http_request", Category.NETWORK_FETCH, {"url": "https://in.collect.example.net/x", "method": "GET"})
    assert _clauses(call, RulesConfig()) == set()
    config = _packs(exfiltration_hosts={"entries": [{"id": "my-catcher", "host": "Collect.Example.NET."}]})
    assert _clauses(call, config) == {"unauthorized_exfiltration.exfiltration_endpoint"}


def test_a_credential_path_added_in_the_config_is_denied_and_a_harmless_one_exempts() -> None:
    read = Call("read_file", Category.FILE_READ, {"path": "/home/bob/.config/acme/token.ini"})
    assert _clauses(read, RulesConfig()) == set()
    added = {"id": "acme-token", "path": ".config/acme/*.ini"}
    assert _clauses(read, _packs(credential_paths={"entries": [added]})) == {"credential_access.credential_file"}
    exempt = {"id": "acme-token-public", "path": "acme/token.ini", "kind": "harmless"}
    assert _clauses(read, _packs(credential_paths={"entries": [added, exempt]})) == set()


def _grant(role: str) -> Call:
    return Call("set_user_role", Category.IDENTITY_ADMIN, {"user": "bob@corp.example", "role": role})


def test_a_privileged_role_added_in_the_config_is_denied_and_a_disabled_one_allowed() -> None:
    assert _clauses(_grant("Release Captain"), RulesConfig()) == set()
    added = _packs(privileged_roles={"entries": [{"id": "captain", "role": "release captain", "plural": True}]})
    assert _clauses(_grant("Release Captains"), added) == {"identity_escalation.admin_grant"}
    assert _clauses(_grant("team:release captain"), added) == {"identity_escalation.admin_grant"}
    assert _clauses(_grant("maintainer"), RulesConfig()) == {"identity_escalation.admin_grant"}
    disabled = _packs(privileged_roles={"disable": ["maintainer"]})
    assert evaluate(_grant("maintainer"), disabled, InMemoryLedger(), NOW).verdict.value == "allow"
    assert _clauses(_grant("Org Admin"), disabled) == {"identity_escalation.admin_grant"}


@pytest.mark.parametrize(
    ("entry", "url"),
    [
        ({"id": "own-metadata", "host": "meta.corp.internal", "subdomains": True}, "http://v1.meta.corp.internal/x"),
        ({"id": "own-agent", "network": "10.250.0.0/16"}, "http://10.250.3.4/latest"),
        ({"id": "own-agent-v6", "network": "fd12:3456::/32"}, "http://[fd12:3456::1]/latest"),
    ],
)
def test_a_metadata_address_added_in_the_config_is_denied(entry: dict[str, Any], url: str) -> None:
    call = Call("http_request", Category.NETWORK_FETCH, {"url": url, "method": "GET"})
    assert _clauses(call, RulesConfig()) == set()
    assert _clauses(call, _packs(metadata_addresses={"entries": [entry]})) == {"lateral_pivot.metadata_endpoint"}


@pytest.mark.parametrize(
    ("pack", "entry_id", "call", "clause"),
    [
        (
            "exfiltration_hosts",
            "webhook.site",
            Call("http_request", Category.NETWORK_FETCH, {"url": "https://webhook.site/abc", "method": "GET"}),
            "unauthorized_exfiltration.exfiltration_endpoint",
        ),
        (
            "metadata_addresses",
            "bare-metadata",
            Call("http_request", Category.NETWORK_FETCH, {"url": "http://metadata/computeMetadata/v1/"}),
            "lateral_pivot.metadata_endpoint",
        ),
        (
            "credential_paths",
            "npmrc",
            Call("read_file", Category.FILE_READ, {"path": "~/.npmrc"}),
            "credential_access.credential_file",
        ),
    ],
)
def test_a_disabled_shipped_entry_is_allowed(pack: str, entry_id: str, call: Call, clause: str) -> None:
    assert clause in _clauses(call, RulesConfig())
    config = _packs(**{pack: {"disable": [entry_id]}})
    assert _clauses(call, config) == set()
    assert evaluate(call, config, InMemoryLedger(), NOW).verdict.value == "allow"


@pytest.mark.parametrize(
    ("packs", "field", "message"),
    [
        ({"exfiltration_hosts": {"disable": ["no-such-host"]}}, "packs.exfiltration_hosts", "'no-such-host' is not"),
        (
            {"exfiltration_hosts": {"entries": [{"id": "webhook.site", "host": "a.example"}]}},
            "packs.exfiltration_hosts",
            "entry 'webhook.site': the id is a shipped entry",
        ),
        (
            {"credential_paths": {"entries": [{"id": "x", "path": "a"}, {"id": "x", "path": "b"}]}},
            "packs.credential_paths",
            "entry 'x': the id is used twice",
        ),
        (
            {"exfiltration_hosts": {"entries": [{"id": "typo", "hots": "a.example"}]}},
            "packs.exfiltration_hosts.entries.0",
            "",
        ),
        (
            {"exfiltration_hosts": {"entries": [{"id": "c", "host": "a.example", "clause": "lateral_pivot.x"}]}},
            "packs.exfiltration_hosts.entries.0",
            "unknown clause 'lateral_pivot.x'",
        ),
        (
            {"privileged_roles": {"entries": [{"id": "boss", "role": "boss", "plurals": True}]}},
            "packs.privileged_roles.entries.0",
            "",
        ),
        ({"privileged_roles": {"disable": ["overlord"]}}, "packs.privileged_roles", "'overlord' is not"),
        ({"tokens": {}}, "packs.tokens", "Extra inputs"),
    ],
)
def test_a_bad_user_extension_is_refused_naming_the_field(packs: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        rules_config_from_mapping({"packs": packs})
    assert caught.value.field is not None
    assert caught.value.field.startswith(field)
    assert message in str(caught.value)


def test_rules_show_lists_what_a_config_adds_and_disables() -> None:
    config = _packs(
        exfiltration_hosts={"entries": [{"id": "my-catcher", "host": "collect.example.net"}], "disable": ["ix.io"]}
    )
    shown = config.describe()
    assert "  exfiltration_hosts: 56 entries (56 shipped)" in shown
    assert "    disabled ix.io" in shown
    assert "    added my-catcher: host=collect.example.net -> unauthorized_exfiltration.exfiltration_endpoint" in shown


def test_disabling_a_shipped_entry_or_dropping_an_added_one_is_a_weakening() -> None:
    added = _packs(exfiltration_hosts={"entries": [{"id": "my-catcher", "host": "collect.example.net"}]})
    assert weakenings(RulesConfig(), added) == []
    assert weakenings(added, RulesConfig()) == ["packs.exfiltration_hosts.entries no longer hold my-catcher as before"]
    disabled = _packs(credential_paths={"disable": ["npmrc"]})
    assert weakenings(RulesConfig(), disabled) == ["packs.credential_paths.disable now also holds npmrc"]


def test_the_merged_view_is_built_once_per_config() -> None:
    config = _packs(exfiltration_hosts={"entries": [{"id": "my-catcher", "host": "collect.example.net"}]})
    same = _packs(exfiltration_hosts={"entries": [{"id": "my-catcher", "host": "collect.example.net"}]})
    assert pack_views(config.packs) is pack_views(same.packs)
    assert pack_views(config.packs) is not pack_views(RulesConfig().packs)


def test_a_config_with_packs_round_trips_through_its_dump() -> None:
    config = _packs(
        metadata_addresses={"entries": [{"id": "own-agent", "network": "10.250.0.0/16"}], "disable": ["bare-metadata"]}
    )
    assert RulesConfig.model_validate(config.model_dump(mode="json")) == config


def test_the_readme_example_is_a_valid_rules_file() -> None:
    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Rule packs", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = rules_config_from_mapping(tomllib.loads(example))
    assert [entry.id for entry in config.packs.exfiltration_hosts.entries] == ["my-catcher"]
    assert config.packs.exfiltration_hosts.disable == ("ix.io",)
    assert [entry.role for entry in config.packs.privileged_roles.entries] == ["release captain"]
