"""`--dry-run`: the unified diff of every file a command would change, and no change at all.

The adapters' own dry run of `wrap` and `restore` says what they would write (and raises what
the real run would raise, a lost way back included) without touching the file or its backups.
A preview names the servers' env variables and headers but never shows their values: they are
the upstreams' secrets, and a preview ends up in terminals, logs and bug reports.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import pathlib
from collections.abc import Iterable

from inherence_client_adapters import ClientAdapter, ClientConfigError, ConfigLocation, ProxyCommand, ServerEntry

__all__ = ["hide_values", "preview_restore", "preview_wrap", "text_diff"]


def text_diff(before: str, after: str, path: pathlib.Path) -> str:
    """A unified diff labelled with the real path; empty when nothing changes."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{path} (now)",
        tofile=f"{path} (after)",
    )
    rendered = [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines]
    return "".join(rendered)


def _text(data: bytes) -> str:
    """The bytes as a text-mode read shows them (universal newlines), so a CRLF file diffs line by line."""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


HIDDEN = "<hidden>"


def secret_values(servers: Iterable[ServerEntry]) -> set[str]:
    """Every env and header value of `servers`."""
    return {value for server in servers for value in (*server.env.values(), *server.headers.values()) if value}


def hide_values(text: str, values: Iterable[str]) -> str:
    """`text` with every one of `values` replaced, as written raw or JSON-escaped."""
    spellings = {spelling for value in values if value for spelling in (value, json.dumps(value)[1:-1])}
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, HIDDEN)
    return text


def _servers_in(adapter: ClientAdapter, location: ConfigLocation, *paths: pathlib.Path | None) -> list[ServerEntry]:
    found: list[ServerEntry] = []
    for path in paths:
        if path is None:
            continue
        try:
            found.extend(adapter.read(dataclasses.replace(location, path=path)))
        except ClientConfigError:
            continue  # what cannot be read here is not shown by the diff either
    return found


def preview_wrap(adapter: ClientAdapter, location: ConfigLocation, proxy: ProxyCommand) -> str:
    """The diff `wrap` would make to the file (raises what `wrap` would raise)."""
    result = adapter.wrap(location, proxy, dry_run=True)
    return hide_values(
        text_diff(_text(result.before), _text(result.after), location.path), secret_values(result.servers)
    )


def preview_restore(adapter: ClientAdapter, location: ConfigLocation, *, force: bool) -> str:
    """The diff `restore` would make to the file (raises what `restore` would raise)."""
    result = adapter.restore(location, force=force, dry_run=True)
    servers = _servers_in(adapter, location, location.path, result.restored_from)
    return hide_values(text_diff(_text(result.before), _text(result.after), location.path), secret_values(servers))
