"""Wrap, restore, drift and read for one config file, under the lock beside it.

Pristine backup: the oldest backup must not hold the proxy entry (else the original is lost and
we stop, COMPAT.md). Restore uses the newest backup without the proxy entry, which is the oldest
backup of the current wrapping: the state of the file just before it was first wrapped, even
when it was wrapped again later to clear drift.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._backups import Backup, list_backups, make_backup
from ._dialect import ConfigLocation, is_proxy_entry
from ._errors import ClientConfigError, NoPristineBackupError, PoisonedBackupError, RestoreWouldLoseChangesError
from ._fileio import (
    DEFAULT_MAX_BYTES,
    FileSnapshot,
    atomic_replace,
    file_lock,
    read_snapshot,
    remove_stale_temps,
    resolve_target,
)
from ._model import DriftReport, ProxyCommand, RestoreResult, ServerEntry, WrapResult
from ._rewrite import LoadedConfig, describe_differences, load_config, without_sections, wrapped_text

__all__ = ["Clock", "drift", "read_servers", "restore", "wrap"]

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _load(location: ConfigLocation, *, max_bytes: int) -> LoadedConfig:
    target = resolve_target(location.path)
    return load_config(location, read_snapshot(target, max_bytes=max_bytes, shown_as=location.path))


def _exclusive(
    target: Path, location: ConfigLocation, *, dry_run: bool, timeout: float
) -> AbstractContextManager[None]:
    """The lock for a read-modify-write; a dry run takes none, as it writes nothing (not even the lock file)."""
    if dry_run:
        return contextlib.nullcontext()
    return file_lock(target, timeout=timeout, shown_as=location.path)


def read_servers(location: ConfigLocation, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[ServerEntry]:
    """The servers the file defines (the proxy's own entry left out), in file order."""
    return _load(location, max_bytes=max_bytes).servers()


def _holds_proxy(location: ConfigLocation, backup: Backup, *, max_bytes: int) -> bool:
    loaded = load_config(location, read_snapshot(backup.path, max_bytes=max_bytes))
    return bool(loaded.proxy_entries())


def wrap(
    location: ConfigLocation,
    proxy: ProxyCommand,
    *,
    now: Clock = _utc_now,
    max_bytes: int = DEFAULT_MAX_BYTES,
    lock_timeout: float = 10.0,
    dry_run: bool = False,
) -> WrapResult:
    """Back the file up and rewrite it so that its only server is the proxy entry.

    Returns the servers that were in the file, for the proxy's own config, and the file's bytes
    before and after. Wrapping a file that is already wrapped changes nothing and makes no backup.
    A dry run checks and computes the same, raises the same errors, and touches no file.
    """
    target = resolve_target(location.path)
    with _exclusive(target, location, dry_run=dry_run, timeout=lock_timeout):
        if not dry_run:
            remove_stale_temps(target)
        loaded = load_config(location, read_snapshot(target, max_bytes=max_bytes, shown_as=location.path))
        servers = tuple(loaded.servers())
        new_text = wrapped_text(loaded, location.dialect.proxy_entry(proxy, location.client))
        backups = list_backups(location.path)
        if backups and _holds_proxy(location, backups[0], max_bytes=max_bytes):
            raise PoisonedBackupError(
                "the oldest backup already holds the proxy entry, so the original config is lost; "
                "restore it by hand from another copy before wrapping",
                path=location.path,
                backup=backups[0].path,
            )
        if loaded.proxy_entries() and not backups:
            raise PoisonedBackupError(
                "the file already holds the proxy entry and has no backup beside it; the original config is lost",
                path=location.path,
                backup=None,
            )
        snapshot = loaded.snapshot
        if new_text == loaded.text:
            return WrapResult(location.path, servers, None, changed=False, before=snapshot.data, after=snapshot.data)
        after = new_text.encode("utf-8")
        if dry_run:
            return WrapResult(location.path, servers, None, changed=True, before=snapshot.data, after=after)
        backup = make_backup(location.path, snapshot.data, now=now)
        atomic_replace(
            target,
            after,
            like=snapshot,
            expected_digest=snapshot.digest,
            max_bytes=max_bytes,
            shown_as=location.path,
        )
        return WrapResult(location.path, servers, backup, changed=True, before=snapshot.data, after=after)


def _pristine(location: ConfigLocation, backups: list[Backup], *, max_bytes: int) -> Backup:
    if not backups:
        raise NoPristineBackupError("no backup beside it, so there is nothing to restore", path=location.path)
    for backup in reversed(backups):
        try:
            if not _holds_proxy(location, backup, max_bytes=max_bytes):
                return backup
        except ClientConfigError:
            continue
    raise NoPristineBackupError("every backup beside it already holds the proxy entry", path=location.path)


def _edits_since_wrap(location: ConfigLocation, current: bytes, newest: Backup, *, max_bytes: int) -> list[str]:
    """What the wrapped file holds that wrapping did not put there; empty when it is as we wrote it."""
    try:
        wrapped = load_config(location, read_snapshot(newest.path, max_bytes=max_bytes))
        now = load_config(location, _in_memory(current))
    except ClientConfigError:
        return ["the current file as a whole: it no longer reads as a config file"]
    proxies = now.proxy_entries()
    if proxies or not any(section.holds_proxy for section in wrapped.sections):
        expected = wrapped_text(wrapped, proxies[0] if proxies else {})
        if expected == now.text:
            return []
    else:
        expected = wrapped.text
    lost = [f"server {entry.name!r} ({entry.scope}) added after wrapping" for entry in now.servers()]
    expected_plain = _strip_sections(load_config(location, _in_memory(expected.encode("utf-8"))))
    lost.extend(describe_differences(expected_plain, _strip_sections(now)))
    return lost or ["formatting or comments changed after wrapping"]


def _in_memory(data: bytes) -> FileSnapshot:
    return FileSnapshot(data=data, mode=0, uid=0, gid=0, digest="")


def _strip_sections(loaded: LoadedConfig) -> Any:
    return without_sections(loaded.parsed.plain, [section.path for section in loaded.sections])


def restore(
    location: ConfigLocation,
    *,
    force: bool = False,
    now: Clock = _utc_now,
    max_bytes: int = DEFAULT_MAX_BYTES,
    lock_timeout: float = 10.0,
    dry_run: bool = False,
) -> RestoreResult:
    """Put the pristine backup's bytes back.

    If the file was edited after wrapping, raise `RestoreWouldLoseChangesError` listing what
    would be lost, unless `force`: then the edited file is saved as one more backup first.
    A dry run checks and computes the same, raises the same errors, and touches no file.
    """
    target = resolve_target(location.path)
    with _exclusive(target, location, dry_run=dry_run, timeout=lock_timeout):
        if not dry_run:
            remove_stale_temps(target)
        current = read_snapshot(target, max_bytes=max_bytes, shown_as=location.path)
        backups = list_backups(location.path)
        pristine = _pristine(location, backups, max_bytes=max_bytes)
        original = read_snapshot(pristine.path, max_bytes=max_bytes).data
        before = current.data
        if current.data == original:
            return RestoreResult(location.path, pristine.path, changed=False, before=before, after=before)
        lost = tuple(_edits_since_wrap(location, current.data, backups[-1], max_bytes=max_bytes))
        if lost and not force:
            raise RestoreWouldLoseChangesError(path=location.path, lost=lost)
        if dry_run:
            return RestoreResult(location.path, pristine.path, changed=True, lost=lost, before=before, after=original)
        saved = make_backup(location.path, current.data, now=now) if lost else None
        atomic_replace(
            target, original, like=current, expected_digest=current.digest, max_bytes=max_bytes, shown_as=location.path
        )
        return RestoreResult(
            location.path, pristine.path, changed=True, lost=lost, saved=saved, before=before, after=original
        )


def drift(
    location: ConfigLocation,
    proxy: ProxyCommand | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    exists: Callable[[str], bool] = os.path.exists,
) -> DriftReport:
    """How the file differs from "the proxy entry and nothing else"."""
    loaded = _load(location, max_bytes=max_bytes)
    bypassing = tuple(entry.name for entry in loaded.servers())
    proxies = [
        loaded.decode(section, name, raw)
        for section, name, raw in loaded.raw_entries()
        if section.holds_proxy and is_proxy_entry(name, raw)
    ]
    wants_proxy = any(section.holds_proxy for section in loaded.sections)
    if not proxies:
        return DriftReport(path=location.path, bypassing=bypassing, proxy_missing=wants_proxy, proxy_arguments=None)
    entry = proxies[0]
    executable_missing = entry.command is None or not exists(entry.command)
    unexpected = proxy is not None and list(entry.args) != proxy.arguments(location.client)
    return DriftReport(
        path=location.path,
        bypassing=bypassing,
        proxy_executable_missing=executable_missing,
        proxy_arguments_unexpected=unexpected,
        proxy_arguments=tuple(entry.args),
    )
