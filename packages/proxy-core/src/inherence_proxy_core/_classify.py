"""Fingerprints and categories of an upstream's tools at discovery, and rug-pull detection.

A rug pull is recorded on the cache entry of the changed tool, so it is still reported after a
restart; one whose classification failed is found again at the next start.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Sequence
from typing import Any

import anyio

from inherence_policy_client import PolicyError, ToolDescription
from inherence_proxy_core._classifications import CachedClassification, ClassificationCache, RugPull
from inherence_proxy_core._fingerprint import tool_fingerprint
from inherence_proxy_core._gate import Policy
from inherence_proxy_core._names import exposed_name

__all__ = ["Classifier"]

logger = logging.getLogger("inherence_proxy_core")


class Classifier:
    """Classifies each upstream's tools in one batch, through the cache; the hot path never calls it."""

    def __init__(
        self,
        policy: Policy,
        cache: ClassificationCache,
        *,
        timeout: float,
        now: Callable[[], datetime.datetime],
    ) -> None:
        self._policy = policy
        self.cache = cache
        self._timeout = timeout
        self._now = now
        self._known: dict[tuple[str, str], str] = {}
        self._detected: list[RugPull] = []

    @property
    def rug_pulls(self) -> list[RugPull]:
        """The rug pulls the cache recorded (earlier runs too), then those found now and not yet recorded."""
        recorded = self.cache.rug_pulls()
        return recorded + [pull for pull in self._detected if pull not in recorded]

    async def classify(self, upstream: str, tools: Sequence[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
        """Fingerprint and category of each tool name. A tool that could not be classified is `unknown`."""
        fingerprints: dict[str, str] = {}
        wanted: dict[str, dict[str, Any]] = {}
        pulls: dict[str, RugPull] = {}
        for tool in tools:
            name = str(tool.get("name", ""))
            fingerprint = tool_fingerprint(tool)
            fingerprints[name] = fingerprint
            previous = self._known.get((upstream, name)) or self.cache.last_fingerprint(upstream, name)
            changed = previous is not None and previous != fingerprint
            if changed:
                assert previous is not None
                logger.warning(
                    "tool %s of upstream %s changed its description or schema (%s -> %s); classifying it again",
                    name, upstream, previous, fingerprint,
                )  # fmt: skip
                pulls[name] = RugPull(upstream, name, previous, fingerprint, self._now())
                self._detected.append(pulls[name])
            self._known[(upstream, name)] = fingerprint
            if changed or self.cache.get(fingerprint) is None:
                wanted[name] = tool
        if wanted:
            await self._classify_batch(upstream, wanted, fingerprints, pulls)
        categories = {}
        for name, fingerprint in fingerprints.items():
            cached = self.cache.get(fingerprint)
            categories[name] = cached.category if cached is not None else "unknown"
        return fingerprints, categories

    async def _classify_batch(
        self,
        upstream: str,
        wanted: dict[str, dict[str, Any]],
        fingerprints: dict[str, str],
        pulls: dict[str, RugPull],
    ) -> None:
        gate_names = {exposed_name(upstream, name): name for name in wanted}
        batch = [
            ToolDescription(
                name=gate_name,
                schema_hash=fingerprints[own],
                description=str(wanted[own].get("description") or ""),
                input_schema=wanted[own].get("inputSchema") or {},
            )
            for gate_name, own in gate_names.items()
        ]
        try:
            with anyio.fail_after(self._timeout):
                answers = await self._policy.classify(batch)
        except (PolicyError, TimeoutError, ValueError) as exc:
            logger.warning("could not classify %d tools of %s (%s); they count as unknown", len(batch), upstream, exc)
            return
        entries = []
        for answer in answers:
            own = gate_names.get(answer.name)
            if own is None:
                continue
            pull = pulls.get(own)
            entries.append(
                CachedClassification(
                    schema_hash=fingerprints[own],
                    tool_name=answer.name,
                    category=answer.category,
                    source=answer.source,
                    confidence=answer.confidence,
                    upstream=upstream,
                    tool=own,
                    previous_schema_hash=pull.previous_fingerprint if pull is not None else None,
                    changed_at=pull.detected_at if pull is not None else None,
                )
            )
        self.cache.put_all(entries)
        try:
            await anyio.to_thread.run_sync(self.cache.save)
        except OSError as exc:
            logger.warning("could not write the classification cache (%s)", exc)
