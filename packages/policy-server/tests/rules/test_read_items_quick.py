"""The quick check before reading a tool's result: a text it passes over holds nothing `read_items` records.

Every result of the policy-eval sessions and every string of the rule corpora, with variants cut to a
few words and with their digits or `@` taken out (where the check applies), is read with the check and
with the full search: the items, and what `result_items` records of them (file owners included), must
be the same.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest

from inherence_policy_server.rules import Category, _material, _outcomes
from inherence_policy_server.rules._material import SHINGLE_WORDS, read_items
from inherence_policy_server.rules._outcomes import result_items

TESTS = pathlib.Path(__file__).parent.parent
RULE_CORPORA = TESTS / "data" / "rules"
POLICY_EVAL = TESTS.parent.parent.parent / "benchmarks" / "policy_eval" / "data"
# Texts at the edges of the check: each holds something without a digit or `@`, or almost passes it.
EDGES = [
    "Echo: hello",
    "Done.",
    "",
    "   ",
    "password: Secret!x",
    "Passwort lautet Sommer!Wind",
    "your password is hunter#two",
    "token=abcdefghijkl",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAabcdefghijklmnopqrstuvwxyzABCDEFGHIJ\n-----END",
    "one two three four five",
    "one two three four five six",
    "ﬀ ﬁ ﬂ ﬃ ﬄ",
    "code ٤٨٢٩١٣",
    "Ihr Code: ۴۸۲۹۱۳",
    "passport X",
    "Reisepass-Nr. CABCDEFG",
    "mail me at someone(at)example.org",
    "owner alice",
    '"owner alice@corp.example"',
    '  {"id": "f1", "owner": "bob@corp.example"}',
    "\ufeff{}",
    "NaN",
    "-Infinity",
    "true",
    "file-1 owner carol@corp.example",
    "sk_live_abcdefghijklmnopqrstuvwxyz",
    "AKIAABCDEFGHIJKLMNOP",
    "ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
]


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _corpus_texts() -> list[str]:
    texts: list[str] = list(EDGES)
    for path in sorted(POLICY_EVAL.glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            session = json.loads(line)
            for step in [*session.get("history", []), *session.get("calls", [])]:
                if isinstance(step.get("result"), str):
                    texts.append(step["result"])
    for path in sorted(RULE_CORPORA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            case = json.loads(line)
            for entry in [*case.get("session", []), case]:
                texts.extend(_strings(entry.get("arguments")))
    return list(dict.fromkeys(texts))


def _variants(text: str) -> list[str]:
    """The text, and shorter or plainer forms of it that the quick check may pass over."""
    shapes = {text, re.sub(r"[\d@]", "", text)}
    for shape in list(shapes):
        words = shape.split()
        shapes.update(" ".join(words[:count]) for count in (3, SHINGLE_WORDS - 1, SHINGLE_WORDS))
        shapes.update(shape.splitlines()[:2])
    return sorted(shapes)


TEXTS = sorted({variant for text in _corpus_texts() for variant in _variants(text)})


def _recorded(text: str) -> list[Any]:
    """What `result_items` records of `text`: its read items and the file owners it names."""
    return result_items(Category.READ_ONLY, (text, ""), "drive__list_files", "drive")


def _full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every text searched in full, and every text tried as JSON, as before the quick checks."""
    monkeypatch.setattr(_material, "QUICK_CHECK", False)
    monkeypatch.setattr(_outcomes, "_JSON_START", re.compile(""))


def test_the_quick_check_changes_no_item(monkeypatch: pytest.MonkeyPatch) -> None:
    quick = [_recorded(text) for text in TEXTS]
    _full(monkeypatch)
    full = [_recorded(text) for text in TEXTS]
    differing = [text for text, one, other in zip(TEXTS, quick, full, strict=True) if one != other]
    assert differing == []


def test_the_texts_reach_both_sides_of_the_check() -> None:
    """The comparison above is not idle: thousands of texts are passed over, and thousands hold items."""
    passed_over = sum(_material._holds_nothing(text) for text in TEXTS)
    holding = sum(bool(read_items(text)) for text in TEXTS)
    assert passed_over >= 1000
    assert holding >= 1000
    # Each edge that holds something without a digit or `@` is searched, and found.
    for text in ("password: Secret!x", "your password is hunter#two", EDGES[8], "one two three four five six"):
        assert not _material._holds_nothing(text)
        assert read_items(text)


def test_an_echo_is_passed_over() -> None:
    assert _material._holds_nothing("Echo: hello")
    assert read_items("Echo: hello") == []
