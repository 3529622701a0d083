"""`reap`: clean up after proxies that died without cleaning up after themselves.

For every client found in the home folder (a lock file or a state file names it), `reap`
takes that client's lock the way a starting proxy would. If a live proxy holds it, that
client is left entirely alone. Otherwise the client's lock file is stale and is removed, and
every upstream process group its state file records is ended (SIGTERM, then SIGKILL after
the grace period) provided it is provably still the recorded group (see `end_group`). The
0.1.x `proxy.pid` is removed when its PID is dead or was recorded in a previous boot.

Every step is reported as a `ReapAction`, in order, so `inherence-proxy reap` can print what
it did and `status` can say what it would do.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ._lock import ClientLock, read_lock_file
from ._proc_errors import ClientLockHeld
from ._proc_files import (
    LEGACY_PID_FILE,
    STATE_PREFIX,
    STATE_SUFFIX,
    atomic_write,
    client_of_lock,
    state_path,
)
from ._proc_groups import GroupOutcome, GroupRecord, end_group
from ._proc_registry import read_state_file

__all__ = ["ReapAction", "ReapKind", "reap"]


class ReapKind(enum.Enum):
    LOCK_REMOVED = "lock_removed"  # a stale lock file (ours or 0.1.x's) was removed
    PROXY_ALIVE = "proxy_alive"  # a live proxy holds this client: nothing of it was touched
    GROUP_TERMINATED = "group_terminated"  # an orphaned upstream group ended after SIGTERM
    GROUP_KILLED = "group_killed"  # it needed SIGKILL
    GROUP_GONE = "group_gone"  # the recorded group had already ended
    GROUP_REUSED = "group_reused"  # its PID now names another process: left alone
    GROUP_SURVIVED = "group_survived"  # still there after SIGKILL; kept in the state file
    STATE_REMOVED = "state_removed"  # a state file with nothing left to end was removed


_OUTCOME_KIND = {
    GroupOutcome.TERMINATED: ReapKind.GROUP_TERMINATED,
    GroupOutcome.KILLED: ReapKind.GROUP_KILLED,
    GroupOutcome.GONE: ReapKind.GROUP_GONE,
    GroupOutcome.REUSED: ReapKind.GROUP_REUSED,
    GroupOutcome.SURVIVED: ReapKind.GROUP_SURVIVED,
}


@dataclass(frozen=True)
class ReapAction:
    """One thing `reap` did (or found alive and left alone)."""

    kind: ReapKind
    path: Path
    client: str | None
    pid: int | None
    detail: str

    def __str__(self) -> str:
        who = f" pid {self.pid}" if self.pid is not None else ""
        return f"{self.kind.value}:{who} {self.detail} ({self.path.name})"


def reap(home: os.PathLike[str] | str, *, grace: float = 2.0) -> list[ReapAction]:
    """End what dead proxies left behind in `home`; never touch a live proxy's processes.

    Blocking (it waits up to `grace` per orphaned group); call it from a thread in async code.
    """
    home_path = Path(home)
    if not home_path.is_dir():
        return []
    actions = _reap_legacy_pid_file(home_path)
    for client in _clients(home_path):
        actions.extend(_reap_client(home_path, client, grace))
    return actions


def _clients(home: Path) -> list[str]:
    found: set[str] = set()
    for path in home.iterdir():
        if path.name == LEGACY_PID_FILE:
            continue
        client = client_of_lock(path)
        if client is None and path.name.startswith(STATE_PREFIX) and path.name.endswith(STATE_SUFFIX):
            stem = path.name[len(STATE_PREFIX) : -len(STATE_SUFFIX)]
            client = client_of_lock(path.with_name(f"proxy-{stem}.pid"))
        if client is not None:
            found.add(client)
    return sorted(found)


def _reap_legacy_pid_file(home: Path) -> list[ReapAction]:
    path = home / LEGACY_PID_FILE
    if not path.exists():
        return []
    record = read_lock_file(path)
    pid = record.pid if record is not None else None
    if record is not None and record.is_live():
        return [ReapAction(ReapKind.PROXY_ALIVE, path, None, pid, "a 0.1.x proxy is running")]
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    why = "unreadable" if record is None else "its process is gone or from a previous boot"
    return [ReapAction(ReapKind.LOCK_REMOVED, path, None, pid, f"0.1.x lock file removed: {why}")]


def _reap_client(home: Path, client: str, grace: float) -> list[ReapAction]:
    lock = ClientLock(home, client, legacy_client=None)
    existed = lock.path.exists()
    stale = read_lock_file(lock.path)
    try:
        lock._acquire(write_record=False)
    except ClientLockHeld as held:
        return [ReapAction(ReapKind.PROXY_ALIVE, lock.path, client, held.holder_pid, "live proxy left alone")]
    actions: list[ReapAction] = []
    try:
        if existed:
            pid = stale.pid if stale is not None else None
            actions.append(ReapAction(ReapKind.LOCK_REMOVED, lock.path, client, pid, "stale lock file removed"))
        actions.extend(_reap_state_file(state_path(home, client), client, grace))
    finally:
        lock.release()
    return actions


def _reap_state_file(path: Path, client: str, grace: float) -> list[ReapAction]:
    if not path.exists():
        return []
    state = read_state_file(path)
    if state is not None and state.proxy.is_live():
        # A proxy running without the client lock (embedded in another program): not ours to end.
        return [ReapAction(ReapKind.PROXY_ALIVE, path, client, state.proxy.pid, "live proxy left alone")]
    actions: list[ReapAction] = []
    survivors: list[GroupRecord] = []
    for group in state.groups if state is not None else ():
        outcome = end_group(group, grace=grace)
        kind = _OUTCOME_KIND[outcome]
        detail = f"upstream {group.name!r} ({group.argv0}), process group {group.pgid}"
        actions.append(ReapAction(kind, path, client, group.pid, detail))
        if outcome is GroupOutcome.SURVIVED:
            survivors.append(group)
    if survivors and state is not None:
        _keep_only(path, survivors)
        return actions
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    proxy_pid = state.proxy.pid if state is not None else None
    detail = "state file removed" if state is not None else "unreadable state file removed"
    actions.append(ReapAction(ReapKind.STATE_REMOVED, path, client, proxy_pid, detail))
    return actions


def _keep_only(path: Path, groups: list[GroupRecord]) -> None:
    data = json.loads(path.read_bytes())
    data["groups"] = [g.to_json() for g in groups]
    atomic_write(path, json.dumps(data, indent=1).encode("utf-8"))
