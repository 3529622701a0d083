"""Reading and writing user files safely: size limit, lock beside the file, atomic replace, no overwrite.

A write goes to a temporary file in the same folder (so the rename cannot cross file systems),
is flushed to disk, gets the original's mode and owner, and replaces the real file (the target
of a symlink, never the link) in one rename. Just before the rename the file is read again: if
someone else changed it since we read it, we stop. The folder is flushed after the rename.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._errors import ConcurrentChangeError, ConfigAccessError, ConfigLockedError, ConfigTooLargeError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FileSnapshot",
    "atomic_replace",
    "create_exclusive",
    "file_lock",
    "read_snapshot",
    "remove_stale_temps",
    "resolve_target",
]

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""Larger than any real client config (Claude Code's home file included); a bigger file is refused."""

_TEMP_MARK = ".inherence-tmp-"


@dataclass(frozen=True)
class FileSnapshot:
    """The bytes of a file as we read them, with the facts needed to notice a later change."""

    data: bytes
    mode: int
    uid: int
    gid: int
    digest: str


def resolve_target(path: Path) -> Path:
    """The real file behind `path`, following every symlink."""
    return Path(os.path.realpath(path))


def _access_error(error: OSError, path: Path, doing: str) -> ConfigAccessError:
    reason = error.strerror or type(error).__name__
    return ConfigAccessError(f"cannot {doing}: {reason}", path=path, errno=error.errno)


def read_snapshot(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, shown_as: Path | None = None) -> FileSnapshot:
    """Read a regular file of at most `max_bytes` bytes; every failure names `shown_as` (or `path`)."""
    shown = shown_as or path
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ConfigAccessError("not a regular file", path=shown)
            if info.st_size > max_bytes:
                raise ConfigTooLargeError(path=shown, size=info.st_size, limit=max_bytes)
            data = handle.read(max_bytes + 1)
    except IsADirectoryError as error:
        raise ConfigAccessError("is a folder, not a file", path=shown, errno=error.errno) from None
    except OSError as error:
        raise _access_error(error, shown, "read the file") from None
    if len(data) > max_bytes:
        raise ConfigTooLargeError(path=shown, size=len(data), limit=max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    return FileSnapshot(data=data, mode=stat.S_IMODE(info.st_mode), uid=info.st_uid, gid=info.st_gid, digest=digest)


@contextlib.contextmanager
def file_lock(target: Path, *, timeout: float = 10.0, shown_as: Path | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `.<name>.inherence-lock` beside `target` for a read-modify-write.

    The operating system drops the lock if the holder dies, so a crash never leaves it stuck.
    The lock file is removed on release; a waiter that locked a removed file tries again.
    """
    shown = shown_as or target
    lock_path = target.parent / f".{target.name}.inherence-lock"
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise _access_error(error, shown, "create the lock file beside it") from None
        if _try_lock(fd):
            try:
                same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
        os.close(fd)
        if time.monotonic() >= deadline:
            raise ConfigLockedError(f"another writer holds {lock_path.name} beside it", path=shown)
        time.sleep(0.02)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _write_temp(folder: Path, name: str, data: bytes, *, mode: int, uid: int | None, gid: int | None) -> Path:
    temp = folder / f".{name}{_TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        if uid is not None and gid is not None and hasattr(os, "chown"):
            info = os.stat(temp)
            if (info.st_uid, info.st_gid) != (uid, gid):
                os.chown(temp, uid, gid)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return temp


def _sync_folder(folder: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - folders cannot be opened on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(target: Path) -> None:
    """Remove temporary files a killed writer left beside `target`; call only while holding the lock."""
    for leftover in target.parent.glob(f".{target.name}*{_TEMP_MARK}*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def atomic_replace(
    target: Path, data: bytes, *, like: FileSnapshot, expected_digest: str, max_bytes: int, shown_as: Path
) -> None:
    """Replace `target` with `data` keeping `like`'s mode and owner, unless it no longer has `expected_digest`."""
    try:
        temp = _write_temp(target.parent, target.name, data, mode=like.mode, uid=like.uid, gid=like.gid)
    except OSError as error:
        raise _access_error(error, shown_as, "write beside the file (mode, owner or space)") from None
    try:
        current = read_snapshot(target, max_bytes=max_bytes, shown_as=shown_as)
        if current.digest != expected_digest:
            raise ConcurrentChangeError(
                "the file changed while we were rewriting it; nothing was written", path=shown_as
            )
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):
        _sync_folder(target.parent)


def create_exclusive(path: Path, data: bytes, *, mode: int, shown_as: Path) -> bool:
    """Create `path` holding `data`, complete or not at all; False (and nothing written) if it exists."""
    try:
        temp = _write_temp(path.parent, path.name, data, mode=mode, uid=None, gid=None)
    except OSError as error:
        raise _access_error(error, shown_as, f"write the backup {path.name}") from None
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError as error:
        raise _access_error(error, shown_as, f"create the backup {path.name}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    with contextlib.suppress(OSError):
        _sync_folder(path.parent)
    return True
