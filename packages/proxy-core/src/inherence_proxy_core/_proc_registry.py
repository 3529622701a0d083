"""The state file of one client's upstream process groups: `upstreams-<client>.json`.

Every live upstream group of a proxy is written here (the proxy's PID, boot time and start
time; each upstream's name, PID, PGID, argv[0] and start time) so that if the proxy dies
without ending them (SIGKILL, power cut, a crash of the interpreter), `reap` or the next
proxy of the same client ends them. Writes are atomic (temp file, fsync, rename, mode 0600).

One proxy writes one client's file, which the per-client `ClientLock` guarantees: hold it
before `open()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ._proc_errors import RegistryError
from ._proc_files import DEFAULT_CLIENT, atomic_write, check_client_name, ensure_home, state_path
from ._proc_groups import GroupRecord, end_group
from ._proc_identity import boot_time, is_same_boot, is_same_process, process_info

__all__ = ["ProcessRegistry", "ProxyRecord", "StateFile", "read_state_file"]

_FORMAT = 1


@dataclass(frozen=True)
class ProxyRecord:
    """The proxy process that wrote a state file."""

    pid: int
    boot_time: float
    start_time: float

    @classmethod
    def current(cls) -> ProxyRecord:
        me = process_info(os.getpid())
        start = me.start_time if me is not None else 0.0
        return cls(pid=os.getpid(), boot_time=boot_time(), start_time=start)

    def is_live(self) -> bool:
        """True while the recorded proxy is running: same boot, same PID, same start time."""
        return is_same_boot(self.boot_time) and is_same_process(self.pid, self.start_time)


@dataclass(frozen=True)
class StateFile:
    client: str
    proxy: ProxyRecord
    groups: tuple[GroupRecord, ...]


def read_state_file(path: Path) -> StateFile | None:
    """Parse a state file; None when it is missing or not one of ours (a corrupt file names nothing)."""
    try:
        data = json.loads(path.read_bytes())
        proxy = data["proxy"]
        record = ProxyRecord(
            pid=int(proxy["pid"]), boot_time=float(proxy["boot_time"]), start_time=float(proxy["start_time"])
        )
        groups = tuple(g for g in (GroupRecord.from_json(item) for item in data.get("groups", [])) if g is not None)
        return StateFile(client=str(data.get("client", "")), proxy=record, groups=groups)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


class ProcessRegistry:
    """Records this proxy's live upstream groups for one client. Thread-safe; methods do file I/O.

    `open()` ends what a dead predecessor of the same client left running and takes the file
    over; `add()` and `discard()` rewrite it; `close()` removes it when nothing is left running
    (groups still recorded at close stay in the file for `reap`).
    """

    def __init__(self, home: os.PathLike[str] | str, client: str = DEFAULT_CLIENT, *, grace: float = 2.0) -> None:
        self.home = Path(home)
        self.client = check_client_name(client)
        self.path = state_path(self.home, client)
        self.grace = grace
        self._proxy = ProxyRecord.current()
        self._groups: dict[int, GroupRecord] = {}
        self._lock = threading.Lock()
        self._opened = False

    def __enter__(self) -> ProcessRegistry:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def groups(self) -> tuple[GroupRecord, ...]:
        with self._lock:
            return tuple(self._groups.values())

    def open(self) -> list[GroupRecord]:
        """Take the state file over; returns the groups of a dead predecessor that were ended."""
        with self._lock:
            if self._opened:
                return []
            ensure_home(self.home)
            ended: list[GroupRecord] = []
            previous = read_state_file(self.path)
            if previous is not None and previous.proxy.pid != os.getpid():
                if previous.proxy.is_live():
                    raise RegistryError(
                        f"state file {self.path} belongs to the live proxy process {previous.proxy.pid}",
                        path=self.path,
                    )
                for group in previous.groups:
                    end_group(group, grace=self.grace)
                    ended.append(group)
            elif previous is not None:
                self._groups.update({g.pid: g for g in previous.groups})
            self._opened = True
            self._write()
            return ended

    def add(self, record: GroupRecord) -> None:
        if not self._opened:
            self.open()
        with self._lock:
            self._groups[record.pid] = record
            self._write()

    def discard(self, pid: int) -> None:
        with self._lock:
            if self._groups.pop(pid, None) is not None and self._opened:
                self._write()

    def close(self) -> None:
        with self._lock:
            if not self._opened:
                return
            self._opened = False
            if self._groups:
                self._write()
                return
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def _write(self) -> None:
        body = {
            "format": _FORMAT,
            "client": self.client,
            "proxy": {
                "pid": self._proxy.pid,
                "boot_time": self._proxy.boot_time,
                "start_time": self._proxy.start_time,
            },
            "groups": [g.to_json() for g in self._groups.values()],
        }
        try:
            atomic_write(self.path, json.dumps(body, indent=1).encode("utf-8"))
        except OSError as exc:
            raise RegistryError(f"cannot write state file {self.path}: {exc}", path=self.path) from exc
