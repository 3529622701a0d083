"""Without a key, `open_policy` gives the policy server's decisions as Python calls in this process."""

import pathlib

from inherence_policy_client import DecideRequest, OutcomeReport, PolicyClient, Verdict
from inherence_policy_server import EmbeddedPolicy, SQLiteStorage
from inherence_proxy._home import ProxyHome
from inherence_proxy._policy import PolicyTarget, open_policy, probe_health

EMBEDDED = PolicyTarget(api_key=None, endpoint="embedded")


def _logged(home: ProxyHome) -> list[tuple[str, str, str | None]]:
    storage = SQLiteStorage(home.policy_data_dir)
    try:
        return [(e.tool_name, e.decision, e.session_id) for e in reversed(storage.recent_decisions())]
    finally:
        storage.close()


async def test_no_key_means_the_in_process_policy_and_its_decisions_are_logged_by_exit(tmp_path: pathlib.Path) -> None:
    home = ProxyHome(tmp_path / "home")
    async with open_policy(EMBEDDED, home) as policy:
        assert isinstance(policy, EmbeddedPolicy)
        read = DecideRequest(
            tool_name="fs__read_file", classification="file_read", arguments={"path": "notes.txt"}, session_id="s1"
        )
        allowed = await policy.decide(read)
        assert allowed.decision is Verdict.ALLOW
        report = OutcomeReport(decision_id=allowed.receipt_id or "", session_id="s1", content_text="nothing secret")
        assert await policy.report_outcome(report)
    assert _logged(home) == [("fs__read_file", "allow", "s1")]


async def test_the_gates_own_files_are_protected_in_process(tmp_path: pathlib.Path) -> None:
    home = ProxyHome(tmp_path / "home")
    wrapped = tmp_path / "client" / "mcp.json"
    async with open_policy(EMBEDDED, home, protected_paths=[str(wrapped)]) as policy:
        for path in (home.root / "config.json", wrapped):
            write = DecideRequest(
                tool_name="fs__write_file", classification="file_write", arguments={"path": str(path), "content": "{}"}
            )
            denied = await policy.decide(write)
            assert denied.decision is Verdict.DENY, path
            assert any(str(clause).startswith("gate_integrity.") for clause in denied.failed_clauses)


async def test_status_probes_the_in_process_policy(tmp_path: pathlib.Path) -> None:
    async with open_policy(EMBEDDED, ProxyHome(tmp_path / "home")) as policy:
        health = await probe_health(policy, embedded=True)
    assert health.ok
    assert health.detail.startswith("ok (inherence-policy-server ")


async def test_a_key_means_the_http_client(tmp_path: pathlib.Path) -> None:
    target = PolicyTarget(api_key="inh_test", endpoint="http://127.0.0.1:9")
    async with open_policy(target, ProxyHome(tmp_path / "home")) as policy:
        assert isinstance(policy, PolicyClient)
