"""Ending a recorded upstream process group that its proxy can no longer end itself.

Used by `reap` and by a registry taking over the state file of a proxy that died. Every
upstream is started as the leader of its own session, so its process group ID is its PID.
A group is only signalled while it is provably the recorded one: its leader, if still
there, has the recorded start time; if the leader is gone, POSIX does not hand the group's
number to anyone else while any member lives, so the members left are the recorded group's.
"""

from __future__ import annotations

import enum
import os
import signal
import sys
import time
from dataclasses import dataclass

from ._proc_identity import START_TIME_TOLERANCE, group_members, process_info, signal_group

__all__ = ["GroupOutcome", "GroupRecord", "end_group"]

_POLL = 0.02


@dataclass(frozen=True)
class GroupRecord:
    """One upstream process group as written in a state file."""

    name: str
    pid: int
    pgid: int
    argv0: str
    start_time: float

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pid": self.pid,
            "pgid": self.pgid,
            "argv0": self.argv0,
            "start_time": self.start_time,
        }

    @classmethod
    def from_json(cls, data: object) -> GroupRecord | None:
        if not isinstance(data, dict):
            return None
        try:
            record = cls(
                name=str(data["name"]),
                pid=int(data["pid"]),
                pgid=int(data["pgid"]),
                argv0=str(data.get("argv0", "")),
                start_time=float(data["start_time"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return record if record.pid > 1 and record.pgid > 1 else None


class GroupOutcome(enum.Enum):
    GONE = "gone"  # nothing of the group was left
    TERMINATED = "terminated"  # it ended after SIGTERM
    KILLED = "killed"  # it needed SIGKILL
    SURVIVED = "survived"  # still there after SIGKILL (another user's, or stuck in the kernel)
    REUSED = "reused"  # the number now names another process: left alone


def end_group(record: GroupRecord, *, grace: float = 2.0) -> GroupOutcome:
    """SIGTERM the recorded group, SIGKILL what is left after `grace` seconds; never a stranger."""
    if not _is_signallable(record.pgid):
        return GroupOutcome.REUSED
    leader = process_info(record.pid)
    if leader is not None and not abs(leader.start_time - record.start_time) <= START_TIME_TOLERANCE:
        return GroupOutcome.REUSED
    if not _members(record, leader_alive=leader is not None):
        return GroupOutcome.GONE
    signal_group(record.pgid, signal.SIGTERM)
    if _wait_gone(record, grace):
        return GroupOutcome.TERMINATED
    signal_group(record.pgid, signal.SIGKILL)
    if _wait_gone(record, max(grace, 1.0)):
        return GroupOutcome.KILLED
    return GroupOutcome.SURVIVED


def _is_signallable(pgid: int) -> bool:
    if pgid <= 1:
        return False
    if sys.platform == "win32":
        return pgid != os.getpid()
    return pgid not in (os.getpgrp(), os.getpid())


def _members(record: GroupRecord, *, leader_alive: bool) -> list[int]:
    if sys.platform == "win32":
        return [record.pid] if leader_alive else []
    return group_members(record.pgid)


def _wait_gone(record: GroupRecord, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        leader = process_info(record.pid)
        if not _members(record, leader_alive=leader is not None):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
