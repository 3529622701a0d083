"""Names the client sees: `<upstream>__<tool>` as 0.1.x exposed them, and a stable answer to collisions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

__all__ = ["exposed_name", "exposed_names"]

MAX_NAME = 64
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text)


def exposed_name(upstream: str, name: str) -> str:
    """The name 0.1.x gave tool `name` of `upstream`: safe characters, no double prefix, at most 64."""
    prefix = _safe(upstream)
    safe = _safe(name)
    joined = safe if safe.startswith(f"{prefix}_") else f"{prefix}__{safe}"
    return (joined or "_")[:MAX_NAME]


def _suffixed(base: str, upstream: str, name: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{upstream}\x00{name}\x00{attempt}".encode()).hexdigest()[:6]
    return f"{base[: MAX_NAME - 7]}-{digest}"


def exposed_names(entries: Iterable[tuple[str, str]], *, order: Sequence[str] = ()) -> dict[tuple[str, str], str]:
    """Map every `(upstream, name)` to a unique exposed name; never drops one.

    Entries whose 0.1.x name collides are ordered by the upstream's position in `order`
    (then by name); the first keeps the plain name and the others get a short suffix derived
    from their own identity, so the result does not depend on the order tools were listed in.
    """
    rank = {upstream: index for index, upstream in enumerate(order)}
    ordered = sorted(set(entries), key=lambda e: (rank.get(e[0], len(rank)), e[0], e[1]))
    by_base: dict[str, list[tuple[str, str]]] = {}
    for upstream, name in ordered:
        by_base.setdefault(exposed_name(upstream, name), []).append((upstream, name))
    result: dict[tuple[str, str], str] = {}
    taken = set(by_base)
    for base, group in by_base.items():
        result[group[0]] = base
        for upstream, name in group[1:]:
            attempt = 0
            candidate = _suffixed(base, upstream, name, attempt)
            while candidate in taken:
                attempt += 1
                candidate = _suffixed(base, upstream, name, attempt)
            taken.add(candidate)
            result[(upstream, name)] = candidate
    return result
