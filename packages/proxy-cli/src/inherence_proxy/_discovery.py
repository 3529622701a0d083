"""discovery.json: what the last look at each upstream found, so `status` can tell without starting them.

The engine reports this only while a gateway runs, and `status` must answer when no proxy does.
`init` writes it after discovering every upstream; a serving proxy updates its own upstreams
when they come up and when it stops. Each entry: the tool count and time of the last discovery
and the last error, as the engine reported them. Rug pulls are not here: the engine keeps them
in classifications.json. A file that cannot be read is treated as empty: it is a report, never
a source of truth.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from inherence_proxy._files import write_private_file
from inherence_proxy_core import GatewayStatus

__all__ = ["UpstreamReport", "load_discovery", "record_gateway_status", "save_discovery"]

UpstreamReport = dict[str, Any]


def load_discovery(path: pathlib.Path) -> dict[str, UpstreamReport]:
    """Upstream name -> its last report; {} for a missing or unreadable file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    upstreams = data.get("upstreams") if isinstance(data, dict) else None
    if not isinstance(upstreams, dict):
        return {}
    return {str(name): entry for name, entry in upstreams.items() if isinstance(entry, dict)}


def save_discovery(path: pathlib.Path, reports: Mapping[str, UpstreamReport]) -> None:
    """Merge `reports` into the file atomically; other upstreams' entries are kept."""
    merged = load_discovery(path)
    merged.update(reports)
    body = json.dumps({"upstreams": merged}, indent=2, sort_keys=True) + "\n"
    write_private_file(path, body)


def record_gateway_status(
    path: pathlib.Path,
    status: GatewayStatus,
    previous: Mapping[str, UpstreamReport],
    *,
    only: Sequence[str] | None = None,
) -> dict[str, UpstreamReport]:
    """Write what a gateway reports of its upstreams; returns the reports written.

    An upstream this gateway has not discovered keeps the previous count and time; one that is
    not ready records why (`last_error`), so `status` shows both.
    """
    reports: dict[str, UpstreamReport] = {}
    for upstream in status.upstreams:
        if only is not None and upstream.name not in only:
            continue
        report: UpstreamReport = dict(previous.get(upstream.name, {}))
        report.update(transport=upstream.transport, state=upstream.state)
        if upstream.last_discovery is not None:
            report.update(tool_count=len(upstream.categories), last_discovery=upstream.last_discovery.isoformat())
        report.setdefault("tool_count", None)
        report.setdefault("last_discovery", None)
        if upstream.state == "stopped":
            # The proxy stopping is no failure of the upstream: keep what was last seen of it.
            report["state"] = previous.get(upstream.name, {}).get("state") or "stopped"
            report.setdefault("last_error", upstream.last_error)
        elif upstream.state == "ready":
            report["last_error"] = None
        else:
            report["last_error"] = upstream.last_error or upstream.reason or upstream.state
            report["last_error_at"] = upstream.last_error_at.isoformat() if upstream.last_error_at else None
        reports[upstream.name] = report
    save_discovery(path, reports)
    return reports
