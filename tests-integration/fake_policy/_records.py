"""What the fake server saw: every request kept byte for byte, so a test can assert what was sent and what was not."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ENDPOINT_PREFIX = "/api/proxy/"


class Headers(Mapping[str, str]):
    """Request headers in arrival order, looked up without regard to case (as HTTP defines them).

    A name sent twice is kept twice; `[name]` and `get` give the values joined by ", " as RFC 9110
    allows, `get_all` gives them apart.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple(items)

    @property
    def raw(self) -> tuple[tuple[str, str], ...]:
        """The (name, value) pairs exactly as received, names in their original case."""
        return self._items

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self._items if key.lower() == wanted]

    def __getitem__(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for key, _ in self._items:
            seen.setdefault(key.lower(), None)
        return iter(seen)

    def __len__(self) -> int:
        return len({key.lower() for key, _ in self._items})

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


def endpoint_of(path: str) -> str:
    """`/api/proxy/decide` -> `decide`; other paths are returned unchanged."""
    return path[len(ENDPOINT_PREFIX) :] if path.startswith(ENDPOINT_PREFIX) else path


def parse_json(body: bytes) -> Any | None:
    """The body as JSON, or None when it is empty or not JSON (the raw bytes stay in the record)."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server read it off the wire.

    `connection` numbers the TCP connections accepted since the last reset, from 1, so two
    requests with the same number travelled on the same kept-alive connection. `received_at`
    is `time.monotonic()` when the whole request (head and body) had arrived.
    """

    index: int
    method: str
    target: str
    headers: Headers
    body: bytes
    connection: int
    received_at: float
    json: Any | None = field(default=None, compare=False)

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]

    @property
    def endpoint(self) -> str:
        """The short endpoint name (`decide`) for hosted paths, else the path."""
        return endpoint_of(self.path)

    @property
    def api_key(self) -> str | None:
        """The bearer token sent, if any."""
        value = self.headers.get("authorization")
        if value is None:
            return None
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
