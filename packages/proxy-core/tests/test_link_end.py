"""Why a link to an upstream ended does not depend on which side of the pipe noticed first."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from inherence_proxy_core._errors import UpstreamClosed
from inherence_proxy_core._link import UpstreamLink


class ExitedProcess:
    """The pipes of a process that has just exited: its input refuses writes at once, its output ends a moment later."""

    def __init__(self, output_ends_after: float | None) -> None:
        self._output_ends_after = output_ends_after

    async def send(self, message: dict[str, Any], *, related_id: Any = None) -> None:
        raise anyio.BrokenResourceError

    async def receive(self) -> dict[str, Any]:
        if self._output_ends_after is None:
            await anyio.sleep_forever()
        await anyio.sleep(self._output_ends_after)
        raise anyio.EndOfStream

    async def aclose(self) -> None:
        pass


async def ignore(*_: Any) -> None:
    pass


async def close_reason(channel: ExitedProcess) -> str:
    link = UpstreamLink("crashed", channel, on_notification=lambda *_: None, on_request=ignore)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(link.run)
        with pytest.raises(UpstreamClosed) as raised:
            await link.request("initialize", {}, deadline=5)
        tasks.cancel_scope.cancel()
    assert link.close_reason == raised.value.detail
    return raised.value.detail


async def test_a_write_refused_by_an_exited_upstream_reports_the_end_of_its_output() -> None:
    assert await close_reason(ExitedProcess(output_ends_after=0.05)) == "the upstream closed its output"


async def test_an_upstream_that_closes_its_input_but_keeps_writing_is_reported_as_such() -> None:
    assert await close_reason(ExitedProcess(output_ends_after=None)) == "the upstream's input is closed"
