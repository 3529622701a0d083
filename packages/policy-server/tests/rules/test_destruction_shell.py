"""The destructive-command table: well formed, and each entry reachable by a command that raises it."""

from __future__ import annotations

import datetime

import pytest

from inherence_policy_server.rules import Call, Category, InMemoryLedger, RulesConfig, evaluate
from inherence_policy_server.rules._destruction_shell import COMMAND_ENTRIES
from inherence_policy_server.rules._shell_targets import CHECKS

NOW = datetime.datetime(2025, 6, 2, 12, 0, tzinfo=datetime.timezone.utc)


def _clauses(command: str, config: RulesConfig | None = None) -> tuple[str, ...]:
    call = Call("tool", Category.SHELL_EXEC, {"command": command})
    return evaluate(call, config or RulesConfig(), InMemoryLedger(), NOW).failed_clauses


def test_entries_have_unique_ids_and_known_checks() -> None:
    ids = [entry.id for entry in COMMAND_ENTRIES]
    assert len(ids) == len(set(ids))
    for entry in COMMAND_ENTRIES:
        assert entry.check == "" or entry.check in CHECKS, entry.id
        assert entry.programs, entry.id
        assert entry.clause.isidentifier(), entry.id


def test_every_check_is_used() -> None:
    assert {entry.check for entry in COMMAND_ENTRIES} - {""} == set(CHECKS)


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        ("find /data/scratch -delete", "/data/scratch"),
        ("git -C ~ clean -fdx", "~"),
        ("truncate -s 0 /var/log/app/*.log", "/var/log/app/*"),
        ("rsync -a --delete /tmp/empty/ /srv/cache/", "/srv/cache*"),
    ],
)
def test_allowed_paths_exempt_a_target(command: str, allowed: str) -> None:
    assert any(clause.startswith("mass_destruction.") for clause in _clauses(command))
    config = RulesConfig.model_validate({"mass_destruction": {"allowed_paths": [allowed]}})
    assert _clauses(command, config) == ()
