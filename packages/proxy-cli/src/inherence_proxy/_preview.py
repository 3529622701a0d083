"""`--dry-run`: the unified diff of every file a command would change, and no change at all.

The adapters' own dry run of `wrap` and `restore` says what they would write (and raises what
the real run would raise, a lost way back included) without touching the file or its backups.
"""

from __future__ import annotations

import difflib
import pathlib

from inherence_client_adapters import ClientAdapter, ConfigLocation, ProxyCommand

__all__ = ["preview_restore", "preview_wrap", "text_diff"]


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


def preview_wrap(adapter: ClientAdapter, location: ConfigLocation, proxy: ProxyCommand) -> str:
    """The diff `wrap` would make to the file (raises what `wrap` would raise)."""
    result = adapter.wrap(location, proxy, dry_run=True)
    return text_diff(_text(result.before), _text(result.after), location.path)


def preview_restore(adapter: ClientAdapter, location: ConfigLocation, *, force: bool) -> str:
    """The diff `restore` would make to the file (raises what `restore` would raise)."""
    result = adapter.restore(location, force=force, dry_run=True)
    return text_diff(_text(result.before), _text(result.after), location.path)
