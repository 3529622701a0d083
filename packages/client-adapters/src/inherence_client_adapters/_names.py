"""Giving every server one unique name when several clients and scopes are merged.

Entries with the same name and the same definition are one server. When the definitions differ
(Claude Desktop's `github` runs one command, Cursor's another), every one of them is renamed
`<name>-<client>`, then `<name>-<client>-<n>` in (client, scope, file) order, so the result does
not depend on the order the caller passes entries in, and the caller learns each rename.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._model import ServerEntry

__all__ = ["MergedServers", "merge_servers"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class MergedServers:
    """`servers`: unique name -> entry. `renamed`: (client, scope, source, original name) -> unique name."""

    servers: Mapping[str, ServerEntry]
    renamed: Mapping[tuple[str, str, Path, str], str]


def _origin(entry: ServerEntry) -> tuple[str, str, Path, str]:
    return (entry.client, entry.scope, entry.source, entry.name)


def _order(entry: ServerEntry) -> tuple[str, str, str, str]:
    return (entry.client, entry.scope, str(entry.source), entry.name)


def merge_servers(entries: Iterable[ServerEntry]) -> MergedServers:
    """One name per distinct server; same-named servers that differ are told apart by client."""
    groups: dict[str, list[ServerEntry]] = {}
    for entry in sorted(entries, key=_order):
        groups.setdefault(entry.name, []).append(entry)
    taken = set(groups)
    servers: dict[str, ServerEntry] = {}
    renamed: dict[tuple[str, str, Path, str], str] = {}
    for name in sorted(groups):
        group = groups[name]
        distinct: dict[tuple[object, ...], ServerEntry] = {}
        for entry in group:
            distinct.setdefault(entry.definition(), entry)
        if len(distinct) == 1:
            servers[name] = group[0]
            continue
        chosen: dict[tuple[object, ...], str] = {}
        for entry in group:
            key = entry.definition()
            if key not in chosen:
                chosen[key] = _unique(f"{name}-{_UNSAFE.sub('_', entry.client)}", taken)
                taken.add(chosen[key])
                servers[chosen[key]] = entry
            renamed[_origin(entry)] = chosen[key]
    return MergedServers(servers=servers, renamed=renamed)


def _unique(candidate: str, taken: set[str]) -> str:
    if candidate not in taken:
        return candidate
    number = 2
    while f"{candidate}-{number}" in taken:
        number += 1
    return f"{candidate}-{number}"
