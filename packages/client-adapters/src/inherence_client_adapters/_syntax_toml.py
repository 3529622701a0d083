"""TOML config files (Codex CLI): parsed by tomlkit and checked by a second parser; servers tables spliced by line.

tomlkit attaches a comment above a table header to the table before it, so deleting the servers
tables through tomlkit would also delete the comment that introduces the next table. The
`[mcp_servers.*]` tables are therefore cut out of the text line by line and the new table is
written where the first one stood; the caller checks the result reads back as intended.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions

from ._errors import LosslessRewriteError, MalformedConfigError
from ._syntax import ConfigSyntax, ParsedConfig, SectionPath, describe_path, to_plain
from ._textstyle import newline_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["TomlSyntax"]

_HEADER = re.compile(r"^[ \t]*\[\[?[ \t]*([^\]]+?)[ \t]*\]\]?[ \t]*(?:#.*)?\r?\n?$")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


class TomlSyntax(ConfigSyntax):
    """A TOML file."""

    name = "toml"

    def parse(self, text: str, *, path: Path) -> ParsedConfig:
        try:
            document = tomlkit.parse(text)
        except tomlkit.exceptions.ParseError as error:
            detail = str(error).split(" at line ")[0]
            raise MalformedConfigError(detail, path=path, line=error.line, column=error.col + 1) from None
        try:
            independent = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise MalformedConfigError(str(error), path=path, line=1, column=1) from None
        plain = to_plain(document.unwrap())
        if plain != to_plain(independent):
            raise LosslessRewriteError("two TOML parsers disagree about this file", path=path)
        return ParsedConfig(text=text, plain=plain, handle=document)

    def replace_sections(self, parsed: ParsedConfig, changes: Mapping[SectionPath, Any], *, path: Path) -> str:
        text = parsed.text
        for section, value in changes.items():
            if len(section) != 1:
                raise LosslessRewriteError(f"cannot rewrite the nested section {describe_path(section)}", path=path)
            if not isinstance(value, dict):
                raise LosslessRewriteError("a TOML servers section must be a table", path=path)
            text = _splice_tables(text, section[0], value)
        return text

    @staticmethod
    def without(text: str, key: str) -> str:
        """`text` with the top-level `key` removed, as tomlkit writes it: the yardstick for "nothing else changed"."""
        document = tomlkit.parse(text)
        if key in document:
            del document[key]
        return tomlkit.dumps(document)


def _header_key(line: str) -> str | None:
    match = _HEADER.match(line)
    if match is None:
        return None
    first = match.group(1).strip()
    if first.startswith(('"', "'")):
        return first[1 : first.find(first[0], 1)]
    return first.split(".")[0].strip()


def _splice_tables(text: str, key: str, servers: Mapping[str, Any]) -> str:
    """Replace every `[key...]` table by one `[key.<name>]` table per server, in the first one's place.

    Comment and blank lines just above the next header stay with that header. Servers written
    as dotted keys or an inline table in the root table are replaced through tomlkit instead.
    """
    newline = newline_of(text)
    lines = text.splitlines(keepends=True)
    headers = [index for index, line in enumerate(lines) if _header_key(line) is not None]
    removed: list[tuple[int, int]] = []
    for position, index in enumerate(headers):
        if _header_key(lines[index]) != key:
            continue
        end = headers[position + 1] if position + 1 < len(headers) else len(lines)
        while end > index + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        removed.append((index, end))
    block = _render_tables(key, servers, newline)
    if not removed:
        document = tomlkit.parse(text)
        if key in document:
            outer = tomlkit.inline_table()
            for name, entry in servers.items():
                inner = tomlkit.inline_table()
                inner.update(entry)
                outer[name] = inner
            document[key] = outer
            return tomlkit.dumps(document)
        separator = "" if not text or text.endswith("\n") else newline
        return text + separator + (newline if text.strip() else "") + block
    kept: list[str] = []
    cursor = 0
    for number, (start, end) in enumerate(removed):
        kept.extend(lines[cursor:start])
        if number == 0:
            kept.append(block)
        cursor = end
    kept.extend(lines[cursor:])
    if cursor == len(lines) and lines and not lines[-1].endswith("\n") and kept[-1] == block:
        kept[-1] = block[: -len(newline)]
    return "".join(kept)


def _render_tables(key: str, servers: Mapping[str, Any], newline: str) -> str:
    out = []
    for name, entry in servers.items():
        out.append(f"[{key}.{json.dumps(name, ensure_ascii=False)}]" if not _BARE.match(name) else f"[{key}.{name}]")
        out.extend(f"{item} = {_toml_value(value)}" for item, value in entry.items())
    return newline.join(out) + newline if out else ""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)
