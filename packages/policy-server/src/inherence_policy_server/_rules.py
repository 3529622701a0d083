"""Where the server meets the rules: the evaluator's shape, the default engine, the config file.

The server depends on the shape `evaluate(call, config, ledger, now) -> Evaluation`, so a test
can pass a scripted evaluator; by default it is the six rules' engine. The rules config is a
TOML file read into the rules' `RulesConfig`, with errors that name the file and the field.
"""

from __future__ import annotations

import datetime
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pydantic

from inherence_policy_server._errors import ConfigError
from inherence_policy_server.rules import Call, Finding, RulesConfig, SessionLedger, evaluate

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "Evaluation",
    "Evaluator",
    "default_evaluator",
    "default_rules_config",
    "load_rules_config",
    "rules_config_from_mapping",
]


class Evaluation(Protocol):
    """What the rules answer about one call."""

    @property
    def verdict(self) -> Any:
        """`allow`, `deny`, `allow_with_log` or `confirm` (a wire `Verdict` or its string).

        The call's `approved` is true when a person granted this very call: an evaluator that
        asks (`confirm`) should then let it through unless something else denies it.
        """

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


def default_rules_config() -> RulesConfig:
    """The rules config with every documented default."""
    return RulesConfig()


def rules_config_from_mapping(data: object, *, path: pathlib.Path | None = None) -> RulesConfig:
    """Validate parsed config data; `ConfigError` names the file and the first bad field."""
    try:
        return RulesConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        more = exc.error_count() - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{first['msg']}{suffix}", path=path, field=field) from None


def load_rules_config(path: pathlib.Path) -> RulesConfig:
    """Read a rules TOML file."""
    path = pathlib.Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", path=path) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("the file is not UTF-8 text", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    return rules_config_from_mapping(data, path=path)
