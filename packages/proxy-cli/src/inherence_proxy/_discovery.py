"""discovery.json: what the last look at each upstream found, so `status` can tell without starting them.

`init` writes it after discovering every upstream; a serving proxy updates its own upstreams
when they come up and when it stops. Each entry: the tool count, when the tools were last
listed, the last error, and the rug pulls (a known tool whose description or schema changed).
A file that cannot be read is treated as empty: it is a report, never a source of truth.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from inherence_proxy_core import GatewayStatus, RugPull

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
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _rug_pull(pull: RugPull) -> dict[str, str]:
    return {
        "tool": pull.tool,
        "previous_fingerprint": pull.previous_fingerprint,
        "fingerprint": pull.fingerprint,
        "detected_at": pull.detected_at.isoformat(),
    }


def record_gateway_status(
    path: pathlib.Path,
    status: GatewayStatus,
    previous: Mapping[str, UpstreamReport],
    *,
    now: Callable[[], datetime.datetime],
    only: Sequence[str] | None = None,
) -> dict[str, UpstreamReport]:
    """Write what a gateway knows of its upstreams now; returns the reports written.

    A ready upstream gets a fresh discovery time and tool count; one that is not ready keeps the
    previous count and time and records why (`last_error`), so `status` shows both.
    """
    stamp = now().isoformat()
    reports: dict[str, UpstreamReport] = {}
    for upstream in status.upstreams:
        if only is not None and upstream.name not in only:
            continue
        report: UpstreamReport = dict(previous.get(upstream.name, {}))
        report["transport"] = upstream.transport
        report["state"] = upstream.state
        if upstream.state == "ready":
            report["tool_count"] = upstream.tool_count
            report["last_discovery"] = stamp
            report["last_error"] = None
        else:
            report.setdefault("tool_count", None)
            report.setdefault("last_discovery", None)
            report["last_error"] = upstream.reason or upstream.state
            report["last_error_at"] = stamp
        pulls = [_rug_pull(p) for p in status.rug_pulls if p.upstream == upstream.name]
        known = [p for p in report.get("rug_pulls", []) if isinstance(p, dict)]
        report["rug_pulls"] = known + [p for p in pulls if p not in known]
        reports[upstream.name] = report
    save_discovery(path, reports)
    return reports
