"""Writing the proxy's own files: whole or not at all, private to this user."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile

__all__ = ["write_private_file"]


def write_private_file(path: pathlib.Path, text: str) -> None:
    """Replace `path` with `text` atomically (temp file in the same folder, fsync, rename), mode 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
