"""Loading a config file, computing its wrapped text, and checking that text reads back as intended.

"Never write what you could not read back": the new text is parsed again with the same syntax;
the servers sections must hold exactly the intended value and everything else must equal the
original, value for value (and, for TOML, text for text once the servers table is set aside).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._dialect import ConfigLocation, Section, decode_entry, is_proxy_entry, section_entries
from ._errors import ClientConfigError, LosslessRewriteError, MalformedConfigError, UnexpectedStructureError
from ._fileio import FileSnapshot
from ._model import ServerEntry
from ._syntax import ParsedConfig, SectionPath, describe_path, get_path
from ._syntax_toml import TomlSyntax

__all__ = ["LoadedConfig", "decode_text", "describe_differences", "load_config", "without_sections", "wrapped_text"]


@dataclass(frozen=True)
class LoadedConfig:
    """A config file as read: bytes, text, parsed value and the servers sections found in it."""

    location: ConfigLocation
    snapshot: FileSnapshot
    parsed: ParsedConfig
    sections: tuple[Section, ...]

    @property
    def text(self) -> str:
        return self.parsed.text

    def raw_entries(self) -> list[tuple[Section, str, Any]]:
        """Every (section, name, raw entry), the proxy's own entry included."""
        path = self.location.path
        return [
            (section, name, raw)
            for section in self.sections
            for name, raw in section_entries(self.parsed.plain, section, path=path)
        ]

    def servers(self) -> list[ServerEntry]:
        """The servers this file defines, the proxy's own entry left out."""
        found = []
        for section, name, raw in self.raw_entries():
            if is_proxy_entry(name, raw):
                continue
            found.append(self.decode(section, name, raw))
        return found

    def decode(self, section: Section, name: str, raw: Any) -> ServerEntry:
        location = self.location
        return decode_entry(
            name,
            raw,
            dialect=location.dialect,
            client=location.client,
            scope=section.scope,
            source=location.path,
            where=describe_path(section.path),
        )

    def proxy_entries(self) -> list[Any]:
        return [raw for _, name, raw in self.raw_entries() if is_proxy_entry(name, raw)]


def decode_text(data: bytes, *, path: Path) -> str:
    """UTF-8 text of a config file (a byte-order mark is kept as a character, so it is written back)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise MalformedConfigError("not UTF-8 text", path=path, line=line, column=column) from None


def load_config(location: ConfigLocation, snapshot: FileSnapshot) -> LoadedConfig:
    """Parse `snapshot` as `location`'s file and find its servers sections."""
    text = decode_text(snapshot.data, path=location.path)
    parsed = location.dialect.syntax.parse(text, path=location.path)
    if not isinstance(parsed.plain, dict) and not (parsed.plain is None and location.dialect.syntax.name == "yaml"):
        raise UnexpectedStructureError("expected a mapping of settings", path=location.path, where="the top level")
    sections = location.dialect.sections(parsed.plain)
    return LoadedConfig(location=location, snapshot=snapshot, parsed=parsed, sections=sections)


def wrapped_text(loaded: LoadedConfig, proxy_entry: Mapping[str, Any]) -> str:
    """The file's text with every servers section replaced: the proxy entry where it belongs, nothing elsewhere."""
    location = loaded.location
    dialect = location.dialect
    changes = {section.path: dialect.wrapped_value(section, proxy_entry) for section in loaded.sections}
    loaded.servers()  # every entry must be understood before any is moved behind the proxy
    new_text = dialect.syntax.replace_sections(loaded.parsed, changes, path=location.path)
    _check_reads_back(loaded, new_text, changes)
    return new_text


def _check_reads_back(loaded: LoadedConfig, new_text: str, changes: Mapping[SectionPath, Any]) -> None:
    path = loaded.location.path
    syntax = loaded.location.dialect.syntax
    try:
        reparsed = syntax.parse(new_text, path=path)
    except ClientConfigError as error:
        raise LosslessRewriteError(f"the rewritten file would not read back ({error})", path=path) from None
    for section_path, value in changes.items():
        if get_path(reparsed.plain, section_path) != value:
            where = describe_path(section_path)
            raise LosslessRewriteError(f"{where} would not read back as the proxy entry", path=path)
    if without_sections(reparsed.plain, changes) != without_sections(loaded.parsed.plain, changes):
        raise LosslessRewriteError("the rewrite would change settings outside the servers section", path=path)
    if isinstance(syntax, TomlSyntax):
        for section_path in changes:
            if syntax.without(new_text, section_path[0]) != syntax.without(loaded.text, section_path[0]):
                raise LosslessRewriteError("the rewrite would change text outside the servers tables", path=path)


def without_sections(plain: Any, paths: Iterable[SectionPath]) -> Any:
    trimmed = copy.deepcopy(plain)
    for section_path in paths:
        parent = get_path(trimmed, section_path[:-1])
        if isinstance(parent, dict):
            parent.pop(section_path[-1], None)
    return trimmed


def describe_differences(before: Any, after: Any, *, prefix: tuple[str, ...] = (), depth: int = 3) -> list[str]:
    """What a user would lose going from `after` back to `before`, one line per changed key."""
    if before == after:
        return []
    if depth == 0 or not isinstance(before, dict) or not isinstance(after, dict):
        return [f"{describe_path(prefix)} changed"]
    lines = []
    for key in after:
        if key not in before:
            lines.append(f"{describe_path((*prefix, key))} added")
        else:
            lines.extend(describe_differences(before[key], after[key], prefix=(*prefix, key), depth=depth - 1))
    lines.extend(f"{describe_path((*prefix, key))} removed" for key in before if key not in after)
    return lines
