"""Noticing changes to config files while the proxy runs: a cheap poll, synchronous or async.

A poll costs one `stat` per file; only when size, mtime or inode moved is the file read and
hashed, so a touch without a content change is not reported. There is no thread and no
background task: the caller decides when to poll (`poll()`), or iterates `changes()` inside its
own task group and cancels it, or gives it a deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._dialect import ConfigLocation
from ._errors import ClientConfigError, ClientConfigUsageError
from ._model import DriftReport, ProxyCommand
from ._operations import drift

__all__ = ["ConfigWatcher", "DriftWatcher", "FileChange"]


@dataclass(frozen=True)
class FileChange:
    """A watched file whose content changed, appeared (`existed` False before) or vanished (`exists` False)."""

    path: Path
    existed: bool
    exists: bool


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ino)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ConfigWatcher:
    """Polls a fixed set of files; `poll()` returns what changed since the previous poll."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self._paths = tuple(dict.fromkeys(paths))
        self._stats = {path: _stat_key(path) for path in self._paths}
        self._digests = {path: _digest(path) for path in self._paths}

    @property
    def paths(self) -> tuple[Path, ...]:
        return self._paths

    def poll(self) -> list[FileChange]:
        changes = []
        for path in self._paths:
            stat_key = _stat_key(path)
            if stat_key == self._stats[path]:
                continue
            self._stats[path] = stat_key
            digest = _digest(path) if stat_key is not None else None
            before = self._digests[path]
            if digest != before:
                self._digests[path] = digest
                changes.append(FileChange(path=path, existed=before is not None, exists=digest is not None))
        return changes

    async def changes(
        self,
        *,
        interval: float = 1.0,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> AsyncIterator[list[FileChange]]:
        """Yield each non-empty batch of changes; stop at `deadline` (a `clock()` value) if given."""
        if interval <= 0:
            raise ClientConfigUsageError("the poll interval must be positive")
        while True:
            found = self.poll()
            if found:
                yield found
            if deadline is not None:
                remaining = deadline - clock()
                if remaining <= 0:
                    return
                await asyncio.sleep(min(interval, remaining))
            else:
                await asyncio.sleep(interval)


class DriftWatcher:
    """Re-checks the drift of each wrapped location whenever its file changes.

    `check()` polls once and returns the reports of the changed files (an unreadable file is
    reported through `on_error` and skipped); `reports()` does the same on a schedule.
    """

    def __init__(
        self,
        locations: Sequence[ConfigLocation],
        proxy: ProxyCommand | None = None,
        *,
        on_error: Callable[[ClientConfigError], None] | None = None,
    ) -> None:
        self._locations = {location.path: location for location in locations}
        self._proxy = proxy
        self._on_error = on_error
        self._watcher = ConfigWatcher(self._locations)

    def check_all(self) -> list[DriftReport]:
        """The drift of every location now, whether or not it changed."""
        return [report for location in self._locations.values() if (report := self._report(location)) is not None]

    def check(self) -> list[DriftReport]:
        changed = self._watcher.poll()
        reports = [self._report(self._locations[change.path]) for change in changed]
        return [report for report in reports if report is not None]

    def _report(self, location: ConfigLocation) -> DriftReport | None:
        try:
            return drift(location, self._proxy)
        except ClientConfigError as error:
            if self._on_error is not None:
                self._on_error(error)
            return None

    async def reports(
        self, *, interval: float = 1.0, deadline: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> AsyncIterator[DriftReport]:
        """Yield a report for each change of a watched file, drift or not, until `deadline` if given."""
        async for batch in self._watcher.changes(interval=interval, deadline=deadline, clock=clock):
            for change in batch:
                report = self._report(self._locations[change.path])
                if report is not None:
                    yield report
