"""What a call let through returned, into the session's reads, and the account a session acts for.

Only the results of calls that can bring private data into a session count as reads: reads
of private data, payment tools' reads (cards, statements), files, credential stores, databases,
network fetches, shell commands, listings (an audience's members, a user directory) and tools
nothing could place. The result of any other call still tells that the session
reports its results (so the coarse fallback of the exfiltration rule stands down).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from inherence_policy_server.rules._api import Category, SessionLedger
from inherence_policy_server.rules._material import ReadItem, digest, own_tagged, read_items, sender_tag
from inherence_policy_server.rules._text import name_words

__all__ = [
    "ACCOUNT_DOMAIN",
    "CONTENT_SOURCES",
    "OWNER",
    "OWN_ACCOUNT",
    "account_domain",
    "account_key",
    "file_owners",
    "own_accounts",
    "own_address",
    "owner_digest",
    "record_result",
    "result_items",
    "source_tag",
]

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
        # A listing the classifier calls harmless still names people (an audience's members, a directory).
        Category.READ_ONLY,
        Category.IDENTITY_ADMIN,
    }
)


def record_result(
    ledger: SessionLedger,
    session: str,
    category: Category,
    texts: Iterable[str],
    now: datetime.datetime,
    source: str = "",
    upstream: str = "",
) -> int:
    """Add what one call returned to `session`'s reads; the number of items recognised.

    `source` is the name of the tool that returned it (`travel__get_traveler_profile`), when known, and
    `upstream` the server it is on (else the part of `source` before `__`).
    """
    items = result_items(category, texts, source, upstream)
    ledger.record_read_items(session, items, now)
    return len(items)


def result_items(category: Category, texts: Iterable[str], source: str = "", upstream: str = "") -> list[ReadItem]:
    """What one call of `category` returned (`texts`), as the read items `record_result` records.

    The result of the account's own profile tool, named `<upstream>__<tool>`, is tagged with its upstream
    (`source_tag`): the user's own details, which that same service may be given back (a booking).
    """
    items: dict[int, ReadItem] = {}
    if category in CONTENT_SOURCES:
        for text in texts:
            if text:
                for item in read_items(text):
                    items.setdefault(item.digest, item)
    prefix, _, tool = source.partition("__")
    server = upstream or (prefix if tool else "")
    if server:
        for item_id, domain in file_owners(texts):
            key = owner_digest(server, item_id, domain)
            items.setdefault(key, ReadItem(OWNER, key, "a file owner"))
    if tool and _is_own_profile_tool(tool):
        return own_tagged(list(items.values()), source_tag(prefix))
    return list(items.values())


# Who owns each file a listing shows, remembered per session as a digest of (upstream, file, owner's domain).
OWNER = "owner"
_MAX_OWNED = 256
_OWNER_KEYS = ("owner", "owners", "owner_email", "owneremail", "owner_address", "ownedby", "owned_by")
_ID_KEYS = ("id", "file_id", "fileid", "document_id", "documentid", "item_id", "itemid", "doc_id", "docid", "name",
            "title", "path", "key")  # fmt: skip
_OWNER_LINE = re.compile(r"\bowner(?:ed by)?\b[\s:=(]{0,3}[^\s@]{0,60}?([a-z0-9._%+-]{1,64}@[a-z0-9.-]{1,253})", re.I)
_LINE_TOKEN = re.compile(r"[^\s'\"()\[\],;]{3,200}")
# What `json.loads` accepts at the start of a value, after JSON's own whitespace (ASCII digits only).
_JSON_START = re.compile(r'[ \t\n\r]*[\[{"0-9tfnNI-]')
_NOT_JSON = object()


def owner_digest(upstream: str, item_id: str, domain: str) -> int:
    return digest(f"owner|{upstream.casefold()}|{item_id.strip().casefold()}|{domain.casefold()}")


def file_owners(texts: Iterable[str]) -> list[tuple[str, str]]:
    """(file id or name, owner's mail domain) for each file a result names with its owner.

    From JSON objects (`{"id": ..., "owners": [{"emailAddress": ...}]}`) and from lines of text that give a
    file's id and `owner <address>`. A public mailbox provider's domain says nothing of an organisation.
    """
    found: dict[tuple[str, str], None] = {}
    for text in texts:
        if not text or len(text) > _MAX_PROFILE * 4:
            continue
        parsed = _json_value(text)
        if parsed is not _NOT_JSON:
            _owners_in(parsed, found, 0)
        else:
            for line in text.splitlines()[:_MAX_OWNED]:
                match = _OWNER_LINE.search(line)
                if match is None:
                    continue
                domain = match.group(1).rpartition("@")[2].casefold().rstrip(".")
                for token in _LINE_TOKEN.findall(line[: match.start()])[:8]:
                    found.setdefault((token.strip(".:"), domain), None)
        if len(found) >= _MAX_OWNED:
            break
    return [pair for pair in list(found)[:_MAX_OWNED] if pair[1] not in _PUBLIC_MAIL and pair[0]]


def _json_value(text: str) -> Any:
    """`text` parsed as JSON, or `_NOT_JSON`; text that cannot start a JSON value (`Echo: hello`) is not parsed."""
    if _JSON_START.match(text) is None:
        return _NOT_JSON
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


def _owners_in(node: Any, found: dict[tuple[str, str], None], depth: int) -> None:
    if depth > 4 or len(found) >= _MAX_OWNED:
        return
    if isinstance(node, list):
        for item in node[:_MAX_OWNED]:
            _owners_in(item, found, depth + 1)
        return
    if not isinstance(node, Mapping):
        return
    folded = {str(key).casefold(): value for key, value in list(node.items())[:200]}
    owners = [address for key in _OWNER_KEYS for address in _addresses(folded.get(key), 0)]
    if owners:
        ids = [str(folded[key]) for key in _ID_KEYS if isinstance(folded.get(key), (str, int)) and str(folded[key])]
        for address in owners:
            domain = address.rpartition("@")[2]
            for item_id in ids[:4]:
                found.setdefault((item_id, domain), None)
    for value in folded.values():
        if isinstance(value, (list, Mapping)):
            _owners_in(value, found, depth + 1)


def _addresses(node: Any, depth: int) -> list[str]:
    """Mail addresses in an owner field: a string, `{"emailAddress": ...}`, or a list of either."""
    if isinstance(node, str):
        match = _ADDRESS.match(node.strip().casefold())
        return [node.strip().casefold()] if match else []
    if depth > 2:
        return []
    if isinstance(node, list):
        return [address for item in node[:16] for address in _addresses(item, depth + 1)]
    if isinstance(node, Mapping):
        return [
            address
            for key, value in list(node.items())[:32]
            if str(key).casefold() in ("email", "emailaddress", "email_address", "mail", "address", "login")
            for address in _addresses(value, depth + 1)
        ]
    return []


def source_tag(upstream: str) -> str:
    """A short digest of an upstream's name, as the account's own profile data is tagged with it."""
    return sender_tag(f"upstream:{upstream.casefold()}")


# The account's own record: `get_traveler_profile`, `get_user_information`, `whoami`, `get_my_details`.
_OWN_WORDS = frozenset({"profile", "account", "me", "my", "whoami", "userinfo", "myself", "self", "traveler",
                        "traveller", "passenger"})  # fmt: skip
_USER_RECORD = frozenset({"info", "information", "details", "data"})
_NOT_OWN_LISTING = frozenset({"list", "search", "find", "users", "accounts", "profiles", "all", "query", "lookup"})


def _is_own_profile_tool(tool: str) -> bool:
    words = name_words(tool)
    if words & _NOT_OWN_LISTING or not (words & _READ_WORDS or words <= {"whoami", "me", "userinfo"}):
        return False
    return bool(words & _OWN_WORDS or ("user" in words and words & _USER_RECORD))


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
    words = name_words(tool_name)
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
    address = _structured_address(texts)
    if not address:
        return None
    match = _ADDRESS.match(address)
    domain = match.group("domain") if match else ""
    return None if not domain or domain in _PUBLIC_MAIL else domain


def own_address(tool_name: str, texts: Iterable[str]) -> str | None:
    """The mail address of the account a session acts for, from the structured result of its own profile tool.

    Mail to it (a booking confirmation, "email me the summary") reaches the user, whatever the provider.
    """
    tool = tool_name.partition("__")[2] or tool_name
    if not (_is_account_tool(tool_name) or _is_own_profile_tool(tool)):
        return None
    return _structured_address(texts)


def _structured_address(texts: Iterable[str]) -> str | None:
    """The first account address found in a result text that is a JSON object of a bounded size."""
    for text in texts:
        if not text or len(text) > _MAX_PROFILE:
            continue
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        address = _address_in(parsed)
        if address:
            return address
    return None


# How an account of the user's own, listed by the bank's accounts tool, is remembered among known recipients.
OWN_ACCOUNT = "own-account:"
_OWN_ACCOUNT_WORDS = frozenset({"account", "accounts", "iban", "ibans", "balance", "balances",
                                # the savings pots, vaults and spaces inside the user's own account
                                "pot", "pots", "vaults", "spaces"})  # fmt: skip
# A tool about other people's accounts, or about what moved between accounts, lists no account of the user's.
_NOT_OWN_WORDS = frozenset({
    "transaction", "transactions", "payee", "payees", "recipient", "recipients", "beneficiary", "beneficiaries",
    "contact", "contacts", "history", "statement", "statements", "transfer", "transfers", "scheduled", "external",
    "linked", "counterparty", "counterparties", "vendor", "vendors", "customer", "customers", "user", "users",
    "member", "members", "add", "create", "update", "set", "delete", "remove", "send",
})  # fmt: skip
_LIST_WORDS = frozenset(
    {
        "get",
        "list",
        "show",
        "read",
        "fetch",
        "my",
        "own",
        "all",
        "view",
        "describe",
        "bank",
        "details",
        "info",
        "summary",
    }
)
_ACCOUNT_ID_KEYS = frozenset({"id", "account_id", "accountid", "iban", "account_number", "accountnumber", "number"})
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
# The first word of a line of an account listing: `chk-1120 Checking EUR 2,204.18`.
_LINE_ACCOUNT = re.compile(r"^\s*(?:[-*]\s*)?(?P<id>[A-Za-z]{0,12}[-_]?\d[A-Za-z0-9_-]{1,30})\b")
# An account id further on the line, after a name in any script (`普通預金 acc-001 残高 842,300円`).
_LINE_ACCOUNT_ANYWHERE = re.compile(r"(?<![\w-])(?P<id>[A-Za-z]{2,12}[-_]\d[A-Za-z0-9_-]{1,30})(?![\w-])")
_MAX_OWN_ACCOUNTS = 32


def account_key(name: str) -> str:
    """An account number or IBAN as compared: written with and without spaces or dashes, in either case."""
    return "".join(char for char in name.casefold() if char.isalnum())


def _is_own_accounts_tool(tool_name: str) -> bool:
    tool_name = tool_name.rpartition("__")[2]  # the gateway's `upstream__` prefix says nothing of what it lists
    words = name_words(tool_name)
    return bool(words & _OWN_ACCOUNT_WORDS) and not words & _NOT_OWN_WORDS and words <= _OWN_ACCOUNT_WORDS | _LIST_WORDS


def _ids_in(node: Any, found: dict[str, None], depth: int = 0) -> None:
    if depth > 3 or len(found) >= _MAX_OWN_ACCOUNTS:
        return
    if isinstance(node, list):
        for item in node[:_MAX_OWN_ACCOUNTS]:
            _ids_in(item, found, depth + 1)
    elif isinstance(node, Mapping):
        for key, value in list(node.items())[:200]:
            folded = str(key).casefold()
            if folded in _ACCOUNT_ID_KEYS and isinstance(value, (str, int)) and not isinstance(value, bool):
                found.setdefault(str(value), None)
            elif isinstance(value, (list, Mapping)) and folded in ("accounts", "data", "items", "results", "result"):
                _ids_in(value, found, depth + 1)


def own_accounts(tool_name: str, texts: Iterable[str]) -> list[str]:
    """The user's own accounts (compared as `account_key`), from the result of a bank's tool listing them.

    Only a tool whose name says it lists the caller's accounts (`get_accounts`, `list_accounts`,
    `get_iban`, `get_balances`) counts: payees, transactions and contacts are other people's accounts
    and carry text anyone could have written. From a structured result the values under id-like keys;
    from text, IBANs and the leading identifier of each line.
    """
    if not _is_own_accounts_tool(tool_name):
        return []
    found: dict[str, None] = {}
    for text in texts:
        if not text or len(text) > _MAX_PROFILE:
            continue
        try:
            _ids_in(json.loads(text), found)
        except ValueError:
            for iban in _IBAN.findall(text.upper()):
                found.setdefault(iban, None)
            for line in text.splitlines()[:_MAX_OWN_ACCOUNTS]:
                match = _LINE_ACCOUNT.match(line) or _LINE_ACCOUNT_ANYWHERE.search(line)
                if match:
                    found.setdefault(match.group("id"), None)
    keys = (account_key(name) for name in found)
    return list(dict.fromkeys(key for key in keys if 4 <= len(key) <= 34))[:_MAX_OWN_ACCOUNTS]
