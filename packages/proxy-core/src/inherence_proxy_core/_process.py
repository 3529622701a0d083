"""Stdio upstream processes that never outlive the proxy unnoticed.

Each upstream starts as the leader of its own session, so it has its own process group
(PGID = PID) and no controlling terminal: a Ctrl-C in the proxy's terminal reaches the proxy,
which then ends every group itself. Ending an upstream means SIGTERM to the whole group and
SIGKILL after a grace period, for the leader and for anything it started.

If the proxy is SIGKILLed it cannot end anything. On Linux the leader then dies with it
(PR_SET_PDEATHSIG, armed by a tiny exec wrapper, `_proc_deathsig.py`); everywhere, every group
is written to the client's state file (`ProcessRegistry`) so that `reap`, or the next proxy
of that client, ends what is left, grandchildren included.

Wiring the proxy's shutdown (for the engine and the CLI)::

    async with anyio.create_task_group() as tg:
        ...  # spawn upstreams with the registry, serve the client
        # SIGTERM, SIGINT, SIGHUP: anyio.open_signal_receiver(...) in a task that cancels the
        # serving scope; stdin EOF from the client ends the serving loop the same way.
    # always, in a `finally:` (also after an uncaught error), shielded from cancellation:
    with anyio.CancelScope(shield=True):
        await terminate_all(upstreams, grace=2.0)
    registry.close()
    lock.release()

Spawn on the event loop thread (asyncio does; trio spawns on worker threads, which end while
the proxy runs, so under trio the death signal is not armed and `reap` is the safety net).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from ._pipes import ChildPipes
from ._proc_env import resolve_command, upstream_environment
from ._proc_errors import ProcessError, UpstreamSpawnError
from ._proc_groups import GroupRecord
from ._proc_identity import group_exists, process_info, signal_group
from ._proc_registry import ProcessRegistry
from ._proc_stderr import StderrRelay, start_stderr_thread

__all__ = ["UpstreamProcess", "spawn_upstream", "terminate_all"]

_log = logging.getLogger("inherence_proxy_core.process")
_DEATHSIG_WRAPPER = Path(__file__).with_name("_proc_deathsig.py")
_POLL = 0.02
_KILL_WAIT = 5.0
_STDERR_JOIN = 1.0
_WINDOWS_NEW_GROUP: int = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)


class UpstreamProcess:
    """A running stdio upstream: its pipes, its process group, and the way to end it."""

    def __init__(
        self,
        *,
        name: str,
        argv: Sequence[str],
        process: _Child,
        record: GroupRecord,
        registry: ProcessRegistry | None,
        stderr_thread: threading.Thread,
    ) -> None:
        self.name = name
        self.argv = tuple(argv)
        self.pid = process.pid
        self.pgid = record.pgid
        self.stdin: anyio.abc.ByteSendStream = process.stdin
        self.stdout: anyio.abc.ByteReceiveStream = process.stdout
        self._process = process
        self._record = record
        self._registry = registry
        self._stderr_thread = stderr_thread
        self._end_lock = anyio.Lock()
        self._ended = False

    def __repr__(self) -> str:
        return f"<UpstreamProcess {self.name!r} pid={self.pid} returncode={self.returncode}>"

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self, grace: float = 2.0) -> int:
        """Wait until the upstream exits; then end what it left in its group. Returns its exit code."""
        code = await self._process.wait()
        await self._end(grace, leader_gone=True)
        return code

    async def terminate(self, grace: float = 2.0) -> None:
        """SIGTERM the whole group, SIGKILL what is left after `grace` seconds. Safe to call again."""
        await self._end(grace, leader_gone=False)

    async def _end(self, grace: float, *, leader_gone: bool) -> None:
        # Shielded as a whole: ending is usually asked for from a scope that is being cancelled,
        # where even taking the lock would raise before a single signal was sent.
        with anyio.CancelScope(shield=True):
            async with self._end_lock:
                if self._ended:
                    return
                await self._end_group(grace, leader_gone=leader_gone)
                await self._release()
                self._ended = True

    async def _end_group(self, grace: float, *, leader_gone: bool) -> None:
        if not leader_gone or group_exists(self.pgid):
            signal_group(self.pgid, signal.SIGTERM)
        deadline = anyio.current_time() + grace
        with anyio.move_on_after(grace):
            await self._process.wait()
        await _wait_group_gone(self.pgid, deadline)
        if self._process.returncode is None or group_exists(self.pgid):
            _log.warning(
                "upstream %s (pid %d) did not end within %.1fs of SIGTERM; killing", self.name, self.pid, grace
            )
            signal_group(self.pgid, signal.SIGKILL)
            if self._process.returncode is None and sys.platform != "win32":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            with anyio.move_on_after(_KILL_WAIT):
                await self._process.wait()
            await _wait_group_gone(self.pgid, anyio.current_time() + _KILL_WAIT)

    async def _release(self) -> None:
        await self._process.release()
        await anyio.to_thread.run_sync(self._stderr_thread.join, _STDERR_JOIN)
        if self._registry is not None and not group_exists(self.pgid):
            await anyio.to_thread.run_sync(self._registry.discard, self.pid)


async def spawn_upstream(
    argv: Sequence[str],
    *,
    name: str,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    registry: ProcessRegistry | None = None,
    stderr_logger: logging.Logger | None = None,
    parent_env: Mapping[str, str] | None = None,
    die_with_parent: bool = True,
) -> UpstreamProcess:
    """Start a stdio upstream in its own process group and record it in `registry`.

    `env` is laid over a base environment taken from `parent_env` (default: this process's);
    the command is looked up on the resulting PATH. Raises `UpstreamCommandNotFound` when it is
    not there, `UpstreamSpawnError` when it cannot be started, `ProcessUsageError` for an
    empty argv. The upstream's stderr goes to `stderr_logger`, bounded, line by line.
    """
    environment = upstream_environment(env, parent=os.environ if parent_env is None else parent_env, upstream=name)
    resolved = resolve_command(argv, name=name, env=environment, cwd=cwd)
    command = resolved
    if die_with_parent and sys.platform.startswith("linux") and _spawns_on_loop_thread():
        command = [sys.executable, "-I", "-S", str(_DEATHSIG_WRAPPER), str(os.getpid()), *resolved]
    read_fd, write_fd = os.pipe()
    try:
        process = await _open_child(command, stderr=write_fd, cwd=cwd, env=environment)
    except OSError as exc:
        os.close(read_fd)
        message = f"upstream {name!r}: cannot start {resolved[0]!r}: {exc}"
        raise UpstreamSpawnError(message, name=name, argv=resolved) from exc
    finally:
        os.close(write_fd)
    relay = StderrRelay(stderr_logger or _log, name)
    thread = start_stderr_thread(read_fd, relay, name=name)
    info = process_info(process.pid)
    record = GroupRecord(
        name=name,
        pid=process.pid,
        pgid=process.pid,
        argv0=resolved[0],
        start_time=info.start_time if info is not None else time.time(),
    )
    upstream = UpstreamProcess(
        name=name, argv=resolved, process=process, record=record, registry=registry, stderr_thread=thread
    )
    if registry is not None:
        try:
            await anyio.to_thread.run_sync(registry.add, record)
        except BaseException:
            # An upstream nobody could find again after a crash of the proxy must not run.
            with anyio.CancelScope(shield=True):
                await upstream.terminate(grace=0.5)
            raise
    _log.debug("upstream %s started: pid %d, argv %r", name, process.pid, resolved)
    return upstream


async def terminate_all(processes: Iterable[UpstreamProcess], grace: float = 2.0) -> None:
    """End every upstream at once (one grace period in all, not one each); never raises for one."""

    async def end(upstream: UpstreamProcess) -> None:
        try:
            await upstream.terminate(grace)
        except Exception:
            _log.exception("upstream %s: error while ending it", upstream.name)

    with anyio.CancelScope(shield=True):
        async with anyio.create_task_group() as tg:
            for upstream in processes:
                tg.start_soon(end, upstream)


async def _wait_group_gone(pgid: int, deadline: float) -> None:
    """Poll until the group has no live member or the deadline passes (no event tells us)."""
    while anyio.current_time() < deadline:
        if not group_exists(pgid):
            return
        await anyio.sleep(_POLL)


class _Child:
    """A started child process and its pipes, however the running event loop started it."""

    def __init__(
        self,
        process: ChildPipes | anyio.abc.Process,
        stdin: anyio.abc.ByteSendStream | None,
        stdout: anyio.abc.ByteReceiveStream | None,
    ) -> None:
        if stdin is None or stdout is None:
            raise ProcessError(f"pid {process.pid} was started without pipes")
        self._process = process
        self.pid = process.pid
        self.stdin = stdin
        self.stdout = stdout

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        return await self._process.wait()

    async def release(self) -> None:
        """Close the pipes and let go of the process; once it has exited."""
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(Exception):
                await stream.aclose()
        if isinstance(self._process, ChildPipes):
            self._process.close()


async def _open_child(
    command: Sequence[str], *, stderr: int, cwd: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> _Child:
    options: dict[str, Any] = {"stderr": stderr, "cwd": cwd, "env": env}
    if sys.platform == "win32":
        options["creationflags"] = _WINDOWS_NEW_GROUP
    else:
        options["start_new_session"] = True
    if not _spawns_on_loop_thread():
        process = await anyio.open_process(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, **options)
        return _Child(process, process.stdin, process.stdout)
    # On asyncio, the lean pipes of `_pipes`: they carry every relayed call.
    loop = asyncio.get_running_loop()
    _, pipes = await loop.subprocess_exec(
        ChildPipes, *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, **options
    )
    return _Child(pipes, pipes.stdin, pipes.stdout)


def _spawns_on_loop_thread() -> bool:
    # asyncio forks on the event loop thread, which lives as long as the proxy; other backends
    # may fork on a worker thread whose exit would fire the death signal early.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
