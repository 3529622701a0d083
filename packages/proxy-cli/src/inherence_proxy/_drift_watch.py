"""While `serve` runs: its client's wrapped config is checked at start and watched for servers added beside the proxy.

A server beside the proxy entry reaches the client without the gate. Each one is logged in
proxy.log as a warning and sent to the client as a warning `notifications/message` (also to a
client that connects later); `status` reads the same drift from the file itself. A server that
goes away again withdraws the warning. Polling costs one `stat` per file; the file is read only
when it changed.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Sequence

import anyio

from inherence_client_adapters import ClientConfigError, ConfigLocation, DriftReport, DriftWatcher, ProxyCommand
from inherence_proxy_core import Gateway

__all__ = ["DRIFT_SECONDS", "watch_drift"]

logger = logging.getLogger("inherence_proxy.serve")
DRIFT_SECONDS = 2.0


async def watch_drift(
    gateway: Gateway,
    locations: Sequence[ConfigLocation],
    proxy: ProxyCommand | None,
    *,
    interval: float = DRIFT_SECONDS,
) -> None:
    """Report the drift of `locations` now, then each change of it, until cancelled."""
    if not locations:
        return

    def on_error(error: ClientConfigError) -> None:
        logger.warning("cannot check the client config for servers beside the proxy: %s", error)

    watcher = DriftWatcher(locations, proxy, on_error=on_error)
    known: dict[pathlib.Path, tuple[str, ...]] = {}
    for report in await anyio.to_thread.run_sync(watcher.check_all):
        _note(gateway, known, report)
    logger.info("watching %d client config files for servers beside the proxy", len(locations))
    while True:
        await anyio.sleep(interval)
        for report in await anyio.to_thread.run_sync(watcher.check):
            _note(gateway, known, report)


def _note(gateway: Gateway, known: dict[pathlib.Path, tuple[str, ...]], report: DriftReport) -> None:
    before = known.get(report.path, ())
    now = tuple(report.bypassing)
    known[report.path] = now
    key = f"drift:{report.path}"
    if not now:
        if before:
            logger.info("%s: no server bypasses the proxy any more", report.path)
        gateway.clear_warning(key)
        return
    added = [name for name in now if name not in before]
    if not added:
        return
    names = ", ".join(now)
    logger.warning(
        "%s has servers beside the proxy that bypass the gate: %s (new: %s); run `inherence-proxy init` to wrap them",
        report.path,
        names,
        ", ".join(added),
    )
    text = (
        f"the client config {report.path} has servers that bypass inherence-proxy: {names}; "
        "their tools are not gated until `inherence-proxy init` wraps them"
    )
    gateway.warn_clients(key, text, config_path=str(report.path), bypassing=list(now), added=added)
