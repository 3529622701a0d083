"""`classify`: a category for a tool from its name, description and input schema, by table.

A `Signal` fires when one of its `terms` is a token of the tool (its name counts double),
and, if it has a `context`, one of those is a token too. A signal's `reach` says where its
terms count: everywhere (`all`), in the name and description (`described`: a tool that takes
a pagination token or an API key as a parameter is not a credential store), in the name and
description with the context there too (`said`: what a tool says it returns), or in the name.
Scores add up per category; the
highest wins and ties go to the riskier category (`RISK_ORDER`). Adding a word is adding it
to `SIGNALS`. Deterministic: the same tool always gets the same answer. A tool no signal
fires for is `unknown`, which the rules treat as able to do anything.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from inherence_policy_client._models import Classification, ToolDescription
from inherence_policy_server.rules._api import Category

__all__ = ["RISK_ORDER", "SIGNALS", "SOURCE", "Signal", "classify", "classify_tool", "tokens"]


@dataclasses.dataclass(frozen=True)
class Signal:
    category: Category
    terms: frozenset[str]
    weight: float
    context: frozenset[str] | None = None
    reach: str = "all"


def _s(category: Category, terms: str, weight: float, context: str | None = None, reach: str = "all") -> Signal:
    return Signal(
        category, frozenset(terms.split()), weight, None if context is None else frozenset(context.split()), reach
    )


_FILE = "file files directory directories dir dirs folder folders path paths filesystem fs"
_MONEY = "money funds amount payment payments bank account currency recipient payee usd eur gbp wire balance"
_MONEY += " wallet crypto asset tokens usdc"
_PRIVATE = (
    "email emails mail mails inbox message messages dm dms chat chats conversation conversations contact contacts"
    " calendar event events document documents doc docs note notes record records patient patients customer"
    " customers personal profile profiles drive photos photo ssn medical health hr salary crm thread threads"
    " transaction transactions statement statements"
    # A memory server's knowledge graph: what the assistant keeps about the user and the people around them.
    " memory memories knowledge entities entity observations"
)
_DB = "database databases db sql postgres postgresql mysql sqlite mongo mongodb redis table tables bigquery snowflake"
_DB += " supabase dynamodb clickhouse mssql oracle"
_DESC = "described"
# Terms and context both in the name and description: what the tool says it returns, not what it takes.
_SAID = "said"

SIGNALS: tuple[Signal, ...] = (
    _s(Category.SHELL_EXEC, "shell bash exec execute command commands terminal subprocess cmd powershell zsh", 3.0),
    _s(Category.SHELL_EXEC, "run runs script scripts", 1.5, "command shell script scripts code terminal process"),
    _s(Category.SHELL_EXEC, "python eval interpreter repl javascript node", 1.5, "run execute exec evaluate code"),
    _s(Category.PAYMENT, "payment payments pay payout payouts refund refunds charge invoice remittance", 3.0),
    _s(Category.PAYMENT, "stripe paypal withdraw withdrawal iban swift ach venmo", 2.5),
    # Any wallet, bank or payment provider's tool: what it sends is money.
    _s(
        Category.PAYMENT,
        "wallet wallets crypto usdc usdt eth btc bitcoin ethereum solana stablecoin stablecoins"
        " zelle cashapp revolut wise monzo lightning remit remittances banking",
        2.5,
    ),
    _s(Category.PAYMENT, "transfer transfers send wire", 2.0, _MONEY),
    _s(Category.IDENTITY_ADMIN, "admin administrator role roles permission permissions privilege privileges", 2.5),
    _s(Category.IDENTITY_ADMIN, "mfa 2fa totp collaborator collaborators invite invitation ownership iam sso", 2.5),
    _s(Category.IDENTITY_ADMIN, "password passwords", 3.0, "reset change update set rotate"),
    _s(Category.IDENTITY_ADMIN, "key keys", 3.0, "ssh deploy gpg"),
    _s(Category.IDENTITY_ADMIN, "user users member members owner", 1.5, "create add remove suspend grant invite"),
    # What a tool stores is in its name and description; its parameters only say what it takes.
    _s(Category.CREDENTIAL_STORE, "secret secrets credential credentials keychain keyring", 3.0, reach=_DESC),
    # A vault of secrets, not a notes app's vault of markdown files (Obsidian).
    _s(
        Category.CREDENTIAL_STORE,
        "vault vaults",
        3.0,
        "secret secrets password passwords credential credentials login logins item items key keys token tokens"
        " hashicorp hashi kv lease leases",
        _DESC,
    ),
    _s(Category.CREDENTIAL_STORE, "1password bitwarden lastpass", 2.5, reach=_DESC),
    _s(Category.CREDENTIAL_STORE, "apikey token tokens", 2.5, reach="name"),
    _s(Category.CREDENTIAL_STORE, "password passwords", 2.0, "get read retrieve list vault manager lookup", _DESC),
    # A tool that says it returns its server's environment, config or debug state returns the tokens kept there.
    _s(Category.CREDENTIAL_STORE, "env environ envvars dotenv printenv getenv", 3.0, reach="name"),
    _s(Category.CREDENTIAL_STORE, "environment env", 3.0, "variables variable vars dump print", _SAID),
    _s(Category.CREDENTIAL_STORE, "diagnostics diagnostic debug", 3.0, "environment env envvars variables vars", _SAID),
    _s(Category.CREDENTIAL_STORE, "config configuration settings", 3.0, "envvars variables vars secrets tokens", _SAID),
    _s(Category.FILE_DELETE, "delete deletes remove removes rm unlink trash erase rmdir purge", 2.5, _FILE),
    _s(Category.OUTBOUND_SEND, "send sends sending", 3.0),
    _s(Category.OUTBOUND_SEND, "publish post reply forward comment notify share upload tweet", 2.0),
    _s(Category.OUTBOUND_SEND, "email mail gmail sms slack webhook discord telegram whatsapp", 1.0),
    _s(Category.OUTBOUND_SEND, "to cc bcc subject recipients recipient channel webhook_url", 1.0, "body text message"),
    _s(Category.DATABASE_QUERY, _DB, 2.0),
    # "execute SQL" is a database call, not a shell.
    _s(Category.DATABASE_QUERY, "sql", 2.0),
    _s(Category.DATABASE_QUERY, "query queries select insert statement", 1.0, _DB),
    _s(Category.FILE_WRITE, "write writes edit save append create move rename copy mkdir patch overwrite", 2.0, _FILE),
    _s(Category.PRIVATE_DATA_READ, "read get list search fetch find view retrieve show query", 1.0, _PRIVATE),
    _s(Category.PRIVATE_DATA_READ, _PRIVATE, 1.0, "read get list search fetch find view retrieve show query"),
    _s(Category.NETWORK_FETCH, "fetch http https url urls web webpage website browse browser download scrape", 2.0),
    _s(Category.NETWORK_FETCH, "crawl curl navigate request requests endpoint api", 1.0),
    _s(Category.FILE_READ, "read reads cat view open head tail grep glob contents content", 2.0, _FILE),
    _s(Category.FILE_READ, "list ls search find tree stat", 1.0, _FILE),
    _s(
        Category.READ_ONLY,
        "weather time date calculator calculate math convert translate lookup echo ping status version"
        " describe documentation info count summarize format validate random uuid timezone forecast dictionary",
        1.0,
    ),
    _s(Category.READ_ONLY, "get list search", 0.5),
)

# Ties go to the category whose mistakes cost most.
RISK_ORDER: tuple[Category, ...] = (
    Category.SHELL_EXEC,
    Category.PAYMENT,
    Category.IDENTITY_ADMIN,
    Category.CREDENTIAL_STORE,
    Category.FILE_DELETE,
    Category.OUTBOUND_SEND,
    Category.DATABASE_QUERY,
    Category.FILE_WRITE,
    Category.PRIVATE_DATA_READ,
    Category.NETWORK_FETCH,
    Category.FILE_READ,
    Category.READ_ONLY,
)

_WORD_LIST = re.compile(r"[a-z]+")
# Verbs that say a tool changes something: such a tool is never `read_only`, whatever else its name says.
_CHANGING = frozenset(
    _WORD_LIST.findall(
        "update updates set change changes edit modify create add delete remove reset grant assign revoke enable"
        " disable reserve book cancel write post put patch move rename replace upload install uninstall approve submit"
    )
)

SOURCE = "rules"
_NAME_WEIGHT = 2.0
_MAX_TEXT = 4000
_MAX_PROPERTIES = 100
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+")
_RANK = {category: index for index, category in enumerate(RISK_ORDER)}


def tokens(text: str) -> set[str]:
    """Lower-case words of `text`, splitting camelCase, snake_case, kebab-case and dots."""
    return set(_WORD.findall(_CAMEL.sub(" ", text[:_MAX_TEXT]).lower()))


def _schema_words(schema: Mapping[str, Any]) -> set[str]:
    words: set[str] = set()
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for index, (name, sub) in enumerate(properties.items()):
            if index >= _MAX_PROPERTIES:
                break
            words |= tokens(str(name))
            words.add(str(name).lower())
            if isinstance(sub, Mapping) and isinstance(sub.get("description"), str):
                words |= tokens(sub["description"])
    return words


def classify(name: str, description: str = "", input_schema: Mapping[str, Any] | None = None) -> tuple[Category, float]:
    """The category of a tool and a confidence between 0 and 1."""
    name_words = tokens(name)
    described_words = tokens(description)
    schema_words = _schema_words(input_schema or {})
    reach = {"all": described_words | schema_words, "described": described_words, "said": described_words}
    reach["name"] = set()
    every_word = name_words | described_words | schema_words
    said_words = name_words | described_words
    scores: dict[Category, float] = {}
    for signal in SIGNALS:
        context_words = said_words if signal.reach == _SAID else every_word
        if signal.context is not None and signal.context.isdisjoint(context_words):
            continue
        if not signal.terms.isdisjoint(name_words):
            scores[signal.category] = scores.get(signal.category, 0.0) + signal.weight * _NAME_WEIGHT
        elif not signal.terms.isdisjoint(reach[signal.reach]):
            scores[signal.category] = scores.get(signal.category, 0.0) + signal.weight
    if not scores:
        return Category.UNKNOWN, 0.0
    ranked = sorted(scores.items(), key=lambda item: (-item[1], _RANK[item[0]]))
    best, top = ranked[0]
    if best is Category.READ_ONLY and not _CHANGING.isdisjoint(name_words):
        # `update_user_info`: "info" sounds harmless, "update" changes something nothing else placed.
        return Category.UNKNOWN, 0.0
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    margin = (top - runner_up) / top
    strength = min(1.0, top / 6.0)
    return best, round(0.5 + 0.45 * margin * strength, 2)


def classify_tool(tool: ToolDescription) -> Classification:
    category, confidence = classify(tool.name, tool.description, tool.input_schema)
    return Classification(name=tool.name, category=category.value, source=SOURCE, confidence=confidence)
