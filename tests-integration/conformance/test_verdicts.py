"""How run_conformance.py judges a run: regressions through the proxy, unlisted and stale expected failures."""

from __future__ import annotations

import json

from conformance.run_conformance import Outcome, read_expected_failures, read_outcomes, verdicts

PASS, FAIL = Outcome(passed=True), Outcome(passed=False, failures=("x: broken",))


def test_every_way_a_run_can_fail_is_a_failing_row() -> None:
    direct = {"same": PASS, "regressed": PASS, "known": FAIL, "unlisted": FAIL, "stale": PASS}
    proxied = {"same": PASS, "regressed": FAIL, "known": FAIL, "unlisted": FAIL, "stale": PASS}
    expected = {"known": "needs a feature", "stale": "was broken", "renamed": "gone"}
    rows = verdicts([*direct, "never-ran"], direct, proxied, expected)
    failing = {name for name, *_, bad in rows if bad}
    assert failing == {"regressed", "unlisted", "stale", "never-ran", "renamed"}
    assert {name: verdict for name, _, _, verdict, _ in rows}["known"] == "expected failure (needs a feature)"


def test_expected_failures_and_results_are_read_from_their_files(tmp_path) -> None:
    listing = tmp_path / "expected-failures.txt"
    listing.write_text("# a comment\n\nresources-subscribe  # no subscriptions yet\nping\n")
    assert read_expected_failures(listing) == {"resources-subscribe": "no subscriptions yet", "ping": ""}
    for name, statuses in {"ping": ["SUCCESS", "WARNING"], "tools-list": ["SUCCESS", "FAILURE"]}.items():
        folder = tmp_path / "results" / f"server-{name}-2026-01-02T03-04-05-678Z"
        folder.mkdir(parents=True)
        checks = [{"id": f"{name}-{i}", "status": s, "errorMessage": "bad"} for i, s in enumerate(statuses)]
        (folder / "checks.json").write_text(json.dumps(checks))
    outcomes = read_outcomes(tmp_path / "results")
    assert outcomes["ping"] == Outcome(passed=True, warnings=1)
    assert outcomes["tools-list"] == Outcome(passed=False, failures=("tools-list-1: bad",))


def test_a_known_gateway_gap_is_shown_and_must_stay_true() -> None:
    direct = {"gap": PASS, "fixed": PASS, "broken": FAIL, "other": PASS}
    proxied = {"gap": FAIL, "fixed": PASS, "broken": FAIL, "other": FAIL}
    gaps = {"gap": "not relayed yet", "fixed": "was not relayed", "broken": "x", "gone": "renamed"}
    rows = verdicts(list(direct), direct, proxied, {"broken": "fixture"}, "expected.txt", gaps, "gaps.txt")
    by_name = {name: (verdict, bad) for name, _, _, verdict, bad in rows}
    assert by_name["gap"] == ("known gateway gap (not relayed yet)", False)
    assert by_name["fixed"] == ("STALE: passes through the proxy, remove it from gaps.txt", True)
    assert by_name["broken"] == ("STALE: fails direct, remove it from gaps.txt", True)
    assert by_name["other"][1] is True
    assert by_name["gone"][1] is True
