"""Where the server meets the rules: the evaluator, its result and the rules config, by shape.

The server depends on the shape `evaluate(call, config, ledger, now) -> Evaluation`, not on a
class, so a test can pass a scripted evaluator and the rules can change inside their package.
"""

from __future__ import annotations

import datetime
import importlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pydantic

from inherence_policy_server.rules._api import Call, Finding, SessionLedger

__all__ = ["Evaluation", "Evaluator", "default_evaluator", "rules_config_type"]

_RULES = "inherence_policy_server.rules"


class Evaluation(Protocol):
    """What the rules answer about one call."""

    @property
    def verdict(self) -> Any:
        """`allow`, `deny` or `allow_with_log` (a wire `Verdict` or its string)."""

    @property
    def findings(self) -> Sequence[Finding]: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def failed_clauses(self) -> Sequence[Any]: ...


Evaluator = Callable[[Call, Any, SessionLedger, datetime.datetime], Evaluation]


def default_evaluator() -> Evaluator:
    """The six rules' engine."""
    engine = importlib.import_module(f"{_RULES}._engine")
    evaluate: Evaluator = engine.evaluate
    return evaluate


def rules_config_type() -> type[pydantic.BaseModel]:
    """The pydantic model of the rules config (`RulesConfig`)."""
    module = importlib.import_module(f"{_RULES}._config")
    config_type: type[pydantic.BaseModel] = module.RulesConfig
    return config_type
