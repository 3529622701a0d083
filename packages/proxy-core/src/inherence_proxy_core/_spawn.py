"""How the gateway starts a stdio upstream: the one seam to the process-discipline module."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

import anyio.abc

from inherence_proxy_core._proc_errors import ProcessError
from inherence_proxy_core._proc_registry import ProcessRegistry
from inherence_proxy_core._process import spawn_upstream

__all__ = ["ProcessError", "RunningUpstream", "start_upstream_process"]


class RunningUpstream(Protocol):
    """What the gateway needs of a started stdio upstream process."""

    pid: int
    stdin: anyio.abc.ByteSendStream
    stdout: anyio.abc.ByteReceiveStream

    async def terminate(self, grace: float = 2.0) -> None: ...


async def start_upstream_process(
    argv: Sequence[str],
    *,
    name: str,
    env: Mapping[str, str],
    parent_env: Mapping[str, str],
    cwd: str | None,
    registry: ProcessRegistry | None,
) -> RunningUpstream:
    """Start `argv` as upstream `name` in its own process group, `env` laid over `parent_env`."""
    return await spawn_upstream(
        argv,
        name=name,
        env=env,
        cwd=cwd,
        registry=registry,
        parent_env=parent_env,
        stderr_logger=logging.getLogger(f"inherence_proxy_core.upstream.{name}"),
    )
