"""The seam between a file's syntax (JSON, JSONC, YAML, TOML) and the operations on client configs.

A syntax parses text into plain Python values (dicts, lists, strings, numbers) plus whatever
handle it needs to edit the text later, and replaces whole servers sections while leaving every
other byte alone. Checking that the result reads back as intended is the caller's job
(`_rewrite.py`), so it is done once for every syntax.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ConfigSyntax", "ParsedConfig", "SectionPath", "describe_path", "get_path", "to_plain"]

SectionPath = tuple[str, ...]


@dataclass(frozen=True)
class ParsedConfig:
    """A parsed file: its text, its plain value and the syntax's own handle for editing."""

    text: str
    plain: Any
    handle: Any


class ConfigSyntax(ABC):
    """How one kind of file is read and how its servers sections are replaced."""

    name: str

    @abstractmethod
    def parse(self, text: str, *, path: Path) -> ParsedConfig:
        """Parse `text`; raise `MalformedConfigError` naming `path`, line and column."""

    @abstractmethod
    def replace_sections(self, parsed: ParsedConfig, changes: Mapping[SectionPath, Any], *, path: Path) -> str:
        """The text with the value at each section path replaced (or added) and nothing else changed."""


def describe_path(keys: SectionPath) -> str:
    """A section path as a user reads it: `projects > /home/me/app > mcpServers`."""
    return " > ".join(keys) if keys else "the top level"


def get_path(plain: Any, keys: SectionPath) -> Any:
    """The value at `keys`, or None when any step is missing or not a mapping."""
    node = plain
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def to_plain(value: Any) -> Any:
    """A deep copy made only of dict, list, str, int, float, bool and None (library subclasses unwrapped)."""
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)
