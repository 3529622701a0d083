"""Reading public traces from the files their packages ship (fake files of the same shape here)."""

from __future__ import annotations

import json
import pathlib

from policy_eval._public import bfcl_sessions, tau2_sessions


def test_bfcl_entries_become_sessions_of_their_first_accepted_arguments(tmp_path: pathlib.Path) -> None:
    data = tmp_path / "data"
    (data / "possible_answer").mkdir(parents=True)
    function = {"name": "orders.change", "description": "Change an order.", "parameters": {"type": "dict"}}
    question = {"id": "live_simple_1", "question": [], "function": [function]}
    accepted = {
        "order_id": [42, "42"],
        "note": ["", "leave at door"],
        "options": [{"size": ["large", "L"], "milk": [""]}],
    }
    answer = {"id": "live_simple_1", "ground_truth": [{"orders.change": accepted}]}
    (data / "BFCL_v4_live_simple.json").write_text(json.dumps(question) + "\n", encoding="utf-8")
    (data / "possible_answer" / "BFCL_v4_live_simple.json").write_text(json.dumps(answer) + "\n", encoding="utf-8")
    (data / "BFCL_v4_live_irrelevance.json").write_text(json.dumps(question) + "\n", encoding="utf-8")
    [(session_id, [step])] = bfcl_sessions(tmp_path)
    assert session_id == "bfcl/live_simple_1"
    assert step.tool == "bfcl__orders.change"
    assert step.arguments == {"order_id": 42, "options": {"size": "large"}}
    assert step.description == "Change an order."


def test_tau2_tasks_become_sessions_of_the_agents_actions(tmp_path: pathlib.Path) -> None:
    domain = tmp_path / "tau2" / "data" / "domains" / "airline"
    domain.mkdir(parents=True)
    (tmp_path / "tau2" / "airline").mkdir()
    (tmp_path / "tau2" / "airline" / "tools.py").write_text(
        "@tool\ndef cancel_reservation():\n    async def execute(reservation_id: str) -> str:\n"
        '        """Cancel the whole reservation.\n\n        Args: ..."""\n',
        encoding="utf-8",
    )
    actions = [
        {"name": "cancel_reservation", "arguments": {"reservation_id": "EHGLP3"}},
        {"name": "toggle_roaming", "arguments": {}, "requestor": "user"},
    ]
    tasks = [{"id": "7", "evaluation_criteria": {"actions": actions}}, {"id": "8", "evaluation_criteria": None}]
    (domain / "tasks.json").write_text(json.dumps(tasks), encoding="utf-8")
    [(session_id, [step])] = tau2_sessions(tmp_path)
    assert session_id == "tau2/airline/7"
    assert (step.tool, step.description) == ("airline__cancel_reservation", "Cancel the whole reservation.")
    assert step.input_schema == {"type": "object", "properties": {"reservation_id": {"type": "string"}}}
