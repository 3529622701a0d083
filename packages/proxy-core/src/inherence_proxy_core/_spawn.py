"""How the gateway starts a stdio upstream: the one seam to the process-discipline module."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import anyio
import anyio.abc

__all__ = ["RunningUpstream", "start_upstream_process"]


class RunningUpstream(Protocol):
    """What the gateway needs of a started stdio upstream process."""

    pid: int

    @property
    def stdin(self) -> anyio.abc.ByteSendStream: ...

    @property
    def stdout(self) -> anyio.abc.ByteReceiveStream: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    async def terminate(self, grace: float = 2.0) -> None: ...


class _GroupProcess:
    """A stdio upstream in its own process group, ended group-wide: SIGTERM, then SIGKILL after a grace."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self._process = process
        self.pid = process.pid
        self.pgid = process.pid

    @property
    def stdin(self) -> anyio.abc.ByteSendStream:
        assert self._process.stdin is not None
        return self._process.stdin

    @property
    def stdout(self) -> anyio.abc.ByteReceiveStream:
        assert self._process.stdout is not None
        return self._process.stdout

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        return await self._process.wait()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signum)

    async def terminate(self, grace: float = 2.0) -> None:
        with anyio.CancelScope(shield=True):
            self._signal_group(signal.SIGTERM)
            with anyio.move_on_after(grace):
                await self._process.wait()
            self._signal_group(signal.SIGKILL)
            with anyio.move_on_after(grace):
                await self._process.wait()
            await self._process.aclose()


async def _start_in_group(
    argv: Sequence[str], *, name: str, env: Mapping[str, str] | None = None, cwd: str | None = None
) -> RunningUpstream:
    process = await anyio.open_process(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )
    return _GroupProcess(process)


async def start_upstream_process(
    argv: Sequence[str], *, name: str, env: Mapping[str, str] | None, cwd: str | None, **extra: Any
) -> RunningUpstream:
    """Start `argv` as upstream `name`. The only place that picks the implementation."""
    return await _start_in_group(argv, name=name, env=env, cwd=cwd)
