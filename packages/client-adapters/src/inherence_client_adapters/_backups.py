"""Backups beside the original: `<file name>.bak_inherence.<timestamp>`, never overwritten.

The oldest backup is the pristine one (COMPAT.md). Timestamps are UTC and sort as text; a name
that is taken gets `.2`, `.3` ... appended. Backups written by 0.1.x, whose timestamp may be
spelled differently, are ordered by the time their name gives or, failing that, their mtime.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ._fileio import create_exclusive

__all__ = ["BACKUP_MARK", "Backup", "list_backups", "make_backup"]

BACKUP_MARK = ".bak_inherence."
_STAMP = "%Y%m%dT%H%M%S%fZ"
_KNOWN_STAMPS = (_STAMP, "%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S", "%Y%m%d%H%M%S", "%Y%m%d-%H%M%S", "%Y-%m-%dT%H-%M-%S")
_SEQUENCE = re.compile(r"^(?P<stamp>.+?)(?:\.(?P<n>[0-9]{1,6}))?$")


@dataclass(frozen=True)
class Backup:
    """One backup file and when it was taken."""

    path: Path
    taken: datetime
    sequence: int


def _parse_stamp(stamp: str) -> datetime | None:
    for pattern in _KNOWN_STAMPS:
        try:
            return datetime.strptime(stamp, pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    if stamp.isdigit() and 9 <= len(stamp) <= 11:
        return datetime.fromtimestamp(int(stamp), tz=timezone.utc)
    return None


def _describe(candidate: Path, prefix: str) -> Backup | None:
    suffix = candidate.name[len(prefix) :]
    match = _SEQUENCE.match(suffix)
    if not match or not candidate.is_file():
        return None
    taken = _parse_stamp(match.group("stamp"))
    sequence = int(match.group("n") or 1)
    if taken is None:
        taken = _parse_stamp(suffix)
        sequence = 1
    if taken is None:
        try:
            taken = datetime.fromtimestamp(candidate.stat().st_mtime, tz=timezone.utc)
        except OSError:
            return None
    return Backup(path=candidate, taken=taken, sequence=sequence)


def list_backups(original: Path) -> list[Backup]:
    """Every backup beside `original`, oldest first."""
    prefix = original.name + BACKUP_MARK
    try:
        names = [entry.name for entry in os.scandir(original.parent) if entry.name.startswith(prefix)]
    except OSError:
        return []
    found = [_describe(original.parent / name, prefix) for name in names]
    backups = [backup for backup in found if backup is not None and ".inherence-tmp-" not in backup.path.name]
    return sorted(backups, key=lambda backup: (backup.taken, backup.sequence, backup.path.name))


BACKUP_MODE = 0o600


def make_backup(original: Path, data: bytes, *, now: Callable[[], datetime]) -> Path:
    """Write `data` as a new backup of `original`; an existing backup is never replaced.

    Mode 0600 whatever the original's: a client config holds its servers' env secrets, and a
    world-readable config is no reason for its copies to stay readable. Restoring writes the bytes
    back into the config file, which keeps its own mode.
    """
    stamp = now().astimezone(timezone.utc).strftime(_STAMP)
    base = original.parent / f"{original.name}{BACKUP_MARK}{stamp}"
    candidate = base
    sequence = 1
    while not create_exclusive(candidate, data, mode=BACKUP_MODE, shown_as=original):
        sequence += 1
        candidate = base.with_name(f"{base.name}.{sequence}")
    return candidate
