"""The event loop a gateway runs best on."""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["event_loop_options"]


def event_loop_options() -> dict[str, Any]:
    """anyio's `backend_options` for a process that runs a gateway: uvloop where it is installed.

        anyio.run(main, backend_options=event_loop_options())

    uvloop does a relayed call's pipe reads, writes and wake-ups in C; measured with
    `benchmarks/bench_proxy.py` on Python 3.11 the gateway spends 0.135 ms of CPU per call on it
    and 0.21 ms on asyncio's own loop. It is a dependency wherever it builds (not on Windows);
    elsewhere asyncio's own loop serves the same.
    """
    if importlib.util.find_spec("uvloop") is None:
        return {}
    return {"use_uvloop": True}
