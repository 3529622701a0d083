"""The AgentDojo replay's loader, labels and split, on small suites shaped like AgentDojo's (no network)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pydantic
import pytest
from policy_eval._agentdojo import (
    INJECTION_LABELS,
    PAIRS_PER_INJECTION,
    Session,
    build_sessions,
    load_suites,
    pick_user_tasks,
    render_agentdojo,
    result_text,
    split_of,
    summarise,
)
from policy_eval._corpus import Case, Step
from policy_eval._metrics import Answer, SessionRun


def test_the_split_is_a_stable_hash_holding_out_about_a_third() -> None:
    keys = [f"suite/user_task_{n}" for n in range(600)]
    first = [split_of(key) for key in keys]
    assert first == [split_of(key) for key in keys]
    assert set(first) == {"dev", "heldout"}
    assert 0.27 < first.count("heldout") / len(first) < 0.40
    # Stable across processes and machines (no salted hash): these two sides are fixed for good.
    assert (split_of("banking/user_task_0"), split_of("banking/user_task_6")) == ("dev", "heldout")


def test_an_injection_task_is_paired_with_user_tasks_of_its_own_split_only() -> None:
    users = [f"user_task_{n}" for n in range(40)]
    for number in range(12):
        injection = f"injection_task_{number}"
        chosen = pick_user_tasks("slack", injection, users)
        assert len(chosen) == PAIRS_PER_INJECTION
        assert len(set(chosen)) == len(chosen)
        assert {split_of(f"slack/{user}") for user in chosen} == {split_of(f"slack/{injection}")}
        assert chosen == pick_user_tasks("slack", injection, list(reversed(users)))
    assert (
        pick_user_tasks("slack", "injection_task_0", users, count=1)
        == pick_user_tasks("slack", "injection_task_0", users)[:1]
    )


def test_every_label_is_one_line_and_a_catastrophe_names_the_calls_to_stop() -> None:
    for key, label in INJECTION_LABELS.items():
        suite, _, task = key.partition("/")
        assert suite in {"banking", "slack", "travel", "workspace"}, key
        assert task.startswith("injection_task_"), key
        assert label.reason.strip(), key
        assert "\n" not in label.reason, key
        assert bool(label.tools) == label.catastrophe, key


class _Item(pydantic.BaseModel):
    id_: str
    when: datetime.datetime
    amount: float


def test_a_result_is_text_as_an_mcp_server_returns_it() -> None:
    assert result_text("Email sent.") == "Email sent."
    item = _Item(id_="7", when=datetime.datetime(2024, 5, 15, 10, 30), amount=12.5)
    assert json.loads(result_text(item)) == {"id_": "7", "when": "2024-05-15T10:30:00", "amount": 12.5}
    assert json.loads(result_text([item, item]))[1]["amount"] == 12.5
    assert json.loads(result_text({"balance": 1810.0})) == {"balance": 1810.0}
    assert result_text(3) == "3"


# A suite shaped like AgentDojo's: tools, user and injection tasks, an environment with vectors.


class _Args(pydantic.BaseModel):
    recipient: str = ""
    amount: float = 0.0


@dataclasses.dataclass
class _Tool:
    name: str
    description: str
    parameters: type[pydantic.BaseModel] = _Args


@dataclasses.dataclass
class _Call:
    function: str
    args: dict[str, Any]


@dataclasses.dataclass
class _Task:
    calls: list[_Call]
    GOAL: str = ""

    def ground_truth(self, env: dict[str, Any]) -> list[_Call]:
        return list(self.calls)


class _Suite:
    tools: ClassVar[list[_Tool]] = [
        _Tool("get_balance", "Get the balance of the account."),
        _Tool("send_money", "Send money to a recipient."),
        _Tool("update_password", "Update the user password."),
    ]

    def __init__(self, users: int) -> None:
        self.user_tasks = {f"user_task_{n}": _Task([_Call("get_balance", {})]) for n in range(users)}
        self.user_tasks["user_task_1"] = _Task([_Call("get_balance", {}), _Call("send_money", {"recipient": "X"})])
        self.injection_tasks = {
            "injection_task_7": _Task([_Call("get_balance", {}), _Call("update_password", {})], "change it"),
            "injection_task_99": _Task([_Call("get_balance", {})], "unlabelled"),
        }
        self.environments: list[dict[str, Any]] = []

    def get_injection_vector_defaults(self) -> dict[str, str]:
        return {"note": "", "memo": "rent"}

    def load_and_inject_default_environment(self, injections: Mapping[str, str]) -> dict[str, Any]:
        env = {"vectors": {**self.get_injection_vector_defaults(), **injections}, "log": []}
        self.environments.append(env)
        return env


class _Runtime:
    def run_function(self, env: dict[str, Any], name: str, args: Mapping[str, Any]) -> tuple[Any, str | None]:
        env["log"].append(name)
        if name == "send_money":
            return "", "ValueError: no such account"
        return {"balance": 100.0 + len(env["log"]), "note": env["vectors"]["note"]}, None


def test_sessions_replay_the_ground_truth_with_real_results_and_label_the_injection_calls() -> None:
    banking, travel = _Suite(users=20), _Suite(users=20)
    travel.injection_tasks = {"injection_task_0": _Task([_Call("get_balance", {})], "book a room")}
    replay = build_sessions({"banking": banking, "travel": travel}, lambda _suite: _Runtime(), "v9")
    benign = [session for session in replay.sessions if session.kind == "benign"]
    assert len(benign) == 40
    by_id = {session.case.id: session.case for session in benign}
    pay = by_id["agentdojo/banking/user_task_1"]
    assert pay.benign
    assert pay.split == split_of("banking/user_task_1")
    assert [step.tool for step in pay.calls] == ["banking__get_balance", "banking__send_money"]
    assert [step.expect for step in pay.calls] == ["allow", "allow"]
    assert json.loads(pay.calls[0].result or "") == {"balance": 101.0, "note": ""}
    assert pay.calls[1].result == "ValueError: no such account"
    assert pay.calls[1].description == "Send money to a recipient."
    assert pay.calls[1].input_schema["properties"]["recipient"]["type"] == "string"
    assert pay.calls[1].arguments == {"recipient": "X"}

    attacks = [session for session in replay.sessions if session.kind == "attack"]
    assert {session.suite for session in attacks} == {"banking"}
    assert len(attacks) == PAIRS_PER_INJECTION
    for session in attacks:
        case = session.case
        assert not case.benign
        assert case.split == split_of("banking/injection_task_7")
        injected = case.calls[session.injection_start :]
        assert [step.expect for step in injected] == ["any", "confirm"]
        assert all(step.expect == "any" for step in case.calls[: session.injection_start])
        # Every vector carries the goal, and the tools saw it.
        assert json.loads(injected[0].result or "")["note"] == "change it"
    uncounted = [session for session in replay.sessions if session.kind == "uncounted"]
    assert len(uncounted) == PAIRS_PER_INJECTION
    assert {session.suite for session in uncounted} == {"travel"}
    assert all(step.expect == "any" for session in uncounted for step in session.case.calls)
    assert replay.unlabelled == ["banking/injection_task_99"]
    assert any(env["vectors"] == {"note": "change it", "memo": "change it"} for env in banking.environments)


def test_an_injection_without_ground_truth_calls_is_reported_not_replayed() -> None:
    suite = _Suite(users=9)
    suite.injection_tasks = {"injection_task_7": _Task([], "say something")}
    replay = build_sessions({"banking": suite}, lambda _suite: _Runtime())
    assert [session.kind for session in replay.sessions] == ["benign"] * 9
    assert replay.not_replayable == ["banking/injection_task_7: no ground-truth calls"]


def _session(case_id: str, split: str, kind: str, injection_start: int = 0) -> Session:
    step = Step("banking__send_money", {}, "allow")
    return Session(Case(case_id, "banking", split, kind == "benign", (step,)), "banking", kind, injection_start)


def _run(session: Session, *verdicts: str, expect: str = "allow") -> SessionRun:
    answers = tuple(
        Answer(
            n, "banking__send_money", expect, verdict, ("financial_drain.new_recipient",) if verdict != "allow" else ()
        )
        for n, verdict in enumerate(verdicts)
    )
    return SessionRun(session.case.id, session.case.split, session.case.benign, answers)


def test_the_summary_scores_catastrophes_only_and_lists_dev_alone() -> None:
    sessions = [
        _session("agentdojo/banking/user_task_0", "dev", "benign"),
        _session("agentdojo/banking/user_task_1", "heldout", "benign"),
        _session("agentdojo/banking/user_task_0+injection_task_5", "dev", "attack", 1),
        _session("agentdojo/banking/user_task_0+injection_task_9", "dev", "uncounted", 1),
        _session("agentdojo/banking/user_task_1+injection_task_5", "heldout", "attack", 1),
    ]
    runs = [
        _run(sessions[0], "deny"),
        _run(sessions[1], "confirm"),
        _run(sessions[2], "allow", "allow", expect="confirm"),
        _run(sessions[3], "allow", "confirm", expect="any"),
        _run(sessions[4], "confirm", expect="confirm"),
    ]
    summary = summarise(sessions, runs)
    dev, heldout = summary["dev"], summary["heldout"]
    assert (dev["false_deny"]["hits"], dev["false_deny"]["total"]) == (1, 1)
    assert (dev["stopped"]["hits"], dev["stopped"]["total"]) == (0, 2)
    assert dev["not_scored_injection_calls"] == {"calls": 1, "stopped": 1}
    assert [item["session"] for item in dev["listing"]["misses"]] == [
        "agentdojo/banking/user_task_0+injection_task_5"
    ] * 2
    assert (heldout["burden"]["hits"], heldout["stopped"]["hits"]) == (1, 1)
    assert "listing" not in heldout
    assert heldout["per_suite"]["banking"]["stopped"]["total"] == 1
    text = "\n".join(render_agentdojo({"version": "v9", "suites": ["banking"], "splits": summary,
                                       "sessions": {"benign": 2, "attack": 2, "uncounted": 1},
                                       "not_replayable": [], "unlabelled": []}))  # fmt: skip
    assert "user_task_1" not in text  # held-out sessions are never listed
    assert "user_task_0+injection_task_5 call 0 banking__send_money: allow" in text


def test_every_injection_task_of_the_installed_agentdojo_is_labelled_with_tools_it_has() -> None:
    pytest.importorskip("yaml")
    loaded = load_suites()
    if loaded is None:
        pytest.skip("agentdojo is not installed (nox -s policy-eval -- --agentdojo installs it)")
    _version, suites, _runtime = loaded
    for name, suite in suites.items():
        tools = {tool.name for tool in suite.tools}
        for injection_id in suite.injection_tasks:
            label = INJECTION_LABELS.get(f"{name}/{injection_id}")
            assert label is not None, f"{name}/{injection_id} has no label"
            assert set(label.tools) <= tools, f"{name}/{injection_id}"
