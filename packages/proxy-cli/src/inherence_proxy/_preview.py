"""`--dry-run`: the unified diff of every file a command would change, and no change at all.

Rewriting a client config is the adapters' job, and they offer no dry run. Rather than predict
their output, the preview runs the real operation on a copy in a temporary folder (the file
and its backups, so a lost way back is refused here as it would be for real) and diffs the
copy before and after. What is shown is exactly what would be written.
"""

from __future__ import annotations

import dataclasses
import difflib
import pathlib
import shutil
import tempfile
from collections.abc import Callable

from inherence_client_adapters import ClientAdapter, ConfigLocation, ProxyCommand, list_backups

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


def _on_copy(location: ConfigLocation, operation: Callable[[ConfigLocation], object]) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix="inherence-preview-") as folder:
        copy = pathlib.Path(folder) / location.path.name
        shutil.copyfile(location.path, copy)
        for backup in list_backups(location.path):
            shutil.copyfile(backup.path, pathlib.Path(folder) / backup.path.name)
        before = copy.read_text(encoding="utf-8", errors="replace")
        operation(dataclasses.replace(location, path=copy))
        after = copy.read_text(encoding="utf-8", errors="replace")
    return before, after


def preview_wrap(adapter: ClientAdapter, location: ConfigLocation, proxy: ProxyCommand) -> str:
    """The diff `wrap` would make to the file (raises what `wrap` would raise)."""
    before, after = _on_copy(location, lambda copy: adapter.wrap(copy, proxy))
    return text_diff(before, after, location.path)


def preview_restore(adapter: ClientAdapter, location: ConfigLocation, *, force: bool) -> str:
    """The diff `restore` would make to the file (raises what `restore` would raise)."""
    before, after = _on_copy(location, lambda copy: adapter.restore(copy, force=force))
    return text_diff(before, after, location.path)
