"""Tool fingerprints ("schema hashes") in the 0.1.x format, so cached classifications stay valid."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["tool_fingerprint"]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def tool_fingerprint(tool: Mapping[str, Any]) -> str:
    """`"sha256:" + hex(sha256(name 0x00 description 0x00 canonical JSON of inputSchema))`.

    `tool` is the tool object as the upstream listed it; a missing description counts as "".
    """
    name = str(tool.get("name", ""))
    description = tool.get("description") or ""
    schema = tool.get("inputSchema") or {}
    digest = hashlib.sha256()
    digest.update(name.encode("utf-8"))
    digest.update(b"\x00")
    digest.update(str(description).encode("utf-8"))
    digest.update(b"\x00")
    digest.update(canonical_json(schema).encode("utf-8"))
    return f"sha256:{digest.hexdigest()}"
