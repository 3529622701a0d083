"""Editing the rules config: one section at a time, validated whole, saved atomically.

A change is checked by building the complete new `RulesConfig`; any problem comes back as a
message per field and nothing changes. A good change is written to the config file first
(with tomlkit, so the file keeps its comments and layout; temp file, fsync, rename, same
mode) and only then handed to the running server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import re
import tempfile
from collections.abc import Mapping
from typing import Any

import pydantic
import tomlkit

from inherence_policy_server.rules import RULE_NAMES, Mode, RulesConfig

__all__ = ["MODES", "SECTIONS", "SettingField", "SettingsRejected", "apply_changes", "fields_of", "save_section"]

SECTIONS: tuple[str, ...] = (*RULE_NAMES, "organisation", "confirmation")
MODES: tuple[str, ...] = tuple(mode.value for mode in Mode)
# Clause modes are set in the config file (`[<rule>.clauses]`); the forms keep them as they are.
_NOT_EDITED = frozenset({"clauses"})


class SettingsRejected(Exception):
    """The change is invalid; `fields` maps each bad field (or "" for the section) to a message."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name or 'section'}: {message}" for name, message in fields.items()))
        self.fields = fields


@dataclasses.dataclass(frozen=True)
class SettingField:
    """One setting of a section as the form shows it: `kind` is mode, number, flag or list."""

    name: str
    kind: str
    value: Any
    description: str


def _kind(name: str, value: Any) -> str:
    if name == "mode":
        return "mode"
    if isinstance(value, bool):
        return "flag"
    if isinstance(value, int):
        return "number"
    return "list"


def fields_of(config: RulesConfig, section: str) -> list[SettingField]:
    model = getattr(config, section)
    fields = []
    for name, field in type(model).model_fields.items():
        if name in _NOT_EDITED:
            continue
        value = getattr(model, name)
        shown = value.value if name == "mode" else value
        fields.append(SettingField(name, _kind(name, value), shown, field.description or ""))
    return fields


def _from_form(field: SettingField, raw: Any, errors: dict[str, str], *, form: bool) -> Any:
    """A JSON value (or a form's text) as the setting's type; a problem goes into `errors`."""
    if field.kind == "number":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if form and isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
            return int(raw)
        errors[field.name] = "must be a whole number"
    elif field.kind == "flag":
        if isinstance(raw, bool):
            return raw
        if form and raw in ("on", "off"):
            return raw == "on"
        errors[field.name] = "must be true or false"
    elif field.kind == "list":
        if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            return [item.strip() for item in raw if item.strip()]
        if form and isinstance(raw, str):
            return [line.strip() for line in raw.splitlines() if line.strip()]
        errors[field.name] = "must be a list of text values"
    elif isinstance(raw, str):
        return raw
    else:
        errors[field.name] = f"must be one of {', '.join(MODES)}"
    return None


def apply_changes(
    config: RulesConfig, section: str, changes: Mapping[str, Any], *, form: bool = False
) -> tuple[RulesConfig, list[str]]:
    """The config with `changes` to one section, and a line per changed setting; `SettingsRejected` if invalid.

    `form=True` takes the text of an HTML form: numbers as digits, flags as on/off, lists one a line.
    """
    if section not in SECTIONS:
        raise SettingsRejected({"": f"unknown section {section!r}"})
    fields = {field.name: field for field in fields_of(config, section)}
    errors = {name: "unknown setting" for name in changes if name not in fields}
    values: dict[str, Any] = {}
    for name, raw in changes.items():
        if name in fields:
            values[name] = _from_form(fields[name], raw, errors, form=form)
    if errors:
        raise SettingsRejected(errors)
    data = config.model_dump(mode="json")
    data[section].update(values)
    try:
        updated = RulesConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        raise SettingsRejected(_field_errors(exc, section, set(fields), set(values))) from None
    before, after = getattr(config, section), getattr(updated, section)
    changed = []
    for name in fields:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            changed.append(f"{name}: {_shown(old)} -> {_shown(new)}")
    return updated, changed


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return str(getattr(value, "value", value))


def _field_errors(exc: pydantic.ValidationError, section: str, names: set[str], changed: set[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        location = [str(part) for part in error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        if len(location) >= 2 and location[0] == section:
            errors.setdefault(location[1], message)
            continue
        # A check across fields names them in its message: show it beside those that were edited.
        named = [name for name in names if re.search(rf"\b{name}\b", message)]
        edited = [name for name in named if name in changed]
        for name in edited or named or [""]:
            errors.setdefault(name, message)
    return errors


def save_section(path: pathlib.Path, config: RulesConfig, section: str) -> None:
    """Write one section of `config` into the TOML file at `path`, keeping everything else of it."""
    document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    defaults = getattr(RulesConfig(), section)
    table = document.get(section)
    if table is None:
        table = tomlkit.table()
        document[section] = table
    for field in fields_of(config, section):
        value = list(field.value) if isinstance(field.value, tuple) else field.value
        if field.name in table or getattr(defaults, field.name) != getattr(getattr(config, section), field.name):
            table[field.name] = value
    _write_atomically(path, tomlkit.dumps(document).encode("utf-8"))


def _write_atomically(path: pathlib.Path, data: bytes) -> None:
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o600
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
