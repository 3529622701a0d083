"""The server over a real loopback HTTP socket, and the rules' corpora run against it."""

from __future__ import annotations

import itertools
import json
import pathlib

import httpx2
import pytest

from inherence_policy_server import create_app, issue_key, load_rules_config, open_approvals

from .conftest import SCRIPTED_CONFIG, START, FakeClock, scripted_evaluator
from .live_server import serve_in_thread

DATA = pathlib.Path(__file__).parent / "data"


def _load_cases() -> list[tuple[str, dict]]:
    """(rule, case) for every line of the rules' corpora."""
    cases = []
    for path in sorted((DATA / "rules").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                # `<rule>.<topic>.jsonl` holds cases of <rule> too.
                cases.append((path.stem.split(".", 1)[0], json.loads(line)))
    return cases


CASES = _load_cases()


def test_decide_over_real_http_with_a_key(tmp_path) -> None:
    app = create_app(data_dir=tmp_path, evaluator=scripted_evaluator, config=SCRIPTED_CONFIG, clock=lambda: START)
    issued = issue_key(START)
    app.storage.add_key(issued.record)
    body = {"tool_name": "run", "classification": "shell_exec", "arguments": {"command": "DENYME"}}
    try:
        with serve_in_thread(app) as base_url, httpx2.Client(base_url=base_url, trust_env=False) as client:
            assert client.post("/api/proxy/decide", json=body).status_code == 401
            headers = {"Authorization": f"Bearer {issued.secret_key}"}
            answer = client.post("/api/proxy/decide", json=body, headers=headers)
            too_big = client.post("/api/proxy/decide", content=b"x" * (2 << 20), headers=headers)
            health = client.get("/api/proxy/health")
    finally:
        app.close()
    assert answer.status_code == 200
    assert answer.json()["decision"] == "deny"
    assert too_big.status_code == 413
    assert health.json()["status"] == "ok"


@pytest.fixture(scope="module")
def rules_server(tmp_path_factory):
    """The real six rules, configured from a TOML file, behind a real HTTP server."""
    clock = FakeClock(START)
    config = load_rules_config(DATA / "config" / "corpus.toml")
    app = create_app(data_dir=tmp_path_factory.mktemp("corpora"), require_key=False, clock=clock, config=config)
    try:
        with serve_in_thread(app) as base_url, httpx2.Client(base_url=base_url, trust_env=False) as client:
            yield client, clock, app
    finally:
        app.close()


_case_numbers = itertools.count()


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{rule}:{case['name']}" for rule, case in CASES])
def test_rules_corpus_case_over_http(rules_server, rule: str, case: dict) -> None:
    """Each case as its own session and upstream (so its own velocity account), a week after the last;
    the results of earlier calls reach the server as outcome reports, as a proxy sends them."""
    client, clock, app = rules_server
    number = next(_case_numbers)
    scope = {"session_id": f"corpus-session-{number}", "upstream": f"corpus-{number}"}

    def scoped(entry: dict) -> dict:
        # A case's own upstream names stay apart (a file listed by one server, shared on another).
        return {**scope, "upstream": f"corpus-{number}-{entry['upstream']}"} if entry.get("upstream") else scope

    clock.advance(days=8)
    for earlier in case.get("session", []):
        clock.advance(seconds=1)
        answer = client.post("/api/proxy/decide", json={**_body(earlier), **scoped(earlier), "confirmable": True})
        assert answer.status_code == 200, answer.text
        if earlier.get("approved"):
            # The person grants the question out of band, and the call is sent again.
            with open_approvals(app.storage.data_dir) as approvals:
                approvals.approve(answer.json()["approval_id"], clock())
            retried = client.post("/api/proxy/decide", json={**_body(earlier), **scoped(earlier), "confirmable": True})
            assert retried.json()["decision"] == "allow_with_log", retried.text
            answer = retried
        if "result" in earlier and answer.json()["decision"] in ("allow", "allow_with_log"):
            # What the tool returned, reported by the proxy as the call's outcome.
            report = {"decision_id": answer.json()["receipt_id"], "content_text": earlier["result"], **scoped(earlier)}
            reported = client.post("/api/proxy/outcome", json=report)
            assert reported.status_code == 202, reported.text
    clock.advance(seconds=1)
    answer = client.post("/api/proxy/decide", json={**_body(case), **scoped(case), "confirmable": True})
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    if case["expect"] in ("deny", "confirm"):
        assert decision["decision"] == case["expect"], (case["note"], decision)
        assert any(clause.startswith(f"{rule}.") for clause in decision["failed_clauses"]), decision
        if "clause" in case:
            assert f"{rule}.{case['clause']}" in decision["failed_clauses"], decision
    else:
        assert decision["decision"] == "allow", (case["note"], decision)


def _body(entry: dict) -> dict:
    return {
        "tool_name": entry.get("tool_name", "tool"),
        "classification": entry["category"],
        "arguments": entry["arguments"],
    }
