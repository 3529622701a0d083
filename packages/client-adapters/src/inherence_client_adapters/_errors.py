"""Errors raised while finding, reading, rewriting and restoring MCP client config files.

    ClientConfigError                 root: catch this to handle every failure of this package
    ├── ClientConfigUsageError        the caller's mistake (relative proxy path, unknown client); a ValueError
    └── ConfigFileError               a config file could not be read, rewritten or restored; nothing was written
        ├── ConfigAccessError         the operating system refused (permission, missing file, not a file)
        ├── ConfigTooLargeError       the file is larger than the size limit
        ├── MalformedConfigError      the file does not parse: `line` and `column` say where (1-based)
        ├── UnexpectedStructureError  it parses, but the servers section or an entry has a shape we do not know
        ├── LosslessRewriteError      a rewrite would lose or change something outside the servers section
        ├── ConcurrentChangeError     the file changed between our read and our write (the client rewrote it)
        ├── ConfigLockedError         another writer holds the lock beside the file
        └── BackupError               the way back is missing or unsafe
            ├── PoisonedBackupError   the oldest backup already holds the proxy entry: the original is lost
            ├── NoPristineBackupError there is no backup without the proxy entry to restore from
            └── RestoreWouldLoseChangesError  the wrapped file was edited after wrapping; `lost` lists what

Every error about a file carries `path` (the file the user knows, before following symlinks).
Messages never include the values of server entries, which often hold secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "BackupError",
    "ClientConfigError",
    "ClientConfigUsageError",
    "ConcurrentChangeError",
    "ConfigAccessError",
    "ConfigFileError",
    "ConfigLockedError",
    "ConfigTooLargeError",
    "LosslessRewriteError",
    "MalformedConfigError",
    "NoPristineBackupError",
    "PoisonedBackupError",
    "RestoreWouldLoseChangesError",
    "UnexpectedStructureError",
]


class ClientConfigError(Exception):
    """Root of every error this package raises."""


class ClientConfigUsageError(ClientConfigError, ValueError):
    """The caller passed something this package cannot use; no file was touched."""


class ConfigFileError(ClientConfigError):
    """A config file could not be read, rewritten or restored. Nothing was written to it."""

    def __init__(self, detail: str, *, path: Path) -> None:
        self.detail = detail
        self.path = path
        super().__init__(f"{path}: {detail}")


class ConfigAccessError(ConfigFileError):
    """The operating system refused to read or write the file (`errno` when it said why)."""

    def __init__(self, detail: str, *, path: Path, errno: int | None = None) -> None:
        self.errno = errno
        super().__init__(detail, path=path)


class ConfigTooLargeError(ConfigFileError):
    """The file is larger than `limit` bytes; a client config never is, so we do not read it."""

    def __init__(self, *, path: Path, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"file is {size} bytes, more than the limit of {limit} bytes", path=path)


class MalformedConfigError(ConfigFileError):
    """The file does not parse. `line` and `column` are 1-based."""

    def __init__(self, detail: str, *, path: Path, line: int, column: int) -> None:
        self.line = line
        self.column = column
        self.reason = detail
        super().__init__(f"line {line}, column {column}: {detail}", path=path)


class UnexpectedStructureError(ConfigFileError):
    """The file parses, but a part we must understand has a shape we do not know (`where` names it)."""

    def __init__(self, detail: str, *, path: Path, where: str) -> None:
        self.where = where
        super().__init__(f"{where}: {detail}", path=path)


class LosslessRewriteError(ConfigFileError):
    """The file cannot be rewritten without losing or changing something outside the servers section."""


class ConcurrentChangeError(ConfigFileError):
    """The file changed on disk after we read it; we stopped instead of overwriting the other writer."""


class ConfigLockedError(ConfigFileError):
    """Another process holds the lock beside the file for longer than we were willing to wait."""


class BackupError(ConfigFileError):
    """The backups beside the file do not give a safe way back."""


class PoisonedBackupError(BackupError):
    """The oldest backup already holds the proxy entry: the original config is lost, so we stop."""

    def __init__(self, detail: str, *, path: Path, backup: Path | None) -> None:
        self.backup = backup
        super().__init__(detail, path=path)


class NoPristineBackupError(BackupError):
    """No backup without the proxy entry exists beside the file, so there is nothing to restore."""


class RestoreWouldLoseChangesError(BackupError):
    """The wrapped file was edited after wrapping; restoring would lose `lost`. Pass `force=True` to go on."""

    def __init__(self, *, path: Path, lost: Sequence[str]) -> None:
        self.lost = tuple(lost)
        listed = "; ".join(self.lost)
        super().__init__(f"edited after wrapping, restore would lose: {listed}", path=path)
