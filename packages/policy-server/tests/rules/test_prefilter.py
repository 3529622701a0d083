"""The engine's prefilter: the rules it does not run for a call could have found nothing in it.

Every call of the rule corpora (`tests/data/rules`), and read-only variants of each that move its
strings into prose fields (where the prefilter applies), is decided with the prefilter and with
every rule run in full: the evaluations, and what each wrote to the ledger, must be the same.
"""

from __future__ import annotations

import datetime
import json
import pathlib
from typing import Any

import pytest

from inherence_policy_server.rules import Call, Category, InMemoryLedger, RulesConfig, _engine, evaluate
from inherence_policy_server.rules._analysis import CallAnalysis

DATA = pathlib.Path(__file__).parent.parent / "data" / "rules"
NOW = datetime.datetime(2025, 6, 2, 12, 0, tzinfo=datetime.timezone.utc)
CONFIGS = {
    "defaults": RulesConfig(),
    "organisation": RulesConfig.model_validate(
        {
            "organisation": {
                "email_domains": ["acme.com"],
                "known_payees": ["landlord"],
                "own_accounts": ["savings-7781"],
            }
        }
    ),
}
_WRITES = ("record_sensitive_read", "record_read_items", "add_known_recipient", "reserve_transfer")


class _WritesSeen:
    """A ledger that notes every write made to it, in order."""

    def __init__(self) -> None:
        self.ledger = InMemoryLedger()
        self.writes: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.ledger, name)
        if name not in _WRITES:
            return method

        def noted(*args: Any) -> Any:
            self.writes.append((name, args))
            return method(*args)

        return noted


def _strings_in_prose(node: Any) -> Any:
    """The same arguments with every string moved into a prose field (`"a"` becomes `{"text": "a"}`)."""
    if isinstance(node, str):
        return {"text": node}
    if isinstance(node, dict):
        return {key: _strings_in_prose(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_strings_in_prose(item) for item in node]
    return node


def _joined(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return " ".join(f"{key} {_joined(value)}" for key, value in node.items())
    if isinstance(node, list):
        return " ".join(_joined(item) for item in node)
    return str(node)


def _variants(entry: dict[str, Any]) -> list[Call]:
    tool = entry.get("tool_name", "tool")
    arguments = entry["arguments"]
    shapes = [
        (Category(entry["category"]), arguments),
        (Category.READ_ONLY, arguments),
        (Category.READ_ONLY, _strings_in_prose(arguments)),
        (Category.READ_ONLY, {"message": _joined(arguments)}),
    ]
    return [
        Call(tool, category, shape, session_id="s", approved=entry.get("approved", False)) for category, shape in shapes
    ]


def _decided(calls: list[Call], config: RulesConfig, prefilter: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(_engine, "PREFILTER", prefilter)
    seen = _WritesSeen()
    answers = [evaluate(call, config, seen, NOW + datetime.timedelta(seconds=n)) for n, call in enumerate(calls)]
    return answers, seen.writes


def _files() -> list[pathlib.Path]:
    return sorted(DATA.glob("*.jsonl"))


@pytest.mark.parametrize("path", _files(), ids=lambda path: path.stem)
def test_prefilter_changes_no_evaluation(path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        calls = [call for entry in [*case.get("session", []), case] for call in _variants(entry)]
        for config in CONFIGS.values():
            # One session of every variant in turn: what earlier calls wrote is there for the later ones.
            with_prefilter = _decided(calls, config, True, monkeypatch)
            assert with_prefilter == _decided(calls, config, False, monkeypatch), case["name"]


def test_the_corpora_reach_the_prefilter() -> None:
    """The comparison above is not idle: thousands of its calls skip rules, most of them every rule."""
    skipping = every = 0
    for path in _files():
        for line in path.read_text(encoding="utf-8").splitlines():
            for call in _variants(json.loads(line)):
                quiet = _quiet(call)
                skipping += bool(quiet)
                every += len(quiet) == len(_engine._PROSE_READ_CHECKS)
    assert skipping >= 1000
    assert every >= 1000


def _quiet(call: Call, config: RulesConfig | None = None) -> frozenset[str]:
    return _engine._quiet_rules(call, config or RulesConfig(), CallAnalysis(call))


def test_a_prose_only_read_runs_no_rule() -> None:
    echo = Call("everything__echo", Category.READ_ONLY, {"message": "hello"}, session_id="s")
    assert _quiet(echo) == frozenset(name for name, _ in _engine._PROSE_READ_CHECKS)


@pytest.mark.parametrize(
    ("call", "runs"),
    [
        # Not a prose-only read: every rule runs.
        (Call("echo", Category.UNKNOWN, {"message": "hello"}), "all"),
        (Call("get", Category.READ_ONLY, {"city": "Paris"}), "all"),
        (Call("run", Category.READ_ONLY, {"command": "ls"}), "all"),
        (Call("get", Category.READ_ONLY, {"url": "https://example.com"}), "all"),
        # Prose-only reads a rule still reads.
        (Call("export_wallet_keys", Category.READ_ONLY, {"note": "x"}), "credential_access"),
        (Call("echo", Category.READ_ONLY, {"message": 'for v in ${!A*}; do echo "${!v}"; done'}), "credential_access"),
        (Call("create_api_token", Category.READ_ONLY, {"note": "x"}), "identity_escalation"),
        (Call("delete_messages", Category.READ_ONLY, {"reason": "old"}), "mass_destruction"),
        (Call("cancel_bookings", Category.READ_ONLY, {"reason": "x"}), "mass_destruction"),
        (Call("update_payee", Category.READ_ONLY, {"iban": {"text": "x"}}), "financial_drain"),
    ],
)
def test_what_a_prose_only_read_still_runs(call: Call, runs: str) -> None:
    quiet = _quiet(call)
    if runs == "all":
        assert quiet == frozenset()
    else:
        assert runs not in quiet
        assert "gate_integrity" in quiet
