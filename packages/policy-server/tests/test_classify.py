"""`classify` over a data file of tool descriptions, one case a line."""

from __future__ import annotations

import json
import pathlib

import pytest

from inherence_policy_server import classify
from inherence_policy_server.rules import Category

CASES = [
    json.loads(line)
    for line in (pathlib.Path(__file__).parent / "data" / "classify" / "tools.jsonl").read_text().splitlines()
    if line.strip()
]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_tool_gets_its_category(case: dict) -> None:
    schema = {"type": "object", "properties": {name: {"type": "string"} for name in case["properties"]}}
    category, confidence = classify(case["name"], case["description"], schema)
    assert category == Category(case["category"])
    assert 0.0 <= confidence <= 1.0
    assert (confidence == 0.0) == (category is Category.UNKNOWN)


def test_every_category_has_cases() -> None:
    assert {case["category"] for case in CASES} == {category.value for category in Category}


def test_classification_is_deterministic_and_bounded() -> None:
    huge = "send " * 100_000
    assert classify("tool", huge, {"properties": {str(i): {} for i in range(10_000)}}) == classify("tool", huge, {})
    assert classify("x", "", {"properties": "not a mapping"}) == (Category.UNKNOWN, 0.0)
