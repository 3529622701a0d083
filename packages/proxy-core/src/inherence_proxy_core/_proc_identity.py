"""Who a process is: boot time, start time, process group, liveness.

A PID alone does not name a process: numbers are reused, within a boot and across boots.
Everything that decides whether a recorded process is still "ours" (the per-client lock,
the state file of upstream groups, `reap`) goes through here and compares the OS boot time
and the process start time as well as the number.

psutil supplies these facts on Linux (from /proc), macOS (sysctl kern.boottime) and
Windows (GetTickCount64), so every platform is asked the same questions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import dataclass

import psutil

__all__ = [
    "BOOT_TIME_TOLERANCE",
    "START_TIME_TOLERANCE",
    "ProcessInfo",
    "boot_time",
    "group_exists",
    "group_members",
    "is_alive",
    "is_same_boot",
    "is_same_process",
    "process_info",
    "signal_group",
]

# The OS reports boot time as "now minus uptime", so it moves when the wall clock is stepped
# (NTP after resume, Windows clock sync). Two readings closer than this are the same boot; a
# reboot, counting the previous uptime, always takes longer.
BOOT_TIME_TOLERANCE = 5.0

# Start times are derived the same way; a PID reused within a second is beyond what a machine does
# outside a fork bomb, and the argv check in `reap` catches what this would miss.
START_TIME_TOLERANCE = 1.0


@dataclass(frozen=True)
class ProcessInfo:
    """What the OS says about one live (not zombie) process."""

    pid: int
    start_time: float
    pgid: int | None
    argv0: str | None


def boot_time() -> float:
    """The OS boot time in seconds since the epoch."""
    return float(psutil.boot_time())


def is_same_boot(recorded: float, current: float | None = None) -> bool:
    """True when a recorded boot time is this boot's (within `BOOT_TIME_TOLERANCE`)."""
    now = boot_time() if current is None else current
    return abs(recorded - now) <= BOOT_TIME_TOLERANCE


def process_info(pid: int) -> ProcessInfo | None:
    """Facts about a live process, or None when there is none (or only its zombie) with that PID."""
    if pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            start = float(proc.create_time())
            argv0: str | None
            try:
                cmdline = proc.cmdline()
                argv0 = str(cmdline[0]) if cmdline else str(proc.name())
            except (psutil.AccessDenied, psutil.ZombieProcess):
                argv0 = None
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        # It exists but belongs to someone else: alive, identity unknown.
        return ProcessInfo(pid=pid, start_time=float("nan"), pgid=_pgid(pid), argv0=None)
    return ProcessInfo(pid=pid, start_time=start, pgid=_pgid(pid), argv0=argv0)


def is_alive(pid: int) -> bool:
    """True when a non-zombie process with this PID exists now."""
    return process_info(pid) is not None


def is_same_process(pid: int, start_time: float) -> bool:
    """True when `pid` is still the process that started at `start_time` (not a reuse of the number)."""
    info = process_info(pid)
    return info is not None and abs(info.start_time - start_time) <= START_TIME_TOLERANCE


def _pgid(pid: int) -> int | None:
    if sys.platform == "win32":
        return None
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def group_members(pgid: int) -> list[int]:
    """PIDs of the live (non-zombie) processes in process group `pgid`; always empty on Windows."""
    if sys.platform == "win32" or pgid <= 1:
        return []
    members = []
    for pid in psutil.pids():
        if _pgid(pid) != pgid:
            continue
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        members.append(int(pid))
    return members


def group_exists(pgid: int) -> bool:
    """True while process group `pgid` has a live member (zombies awaiting their parent do not count)."""
    if sys.platform == "win32" or pgid <= 1:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return bool(group_members(pgid))


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to every process of group `pgid`; False when the group no longer exists.

    Windows has no process groups that can be signalled: there the tree rooted at `pgid` (the
    leader's PID) is terminated instead, SIGKILL meaning a hard kill.
    """
    if pgid <= 1:
        # Never signal "every process" (-1) or init by accident.
        return False
    if sys.platform == "win32":
        return _signal_tree(pgid, hard=sig != signal.SIGTERM)
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_tree(root: int, *, hard: bool) -> bool:
    try:
        leader = psutil.Process(root)
        tree = [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return False
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            if hard:
                proc.kill()
            else:
                proc.terminate()
    return True
