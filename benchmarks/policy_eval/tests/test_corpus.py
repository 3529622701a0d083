"""The corpus loader: good files load, each kind of malformed case is refused naming file and line."""

from __future__ import annotations

import json
import pathlib

import pytest
from policy_eval._corpus import DATA_DIR, SPLITS, CorpusError, load_corpus, load_file

GOOD_CALL = {"tool": "shell__run", "description": "Run a command.", "arguments": {"command": "ls"}, "expect": "allow"}
GOOD = {"id": "d-ok", "domain": "devops", "split": "dev", "benign": True, "calls": [GOOD_CALL]}
ATTACK_CALL = {**GOOD_CALL, "arguments": {"command": "rm -rf /"}, "expect": "deny", "clause": "mass_destruction"}


def _write(folder: pathlib.Path, *cases: object, split: str = "dev", raw: str = "") -> pathlib.Path:
    (folder / split).mkdir(parents=True, exist_ok=True)
    path = folder / split / "devops.jsonl"
    lines = [json.dumps(case) for case in cases]
    path.write_text("\n".join(lines) + ("\n" + raw if raw else "") + "\n", encoding="utf-8")
    return path


def test_a_good_case_loads_with_its_source_line(tmp_path: pathlib.Path) -> None:
    attack = {**GOOD, "id": "d-attack", "benign": False, "calls": [GOOD_CALL, ATTACK_CALL]}
    _write(tmp_path, GOOD, attack)
    cases = load_corpus(tmp_path, ["dev"])
    assert [case.id for case in cases] == ["d-ok", "d-attack"]
    assert cases[1].source == "devops.jsonl:2"
    assert cases[1].calls[1].clause == "mass_destruction"
    assert cases[1].calls[1].upstream == "shell"  # the part of shell__run before the "__"


def test_a_call_takes_description_and_schema_from_the_catalog(tmp_path: pathlib.Path) -> None:
    entry = {"tool": "fs__read_file", "description": "Read a file.", "input_schema": {"type": "object"}}
    (tmp_path / "tools.jsonl").write_text(json.dumps(entry) + "\n", encoding="utf-8")
    call = {"tool": "fs__read_file", "arguments": {"path": "README.md"}, "expect": "allow"}
    _write(tmp_path, {**GOOD, "calls": [call]})
    (step,) = load_corpus(tmp_path, ["dev"])[0].calls
    assert (step.description, step.input_schema) == ("Read a file.", {"type": "object"})


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ({**GOOD, "benign": False}, "an attack session needs a call that expects deny or confirm"),
        ({**GOOD, "calls": [{**GOOD_CALL, "expect": "deny"}]}, "calls[0].expect: a benign session expects no deny"),
        ({**GOOD, "calls": [{**GOOD_CALL, "expect": "maybe"}]}, "calls[0].expect: expected one of"),
        ({**GOOD, "calls": [{**GOOD_CALL, "clause": "mass_destruction"}]}, "calls[0].clause: only a deny or confirm"),
        ({**GOOD, "calls": [{**GOOD_CALL, "category": "shell"}]}, "calls[0].category: 'shell' is not a category"),
        ({**GOOD, "calls": [{**GOOD_CALL, "arguments": "ls"}]}, "calls[0].arguments: expected an object"),
        ({**GOOD, "calls": [{**GOOD_CALL, "result": 3}]}, "calls[0].result: expected the text"),
        ({**GOOD, "calls": [{**GOOD_CALL, "expected": "allow"}]}, "calls[0]: unknown field 'expected'"),
        ({**GOOD, "calls": [{"tool": "x__y", "arguments": {}, "expect": "allow"}]}, "'x__y' is not in tools.jsonl"),
        ({**GOOD, "calls": []}, "calls: expected a non-empty list"),
        ({**GOOD, "split": "heldout"}, "split: expected 'dev'"),
        ({**GOOD, "domain": "gaming"}, "domain: expected one of"),
        ({**GOOD, "benign": "yes"}, "benign: expected true or false"),
        ({**GOOD, "id": ""}, "id: expected a non-empty string"),
        ({**GOOD, "extra": 1}, "unknown field 'extra'"),
        ([GOOD], "expected a JSON object"),
    ],
)
def test_a_malformed_case_is_refused_with_file_and_line(tmp_path: pathlib.Path, case: object, problem: str) -> None:
    path = _write(tmp_path, GOOD | {"id": "d-first"}, case)
    with pytest.raises(CorpusError) as caught:
        load_file(path, "dev")
    assert str(caught.value).startswith(f"{path}:2: ")
    assert problem in str(caught.value)


def test_a_line_that_is_not_json_is_refused_with_file_and_line(tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path, GOOD, raw='{"id": "d-x",')
    with pytest.raises(CorpusError, match=rf"^{path}:2: not JSON"):
        load_file(path, "dev")


def test_an_id_used_twice_is_refused_naming_both_places(tmp_path: pathlib.Path) -> None:
    _write(tmp_path, GOOD, GOOD)
    with pytest.raises(CorpusError, match=r"devops.jsonl:2: id 'd-ok' is also at dev/devops.jsonl:1"):
        load_corpus(tmp_path, ["dev"])


def test_an_unknown_split_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CorpusError, match="not a split"):
        load_corpus(tmp_path, ["test"])


def test_the_bundled_corpus_loads_and_is_big_enough() -> None:
    cases = load_corpus(DATA_DIR, SPLITS)
    # Counts only: a failing assertion must not print a held-out case to whoever runs the tests.
    held_out = sum(case.split == "heldout" for case in cases)
    assert len(cases) >= 150
    # Grown dev sessions leave the held-out split smaller in share; a third is the floor below which its
    # figures stop meaning much.
    assert 3 * held_out >= len(cases), f"{held_out} held-out sessions of {len(cases)}"
    assert {case.domain for case in cases} == {"banking", "messaging", "office", "travel", "devops", "memory"}
