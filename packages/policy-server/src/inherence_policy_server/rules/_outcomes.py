"""What a call let through returned, into the session's reads.

Only the results of calls that can bring private data into a session count as reads: reads
of private data, files, credential stores, databases, network fetches, shell commands and
tools nothing could place. The result of any other call still tells that the session
reports its results (so the coarse fallback of the exfiltration rule stands down).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from inherence_policy_server.rules._api import Category, SessionLedger
from inherence_policy_server.rules._material import ReadItem, read_items

__all__ = ["CONTENT_SOURCES", "record_result", "result_items"]

CONTENT_SOURCES = frozenset(
    {
        Category.PRIVATE_DATA_READ,
        Category.FILE_READ,
        Category.CREDENTIAL_STORE,
        Category.DATABASE_QUERY,
        Category.NETWORK_FETCH,
        Category.SHELL_EXEC,
        Category.UNKNOWN,
    }
)


def record_result(
    ledger: SessionLedger, session: str, category: Category, texts: Iterable[str], now: datetime.datetime
) -> int:
    """Add what one call returned to `session`'s reads; the number of items recognised."""
    items = result_items(category, texts)
    ledger.record_read_items(session, items, now)
    return len(items)


def result_items(category: Category, texts: Iterable[str]) -> list[ReadItem]:
    """What one call of `category` returned (`texts`), as the read items `record_result` records."""
    items: dict[int, ReadItem] = {}
    if category in CONTENT_SOURCES:
        for text in texts:
            if text:
                for item in read_items(text):
                    items.setdefault(item.digest, item)
    return list(items.values())
