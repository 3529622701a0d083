"""YAML config files (Continue): read with ruamel.yaml, replace a top-level servers block by its lines.

ruamel.yaml's round-trip dumper keeps comments but may still re-indent or re-quote other parts
of a file. So it is used only to parse and to learn on which lines the servers block sits; the
new block is spliced into the original text line by line, and nothing else is re-emitted.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ._errors import LosslessRewriteError, MalformedConfigError, UnexpectedStructureError
from ._syntax import ConfigSyntax, ParsedConfig, SectionPath, describe_path, to_plain
from ._textstyle import newline_of

__all__ = ["YamlSyntax"]


class YamlSyntax(ConfigSyntax):
    """A YAML file whose top level is a block mapping."""

    name = "yaml"

    def parse(self, text: str, *, path: Path) -> ParsedConfig:
        loader = YAML(typ="rt", pure=True)
        try:
            root = loader.load(io.StringIO(text))
        except MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            problem = error.problem or error.context or "not valid YAML"
            raise MalformedConfigError(problem, path=path, line=line, column=column) from None
        except YAMLError as error:
            raise MalformedConfigError(str(error).splitlines()[0], path=path, line=1, column=1) from None
        return ParsedConfig(text=text, plain=to_plain(root), handle=root)

    def replace_sections(self, parsed: ParsedConfig, changes: Mapping[SectionPath, Any], *, path: Path) -> str:
        text = parsed.text
        for section, value in changes.items():
            text = self._replace_one(self.parse(text, path=path), section, value, path=path)
        return text

    def _replace_one(self, parsed: ParsedConfig, section: SectionPath, value: Any, *, path: Path) -> str:
        if len(section) != 1:
            raise LosslessRewriteError(f"cannot rewrite the nested section {describe_path(section)}", path=path)
        key = section[0]
        root = parsed.handle
        text = parsed.text
        newline = newline_of(text)
        lines = text.splitlines(keepends=True)
        if root is None:
            root = CommentedMap()
        if not isinstance(root, CommentedMap):
            raise UnexpectedStructureError("expected a mapping", path=path, where="the top level")
        if root.fa.flow_style():
            raise LosslessRewriteError(
                "the top level is written in flow style { ... }; cannot splice a block", path=path
            )
        if key not in root:
            block = _render_block(key, value, seq_indent="  ", newline=newline)
            separator = "" if not text or text.endswith("\n") else newline
            return text + separator + block
        keys = list(root.keys())
        first_line, column = root.lc.key(key)
        if column != 0:
            raise LosslessRewriteError(f"{key} does not start at the beginning of its line", path=path)
        position = keys.index(key)
        end_line = root.lc.key(keys[position + 1])[0] if position + 1 < len(keys) else len(lines)
        while end_line > first_line + 1 and _is_blank_or_top_comment(lines[end_line - 1]):
            end_line -= 1
        seq_indent = _sequence_indent(lines[first_line + 1 : end_line])
        block = _render_block(key, value, seq_indent=seq_indent, newline=newline)
        if end_line == len(lines) and lines and not lines[-1].endswith("\n"):
            block = block[: -len(newline)]
        return "".join(lines[:first_line]) + block + "".join(lines[end_line:])


def _is_blank_or_top_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or (line.startswith("#")) or stripped == "..."


def _sequence_indent(block_lines: list[str]) -> str:
    for line in block_lines:
        stripped = line.lstrip(" ")
        if stripped.startswith("- ") or stripped.rstrip() == "-":
            return line[: len(line) - len(stripped)]
    return "  "


def _render_block(key: str, value: Any, *, seq_indent: str, newline: str) -> str:
    """`key:` and its value as block YAML; scalars and inner lists are written as JSON, which YAML reads."""
    if isinstance(value, list) and value:
        lines = [f"{key}:"]
        for item in value:
            entries = list(item.items()) if isinstance(item, dict) else []
            if not entries:
                lines.append(f"{seq_indent}- {json.dumps(item, ensure_ascii=False)}")
                continue
            for index, (name, inner) in enumerate(entries):
                lead = "- " if index == 0 else "  "
                lines.append(f"{seq_indent}{lead}{name}: {json.dumps(inner, ensure_ascii=False)}")
        return newline.join(lines) + newline
    return f"{key}: {json.dumps(value, ensure_ascii=False)}{newline}"
