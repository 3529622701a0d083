"""`classify`: a category for a tool from its name, description and input schema, by table.

Deterministic: the same tool always gets the same answer. A tool no signal fires for is
`unknown`, which the rules treat as able to do anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from inherence_policy_client._models import Classification, ToolDescription
from inherence_policy_server._classify_tables import RISK_ORDER, SIGNALS
from inherence_policy_server.rules._api import Category

__all__ = ["SOURCE", "classify", "classify_tool", "tokens"]

SOURCE = "rules"
_NAME_WEIGHT = 2.0
_MAX_TEXT = 4000
_MAX_PROPERTIES = 100
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+")
_RANK = {category: index for index, category in enumerate(RISK_ORDER)}


def tokens(text: str) -> set[str]:
    """Lower-case words of `text`, splitting camelCase, snake_case, kebab-case and dots."""
    return set(_WORD.findall(_CAMEL.sub(" ", text[:_MAX_TEXT]).lower()))


def _schema_words(schema: Mapping[str, Any]) -> set[str]:
    words: set[str] = set()
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for index, (name, sub) in enumerate(properties.items()):
            if index >= _MAX_PROPERTIES:
                break
            words |= tokens(str(name))
            words.add(str(name).lower())
            if isinstance(sub, Mapping) and isinstance(sub.get("description"), str):
                words |= tokens(sub["description"])
    return words


def classify(name: str, description: str = "", input_schema: Mapping[str, Any] | None = None) -> tuple[Category, float]:
    """The category of a tool and a confidence between 0 and 1."""
    name_words = tokens(name)
    other_words = tokens(description) | _schema_words(input_schema or {})
    every_word = name_words | other_words
    scores: dict[Category, float] = {}
    for signal in SIGNALS:
        if signal.context is not None and signal.context.isdisjoint(every_word):
            continue
        if not signal.terms.isdisjoint(name_words):
            scores[signal.category] = scores.get(signal.category, 0.0) + signal.weight * _NAME_WEIGHT
        elif not signal.terms.isdisjoint(other_words):
            scores[signal.category] = scores.get(signal.category, 0.0) + signal.weight
    if not scores:
        return Category.UNKNOWN, 0.0
    ranked = sorted(scores.items(), key=lambda item: (-item[1], _RANK[item[0]]))
    best, top = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    margin = (top - runner_up) / top
    strength = min(1.0, top / 6.0)
    return best, round(0.5 + 0.45 * margin * strength, 2)


def classify_tool(tool: ToolDescription) -> Classification:
    category, confidence = classify(tool.name, tool.description, tool.input_schema)
    return Classification(name=tool.name, category=category.value, source=SOURCE, confidence=confidence)
