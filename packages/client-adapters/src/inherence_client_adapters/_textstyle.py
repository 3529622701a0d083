"""How a file writes itself: line endings and indentation, so that new text looks like the old."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["indent_unit", "line_indent", "newline_of", "render_json"]

_INDENTED_LINE = re.compile(r"\n([ \t]+)\S")


def newline_of(text: str) -> str:
    """The line ending most lines of `text` use ("\\n" when there are none)."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def indent_unit(text: str) -> str | None:
    """The indentation of the first indented line, or None for a file written on one line."""
    if "\n" not in text.strip():
        return None
    match = _INDENTED_LINE.search(text)
    return match.group(1) if match else "  "


def line_indent(text: str, offset: int) -> str:
    """The spaces and tabs that start the line holding `offset`."""
    start = text.rfind("\n", 0, offset) + 1
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


def render_json(value: Any, *, unit: str | None, base: str, newline: str) -> str:
    """`value` as JSON text, indented by `unit` below `base`, with `newline` between lines.

    With no unit (a file written on one line) the value is written on one line too.
    """
    if unit is None:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    lines = json.dumps(value, ensure_ascii=False, indent=unit).split("\n")
    return newline.join([lines[0], *(base + line for line in lines[1:])])
