"""The rules config: a TOML file read into the rules' `RulesConfig`, with errors that say where."""

from __future__ import annotations

import pathlib
import sys

import pydantic

from inherence_policy_server._engine import rules_config_type
from inherence_policy_server._errors import ConfigError
from inherence_policy_server.rules import RulesConfig

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["default_rules_config", "load_rules_config", "rules_config_from_mapping"]


def default_rules_config() -> RulesConfig:
    """The rules config with every documented default."""
    return rules_config_type()()


def rules_config_from_mapping(data: object, *, path: pathlib.Path | None = None) -> RulesConfig:
    """Validate parsed config data; `ConfigError` names the file and the first bad field."""
    try:
        return rules_config_type().model_validate(data)
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
