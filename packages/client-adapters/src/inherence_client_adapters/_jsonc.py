"""A JSON and JSONC parser that remembers where every value sits in the text.

Generic JSON libraries give values, not positions, and re-serialising a document loses its
indentation, key order quirks, comments and line endings. Rewriting only the servers section
needs the exact character span of that one value, which is what this parser records.

JSONC is JSON plus `//` and `/* */` comments and trailing commas, as VS Code and Zed read it.
"""

from __future__ import annotations

import json
import json.decoder
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import MalformedConfigError

__all__ = ["JsonNode", "line_and_column", "parse_json"]

_MAX_DEPTH = 256
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_WHITESPACE_AND_COMMENTS = re.compile(r"(?:[ \t\r\n]+|//[^\n]*|/\*(?:[^*]|\*(?!/))*\*/)*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}


@dataclass
class JsonNode:
    """One value of the document: its kind, its span `[start, end)` in the text and its plain value."""

    kind: str
    start: int
    end: int
    value: Any
    members: list[tuple[str, int, JsonNode]] = field(default_factory=list)
    items: list[JsonNode] = field(default_factory=list)

    def member(self, key: str) -> JsonNode | None:
        """The value of `key` in an object (the last one, as JavaScript reads duplicates)."""
        found = None
        for name, _, node in self.members:
            if name == key:
                found = node
        return found

    def count(self, key: str) -> int:
        return sum(1 for name, _, _ in self.members if name == key)


def line_and_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of `offset` in `text`."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


class _Parser:
    def __init__(self, text: str, *, path: Path, jsonc: bool) -> None:
        self.text = text
        self.path = path
        self.jsonc = jsonc
        self._skip_re = _WHITESPACE_AND_COMMENTS if jsonc else _WHITESPACE

    def fail(self, message: str, offset: int) -> MalformedConfigError:
        line, column = line_and_column(self.text, offset)
        return MalformedConfigError(message, path=self.path, line=line, column=column)

    def skip(self, pos: int) -> int:
        match = self._skip_re.match(self.text, pos)
        assert match is not None
        end = match.end()
        if self.jsonc and self.text.startswith("/*", end):
            raise self.fail("unterminated /* comment", end)
        return end

    def document(self) -> JsonNode:
        pos = 1 if self.text.startswith("\ufeff") else 0
        pos = self.skip(pos)
        if pos >= len(self.text):
            raise self.fail("the file is empty, expected a JSON value", pos)
        node = self.value(pos, 0)
        end = self.skip(node.end)
        if end != len(self.text):
            raise self.fail("unexpected text after the end of the JSON value", end)
        return node

    def value(self, pos: int, depth: int) -> JsonNode:
        if depth > _MAX_DEPTH:
            raise self.fail(f"nesting deeper than {_MAX_DEPTH} levels", pos)
        char = self.text[pos : pos + 1]
        if char == "{":
            return self.obj(pos, depth)
        if char == "[":
            return self.array(pos, depth)
        if char == '"':
            value, end = self.string(pos)
            return JsonNode("string", pos, end, value)
        number = _NUMBER.match(self.text, pos)
        if number:
            token = number.group()
            parsed: Any = float(token) if any(c in token for c in ".eE") else int(token)
            return JsonNode("number", pos, number.end(), parsed)
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, pos):
                return JsonNode(word, pos, pos + len(word), literal)
        if not char:
            raise self.fail("unexpected end of file, expected a value", pos)
        if char == "/" and not self.jsonc:
            raise self.fail("comments are not allowed in this file (plain JSON)", pos)
        raise self.fail(f"unexpected character {char!r}, expected a value", pos)

    def string(self, pos: int) -> tuple[str, int]:
        try:
            return json.decoder.scanstring(self.text, pos + 1, True)  # type: ignore[attr-defined,no-any-return]
        except json.JSONDecodeError as error:
            raise self.fail(error.msg.lower(), error.pos) from None

    def obj(self, start: int, depth: int) -> JsonNode:
        node = JsonNode("object", start, start, {})
        pos = self.skip(start + 1)
        while True:
            if self.text.startswith("}", pos):
                node.end = pos + 1
                return node
            if node.members:
                if not self.text.startswith(",", pos):
                    raise self.fail("expected ',' or '}' after an object member", pos)
                pos = self.skip(pos + 1)
                if self.text.startswith("}", pos):
                    if not self.jsonc:
                        raise self.fail("trailing comma before '}'", pos)
                    continue
            if not self.text.startswith('"', pos):
                raise self.fail("expected a string key in double quotes", pos)
            key, pos_after_key = self.string(pos)
            key_start = pos
            pos = self.skip(pos_after_key)
            if not self.text.startswith(":", pos):
                raise self.fail("expected ':' after an object key", pos)
            child = self.value(self.skip(pos + 1), depth + 1)
            node.members.append((key, key_start, child))
            node.value[key] = child.value
            pos = self.skip(child.end)

    def array(self, start: int, depth: int) -> JsonNode:
        node = JsonNode("array", start, start, [])
        pos = self.skip(start + 1)
        while True:
            if self.text.startswith("]", pos):
                node.end = pos + 1
                return node
            if node.items:
                if not self.text.startswith(",", pos):
                    raise self.fail("expected ',' or ']' after an array item", pos)
                pos = self.skip(pos + 1)
                if self.text.startswith("]", pos):
                    if not self.jsonc:
                        raise self.fail("trailing comma before ']'", pos)
                    continue
            child = self.value(pos, depth + 1)
            node.items.append(child)
            node.value.append(child.value)
            pos = self.skip(child.end)


def parse_json(text: str, *, path: Path, jsonc: bool) -> JsonNode:
    """Parse `text`; a syntax error becomes `MalformedConfigError` naming `path`, line and column."""
    return _Parser(text, path=path, jsonc=jsonc).document()
