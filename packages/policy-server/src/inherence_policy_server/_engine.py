"""Where the server meets the rules: the evaluator, its result and the rules config.

The server depends on the shape `evaluate(call, config, ledger, now) -> Evaluation`, so a
test can pass a scripted evaluator; by default it is the six rules' engine.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from inherence_policy_server.rules import Call, Finding, RulesConfig, SessionLedger, evaluate

__all__ = ["Evaluation", "Evaluator", "default_evaluator", "rules_config_type"]


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
    return evaluate


def rules_config_type() -> type[RulesConfig]:
    """The pydantic model of the rules config."""
    return RulesConfig
