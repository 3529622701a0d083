"""JSON and JSONC config files: read, and replace one servers value by its character span.

Nothing outside the replaced spans changes: not a comment, a space, a key order or a line ending.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import LosslessRewriteError, UnexpectedStructureError
from ._jsonc import JsonNode, parse_json
from ._syntax import ConfigSyntax, ParsedConfig, SectionPath, describe_path
from ._textstyle import indent_unit, line_indent, newline_of, render_json

__all__ = ["JsonSyntax"]


class JsonSyntax(ConfigSyntax):
    """Plain JSON (`jsonc=False`) or JSON with comments and trailing commas (`jsonc=True`)."""

    def __init__(self, *, jsonc: bool) -> None:
        self.jsonc = jsonc
        self.name = "jsonc" if jsonc else "json"

    def parse(self, text: str, *, path: Path) -> ParsedConfig:
        root = parse_json(text, path=path, jsonc=self.jsonc)
        return ParsedConfig(text=text, plain=root.value, handle=root)

    def replace_sections(self, parsed: ParsedConfig, changes: Mapping[SectionPath, Any], *, path: Path) -> str:
        text = parsed.text
        root: JsonNode = parsed.handle
        unit = indent_unit(text)
        newline = newline_of(text)
        edits: list[tuple[int, int, str]] = []
        for section, value in changes.items():
            parent = _walk(root, section[:-1], path=path)
            key = section[-1]
            if parent.count(key) > 1:
                raise LosslessRewriteError(
                    f"{describe_path(section)} appears more than once; which one the client reads is unclear",
                    path=path,
                )
            node = parent.member(key)
            if node is not None:
                key_start = next(start for name, start, child in parent.members if child is node)
                base = line_indent(text, key_start)
                edits.append((node.start, node.end, render_json(value, unit=unit, base=base, newline=newline)))
            else:
                edits.append(_insertion(text, parent, key, value, unit=unit, newline=newline))
        for start, end, replacement in sorted(edits, reverse=True):
            text = text[:start] + replacement + text[end:]
        return text


def _walk(root: JsonNode, keys: SectionPath, *, path: Path) -> JsonNode:
    node = root
    for depth, key in enumerate(keys):
        if node.kind != "object":
            raise UnexpectedStructureError("expected an object", path=path, where=describe_path(keys[:depth]))
        if node.count(key) > 1:
            raise LosslessRewriteError(f"{describe_path(keys[: depth + 1])} appears more than once", path=path)
        child = node.member(key)
        if child is None:
            raise UnexpectedStructureError("missing", path=path, where=describe_path(keys[: depth + 1]))
        node = child
    if node.kind != "object":
        raise UnexpectedStructureError("expected an object", path=path, where=describe_path(keys))
    return node


def _insertion(
    text: str, parent: JsonNode, key: str, value: Any, *, unit: str | None, newline: str
) -> tuple[int, int, str]:
    """Where and what to insert to add `key: value` as the last member of `parent`."""
    quoted = json.dumps(key, ensure_ascii=False)
    if parent.members:
        _, last_key_start, last = parent.members[-1]
        base = line_indent(text, last_key_start)
        rendered = render_json(value, unit=unit, base=base, newline=newline)
        joint = ", " if unit is None else "," + newline + base
        return last.end, last.end, f"{joint}{quoted}: {rendered}"
    outer = line_indent(text, parent.start)
    if unit is None:
        rendered = render_json(value, unit=None, base="", newline=newline)
        return parent.start + 1, parent.start + 1, f"{quoted}: {rendered}"
    inner = outer + unit
    rendered = render_json(value, unit=unit, base=inner, newline=newline)
    interior = text[parent.start + 1 : parent.end - 1]
    if interior.strip():
        return parent.start + 1, parent.start + 1, f"{newline}{inner}{quoted}: {rendered}"
    return parent.start + 1, parent.end - 1, f"{newline}{inner}{quoted}: {rendered}{newline}{outer}"
