"""The server over a real loopback HTTP socket, and the rules' corpora run against it."""

from __future__ import annotations

import itertools
import json
import pathlib

import httpx2
import pytest

from inherence_policy_server import create_app, issue_key

from .conftest import SCRIPTED_CONFIG, START, FakeClock, scripted_evaluator
from .live_server import serve_in_thread

RULES_DATA = pathlib.Path(__file__).parent / "data" / "rules"


def _load_cases() -> list[tuple[str, dict]]:
    cases = []
    for path in sorted(RULES_DATA.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                cases.append((f"{path.stem}:{number}", json.loads(line)))
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
    """The real six rules behind a real HTTP server; the clock jumps a week between cases."""
    clock = FakeClock(START)
    app = create_app(data_dir=tmp_path_factory.mktemp("corpora"), require_key=False, clock=clock)
    try:
        with serve_in_thread(app) as base_url, httpx2.Client(base_url=base_url, trust_env=False) as client:
            yield client, clock
    finally:
        app.close()


_session_ids = itertools.count()


@pytest.mark.skipif(not CASES, reason="the rules' corpora are not in tests/data/rules yet")
@pytest.mark.parametrize(("case_id", "case"), CASES, ids=[case_id for case_id, _ in CASES])
def test_rules_corpus_case_over_http(rules_server, case_id: str, case: dict) -> None:
    client, clock = rules_server
    clock.advance(days=8)
    session_id = f"corpus-{next(_session_ids)}"
    for prior in case.get("session", []):
        clock.advance(seconds=1)
        answer = client.post("/api/proxy/decide", json=_body(prior, session_id))
        assert answer.status_code == 200, answer.text
    clock.advance(seconds=1)
    answer = client.post("/api/proxy/decide", json=_body(case, session_id))
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    expected = case["expect"]
    got = decision["decision"]
    if expected == "allow":
        assert got in ("allow", "allow_with_log"), f"{case_id} {case.get('note', '')}: {decision}"
    else:
        assert got == expected, f"{case_id} {case.get('note', '')}: {decision}"


def _body(case: dict, session_id: str) -> dict:
    return {
        "tool_name": case["name"],
        "classification": case["category"],
        "arguments": case.get("arguments", {}),
        "session_id": session_id,
        "upstream": case.get("upstream", "corpus"),
    }
