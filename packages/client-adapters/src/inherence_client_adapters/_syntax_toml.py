"""TOML config files (Codex CLI): tomlkit keeps comments and layout; a second parser reads the result back.

tomlkit edits the document tree in place and writes every untouched table and comment back as it
was. Whether the servers tables were `[mcp_servers.x]` headers, dotted keys or an inline table,
the replacement is written as one `[mcp_servers.<name>]` table where the old section stood.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Table

from ._errors import LosslessRewriteError, MalformedConfigError
from ._syntax import ConfigSyntax, ParsedConfig, SectionPath, describe_path, to_plain

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["TomlSyntax"]


class TomlSyntax(ConfigSyntax):
    """A TOML file."""

    name = "toml"

    def parse(self, text: str, *, path: Path) -> ParsedConfig:
        try:
            document = tomlkit.parse(text)
        except tomlkit.exceptions.ParseError as error:
            detail = str(error).split(" at line ")[0]
            raise MalformedConfigError(detail, path=path, line=error.line, column=error.col) from None
        try:
            independent = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise MalformedConfigError(str(error), path=path, line=1, column=1) from None
        plain = to_plain(document.unwrap())
        if plain != to_plain(independent):
            raise LosslessRewriteError("two TOML parsers disagree about this file", path=path)
        return ParsedConfig(text=text, plain=plain, handle=document)

    def replace_sections(self, parsed: ParsedConfig, changes: Mapping[SectionPath, Any], *, path: Path) -> str:
        document = tomlkit.parse(parsed.text)
        for section, value in changes.items():
            if len(section) != 1:
                raise LosslessRewriteError(f"cannot rewrite the nested section {describe_path(section)}", path=path)
            if not isinstance(value, dict):
                raise LosslessRewriteError("a TOML servers section must be a table", path=path)
            document[section[0]] = _servers_table(value)
        return tomlkit.dumps(document)

    @staticmethod
    def without(text: str, key: str) -> str:
        """`text` with the top-level `key` removed, as tomlkit writes it: the yardstick for "nothing else changed"."""
        document = tomlkit.parse(text)
        if key in document:
            del document[key]
        return tomlkit.dumps(document)


def _servers_table(servers: Mapping[str, Any]) -> Table:
    outer = tomlkit.table(is_super_table=True)
    for name, entry in servers.items():
        inner = tomlkit.table()
        for key, item in entry.items():
            inner.add(key, item)
        outer.add(name, inner)
    return outer
