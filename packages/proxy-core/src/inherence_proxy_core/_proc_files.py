"""Files of the process discipline in the proxy's home folder: names, the folder, atomic writes."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from ._proc_errors import ProcessUsageError

__all__ = [
    "DEFAULT_CLIENT",
    "LEGACY_PID_FILE",
    "atomic_write",
    "check_client_name",
    "ensure_home",
    "lock_path",
    "state_path",
]

# The client whose lock the single 0.1.x `proxy.pid` stands for.
DEFAULT_CLIENT = "default"
LEGACY_PID_FILE = "proxy.pid"
LOCK_PREFIX, LOCK_SUFFIX = "proxy-", ".pid"
STATE_PREFIX, STATE_SUFFIX = "upstreams-", ".json"

_CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_client_name(client: str) -> str:
    """Return `client` if it is safe inside a file name, else raise `ProcessUsageError`."""
    if not _CLIENT_NAME.fullmatch(client) or ".." in client:
        raise ProcessUsageError(
            f"client name {client!r} must be 1-64 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return client


def lock_path(home: Path, client: str) -> Path:
    return home / f"{LOCK_PREFIX}{check_client_name(client)}{LOCK_SUFFIX}"


def state_path(home: Path, client: str) -> Path:
    return home / f"{STATE_PREFIX}{check_client_name(client)}{STATE_SUFFIX}"


def client_of_lock(path: Path) -> str | None:
    """The client a lock file name stands for, or None if the name is not a lock file's."""
    name = path.name
    if name == LEGACY_PID_FILE:
        return DEFAULT_CLIENT
    if name.startswith(LOCK_PREFIX) and name.endswith(LOCK_SUFFIX):
        client = name[len(LOCK_PREFIX) : -len(LOCK_SUFFIX)]
        return client if _CLIENT_NAME.fullmatch(client) else None
    return None


def ensure_home(home: Path) -> Path:
    """Create the home folder (mode 0700) if it is missing; an existing folder keeps its mode."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` so a reader sees the old bytes or the new, never a mix.

    Temp file in the same folder, fsync, rename, then fsync of the folder where the OS allows it.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
