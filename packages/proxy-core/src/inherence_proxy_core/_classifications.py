"""The classification cache, `classifications.json`, in the 0.1.x list format.

Each entry is `{schema_hash, tool_name, category, source, confidence}`; this package adds
`upstream` and `tool` (the upstream's own tool name) so a changed fingerprint of a known tool
can be recognised after a restart, and on the entry of a changed tool `previous_schema_hash` and
`changed_at`, so its rug pull is still reported after a restart. Older readers ignore the extra
keys. A file that cannot be read or parsed is treated as empty. Only discovery reads or writes it,
never a tool call.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import pathlib
import stat
import tempfile
from collections.abc import Iterable
from typing import Any

__all__ = ["CachedClassification", "ClassificationCache", "RugPull"]

logger = logging.getLogger("inherence_proxy_core")


@dataclasses.dataclass(frozen=True)
class RugPull:
    """A known tool of an upstream came back with a different fingerprint (description or schema changed)."""

    upstream: str
    tool: str
    previous_fingerprint: str
    fingerprint: str
    detected_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class CachedClassification:
    schema_hash: str
    tool_name: str
    category: str
    source: str = "unknown"
    confidence: float = 0.0
    upstream: str | None = None
    tool: str | None = None
    previous_schema_hash: str | None = None
    changed_at: datetime.datetime | None = None

    @property
    def rug_pull(self) -> RugPull | None:
        """The change of fingerprint this entry was classified for, if it was one."""
        if self.upstream is None or self.tool is None or self.previous_schema_hash is None or self.changed_at is None:
            return None
        return RugPull(self.upstream, self.tool, self.previous_schema_hash, self.schema_hash, self.changed_at)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "schema_hash": self.schema_hash,
            "tool_name": self.tool_name,
            "category": self.category,
            "source": self.source,
            "confidence": self.confidence,
        }
        if self.upstream is not None:
            entry["upstream"] = self.upstream
        if self.tool is not None:
            entry["tool"] = self.tool
        if self.previous_schema_hash is not None and self.changed_at is not None:
            entry["previous_schema_hash"] = self.previous_schema_hash
            entry["changed_at"] = self.changed_at.isoformat()
        return entry


def _timestamp(raw: object) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _entry(raw: object) -> CachedClassification | None:
    if not isinstance(raw, dict):
        return None
    schema_hash, category = raw.get("schema_hash"), raw.get("category")
    if not isinstance(schema_hash, str) or not isinstance(category, str):
        return None
    confidence = raw.get("confidence", 0.0)
    upstream, tool, previous = raw.get("upstream"), raw.get("tool"), raw.get("previous_schema_hash")
    return CachedClassification(
        schema_hash=schema_hash,
        tool_name=str(raw.get("tool_name", "")),
        category=category,
        source=str(raw.get("source", "unknown")),
        confidence=float(confidence) if isinstance(confidence, (int, float)) else 0.0,
        upstream=upstream if isinstance(upstream, str) else None,
        tool=tool if isinstance(tool, str) else None,
        previous_schema_hash=previous if isinstance(previous, str) else None,
        changed_at=_timestamp(raw.get("changed_at")),
    )


class ClassificationCache:
    """Fingerprint -> classification, loaded once and written back atomically when it changes."""

    def __init__(self, path: pathlib.Path | None) -> None:
        self.path = path
        self._by_hash: dict[str, CachedClassification] = {}
        self._last_fingerprint: dict[tuple[str, str], str] = {}

    def __len__(self) -> int:
        return len(self._by_hash)

    def load(self) -> None:
        """Read the file; a missing, unreadable or corrupt file leaves the cache empty."""
        self._by_hash.clear()
        self._last_fingerprint.clear()
        if self.path is None:
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable classification cache %s (%s)", self.path, type(exc).__name__)
            return
        if not isinstance(raw, list):
            logger.warning("ignoring classification cache %s: not a JSON list", self.path)
            return
        for item in raw:
            entry = _entry(item)
            if entry is not None:
                self._remember(entry)

    def _remember(self, entry: CachedClassification) -> None:
        self._by_hash[entry.schema_hash] = entry
        if entry.upstream is not None and entry.tool is not None:
            self._last_fingerprint[(entry.upstream, entry.tool)] = entry.schema_hash

    def get(self, schema_hash: str) -> CachedClassification | None:
        return self._by_hash.get(schema_hash)

    def last_fingerprint(self, upstream: str, tool: str) -> str | None:
        """The fingerprint this `(upstream, tool)` had when it was last classified, if known."""
        return self._last_fingerprint.get((upstream, tool))

    def rug_pulls(self) -> list[RugPull]:
        """Every change of a known tool's fingerprint the cache holds, oldest first."""
        pulls = [entry.rug_pull for entry in self._by_hash.values()]
        return sorted((pull for pull in pulls if pull is not None), key=lambda pull: pull.detected_at)

    def put_all(self, entries: Iterable[CachedClassification]) -> None:
        for entry in entries:
            self._remember(entry)

    def save(self) -> None:
        """Write the whole cache atomically (temp file, fsync, rename), keeping the file's mode."""
        if self.path is None:
            return
        body = json.dumps([e.to_json() for e in self._by_hash.values()], indent=2, sort_keys=True) + "\n"
        atomic_write(self.path, body.encode("utf-8"))


def atomic_write(path: pathlib.Path, data: bytes, *, default_mode: int = 0o600) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = default_mode
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        pathlib.Path(temp_name).unlink(missing_ok=True)
        raise
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)
