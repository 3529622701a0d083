"""What a call let through returned, into the session's reads, and the account a session acts for.

Only the results of calls that can bring private data into a session count as reads: reads
of private data, payment tools' reads (cards, statements), files, credential stores, databases,
network fetches, shell commands and tools nothing could place. The result of any other call still tells that the session
reports its results (so the coarse fallback of the exfiltration rule stands down).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from inherence_policy_server.rules._api import Category, SessionLedger
from inherence_policy_server.rules._material import ReadItem, read_items

__all__ = ["ACCOUNT_DOMAIN", "CONTENT_SOURCES", "account_domain", "record_result", "result_items"]

CONTENT_SOURCES = frozenset(
    {
        Category.PRIVATE_DATA_READ,
        # A payment tool's reads: card details, statements, transaction history.
        Category.PAYMENT,
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


# How the domain of the account a session acts for is remembered among the tenant's known recipients.
ACCOUNT_DOMAIN = "account-domain:"
_ACCOUNT_WORDS = frozenset({"account", "profile", "me", "whoami", "userinfo", "self", "myself", "identity"})
_READ_WORDS = frozenset({"get", "read", "show", "fetch", "whoami", "userinfo", "me", "current", "describe", "view"})
_ADDRESS_KEYS = ("email", "mail", "email_address", "emailaddress", "primary_email", "primaryemail", "user_email",
                 "address", "user_principal_name", "userprincipalname", "login")  # fmt: skip
_NESTED_KEYS = ("user", "account", "profile", "me", "data", "result")
_ADDRESS = re.compile(r"^[a-z0-9._%+-]{1,64}@(?P<domain>[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})+)$")
# Mailbox providers anyone can sign up to: an address there says nothing about who is inside.
_PUBLIC_MAIL = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com", "ymail.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "pm.me", "gmx.com", "gmx.net",
    "gmx.de", "web.de", "mail.com", "yandex.com", "yandex.ru", "zoho.com", "fastmail.com", "tutanota.com",
    "tuta.io", "qq.com", "163.com", "126.com", "mail.ru", "hey.com", "mailbox.org", "posteo.de", "duck.com",
})  # fmt: skip
_MAX_PROFILE = 64 * 1024


def _is_account_tool(tool_name: str) -> bool:
    words = set(re.findall(r"[a-z]+", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", tool_name).lower()))
    return bool(words & _ACCOUNT_WORDS) and bool(words & _READ_WORDS or words <= _ACCOUNT_WORDS | {"current", "user"})


def _address_in(node: Any, depth: int = 0) -> str | None:
    if not isinstance(node, Mapping) or depth > 1:
        return None
    folded = {str(key).casefold(): value for key, value in list(node.items())[:200]}
    for key in _ADDRESS_KEYS:
        value = folded.get(key)
        if isinstance(value, str) and _ADDRESS.match(value.strip().casefold()):
            return value.strip().casefold()
    for key in _NESTED_KEYS:
        found = _address_in(folded.get(key), depth + 1)
        if found:
            return found
    return None


def account_domain(tool_name: str, texts: Iterable[str]) -> str | None:
    """The email domain of the account a session acts for, from an account or profile tool's own result.

    Only a structured result (a JSON object, the address under a key such as `email`) of a tool whose
    name says it returns the caller's own account counts: free text could be written by anyone. A
    public mailbox provider's domain is never returned.
    """
    if not _is_account_tool(tool_name):
        return None
    for text in texts:
        if not text or len(text) > _MAX_PROFILE:
            continue
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        address = _address_in(parsed)
        if address:
            match = _ADDRESS.match(address)
            domain = match.group("domain") if match else ""
            return None if not domain or domain in _PUBLIC_MAIL else domain
    return None
