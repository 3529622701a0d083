"""One live proxy per client: `proxy-<client>.pid` in the proxy's home folder.

The file holds two lines, the holder's PID and the OS boot time (the format of 0.1.x's
single `proxy.pid`). The holder keeps an OS file lock on it (`flock` on POSIX, `msvcrt.locking`
on Windows) for its whole life; the OS drops that lock when the holder dies however it dies,
so a lock that can be taken is stale by definition, and two proxies racing for one client
cannot both win. The file's contents serve the humans, `status` and the 0.1.x file, which has
no OS lock: there a PID that is dead, or alive but recorded in a previous boot, is stale.

Clients are independent: Claude Desktop and Cursor each hold their own lock at once. The
0.1.x `proxy.pid` counts as the lock of one client (`DEFAULT_CLIENT` unless told otherwise),
so a 0.1.x proxy still running after an upgrade is not doubled.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ._proc_errors import ClientLockError, ClientLockHeld
from ._proc_files import DEFAULT_CLIENT, LEGACY_PID_FILE, check_client_name, ensure_home, lock_path
from ._proc_identity import boot_time, is_alive, is_same_boot

__all__ = ["ClientLock", "LockRecord", "lock_holder", "read_lock_file"]

# A lock that cannot be taken while its file names no live holder is being written or removed
# right now by another proxy or by `reap` (which may spend a few grace periods ending orphaned
# upstreams meanwhile); look again for this long before calling it held.
_SETTLE_SECONDS = 15.0
_SETTLE_STEP = 0.02
# Windows locks are mandatory: lock one byte far past the text so readers can still read it.
_WINDOWS_LOCK_OFFSET = 0x7FFFFFFF


@dataclass(frozen=True)
class LockRecord:
    """What a lock file says: the holder's PID and the boot it was written in (None if unrecorded)."""

    pid: int
    boot_time: float | None

    def is_live(self) -> bool:
        """True when the recorded process may still be the holder: alive, and in this boot."""
        if self.boot_time is not None and not is_same_boot(self.boot_time):
            return False
        return is_alive(self.pid)


def read_lock_file(path: Path) -> LockRecord | None:
    """Parse a lock file (ours or 0.1.x's); None when it is missing, empty or unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    lines = text.splitlines()
    try:
        pid = int(lines[0].strip())
    except (IndexError, ValueError):
        return None
    boot: float | None
    try:
        boot = float(lines[1].strip())
    except (IndexError, ValueError):
        boot = None
    return LockRecord(pid=pid, boot_time=boot) if pid > 0 else None


def lock_holder(home: os.PathLike[str] | str, client: str, *, legacy_client: str = DEFAULT_CLIENT) -> int | None:
    """PID of the live proxy serving `client`, or None. For `status`; takes no lock."""
    home_path = Path(home)
    candidates = [lock_path(home_path, client)]
    if client == legacy_client:
        candidates.append(home_path / LEGACY_PID_FILE)
    for path in candidates:
        record = read_lock_file(path)
        if record is not None and record.is_live():
            return record.pid
    return None


class ClientLock:
    """The lock that makes this process the one proxy of `client`; use as a context manager.

    `acquire()` raises `ClientLockHeld` (with `holder_pid`) when another live proxy serves the
    client, and takes over a stale lock silently. The lock file is removed on `release()`.
    """

    def __init__(
        self,
        home: os.PathLike[str] | str,
        client: str = DEFAULT_CLIENT,
        *,
        legacy_client: str | None = DEFAULT_CLIENT,
    ) -> None:
        self.home = Path(home)
        self.client = check_client_name(client)
        self.path = lock_path(self.home, client)
        self._legacy_path = self.home / LEGACY_PID_FILE if client == legacy_client else None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> ClientLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise `ClientLockHeld`; a stale lock (dead holder, other boot) is taken over."""
        self._acquire(write_record=True)

    def _acquire(self, *, write_record: bool) -> None:
        # `reap` takes a client's lock without writing its own record: a proxy starting meanwhile
        # then sees a lock it cannot take whose record names no live process, and waits.
        if self._fd is not None:
            raise self._error(f"the lock of client {self.client!r} is already held here")
        ensure_home(self.home)
        deadline = time.monotonic() + _SETTLE_SECONDS
        while True:
            self._refuse_live_legacy_holder()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise self._error(f"cannot open lock file {self.path}: {exc}") from exc
            if not _try_lock(fd):
                os.close(fd)
                record = read_lock_file(self.path)
                if (record is None or not record.is_live()) and time.monotonic() < deadline:
                    time.sleep(_SETTLE_STEP)
                    continue
                raise ClientLockHeld(client=self.client, path=self.path, holder_pid=record.pid if record else None)
            if not _is_current_file(fd, self.path):
                # The stale file we locked was removed (by its reaper) after we opened it; start over.
                os.close(fd)
                continue
            try:
                if write_record:
                    _write_record(fd)
            except OSError as exc:
                os.close(fd)
                raise self._error(f"cannot write lock file {self.path}: {exc}") from exc
            self._fd = fd
            return

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if sys.platform == "win32":
            # Windows cannot remove an open file: close, then remove unless a successor took it.
            os.close(fd)
            with contextlib.suppress(OSError):
                record = read_lock_file(self.path)
                if record is None or record.pid == os.getpid():
                    self.path.unlink()
            return
        try:
            if _is_current_file(fd, self.path):
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
        finally:
            os.close(fd)

    def _error(self, message: str) -> ClientLockError:
        return ClientLockError(message, client=self.client, path=self.path)

    def _refuse_live_legacy_holder(self) -> None:
        if self._legacy_path is None:
            return
        record = read_lock_file(self._legacy_path)
        if record is None or record.pid == os.getpid():
            return
        if record.is_live():
            raise ClientLockHeld(client=self.client, path=self._legacy_path, holder_pid=record.pid)
        with contextlib.suppress(FileNotFoundError):
            self._legacy_path.unlink()


def _write_record(fd: int) -> None:
    data = f"{os.getpid()}\n{round(boot_time())}\n".encode("ascii")
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.fsync(fd)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)


def _is_current_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def try_lock_file(path: Path) -> int | None:
    """Open and lock `path` without waiting; the fd if this caller now holds it, else None."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    if _try_lock(fd) and _is_current_file(fd, path):
        return fd
    os.close(fd)
    return None


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True
