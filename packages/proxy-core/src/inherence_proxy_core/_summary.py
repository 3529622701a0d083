"""A call in one short line a person can judge: the arguments that matter, secrets masked.

What a human is shown when the policy asks them to confirm a call. It holds no policy logic:
it picks the arguments a person needs to decide (who gets paid and how much, which path,
which command, which address) and hides anything shaped like a credential, so the question
can be shown, logged or read aloud without leaking one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MASK", "mask_text", "summarize_arguments"]

MASK = "***"
_MAX_VALUE = 80
_MAX_SHOWN = 6
_MAX_DEPTH = 4

# Argument names a person needs to judge a consequential call, in the order they are shown.
_MATTERS = re.compile(
    r"recipient|payee|beneficiary|destination|^to$|^to_|_to$|account|iban|amount|currency|total|price|"
    r"path|file|folder|dir|command|cmd|script|url|uri|address|host|domain|endpoint|email|repo|user|role|"
    r"member|invite|share|permission",
    re.IGNORECASE,
)
_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|apikey|auth|cookie|credential|private[_-]?key|"
    r"access[_-]?key|signature|otp|mfa|totp|pin$|cvv|cvc|card[_-]?number|seed|mnemonic",
    re.IGNORECASE,
)
# Shapes of credentials: provider key prefixes, JWTs, bearer headers, PEM keys, and long
# unbroken runs of letters mixed with digits such as a raw hex or base62 token.
_SECRET_SHAPE = re.compile(
    r"\binh_[A-Za-z0-9_-]{8,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\b(?:gh[pousr]_|github_pat_|glpat-|xox[abpors]-|npm_|pypi-|sk-|[rs]k_(?:live|test)_)[A-Za-z0-9_-]{10,}"
    r"|\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}"
    r"|\b(?:Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]{32,}\b"
)
_SECRET_RULE_WORDS = ("secret", "credential", "token", "password")


def mask_text(text: str) -> str:
    """`text` with every credential-shaped part replaced by `***`."""
    return _SECRET_SHAPE.sub(MASK, text)


def _masked(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if depth >= _MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {
            str(key): MASK if _SECRET_NAME.search(str(key)) else _masked(item, depth + 1)
            for key, item in list(value.items())[:_MAX_SHOWN]
        }
    if isinstance(value, list):
        return [_masked(item, depth + 1) for item in value[:_MAX_SHOWN]]
    return value


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(_masked(value), separators=(",", ":"), default=str)
    text = mask_text(text) if isinstance(value, str) else text
    text = " ".join(text.split())
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def about_secrets(rule: str | None, clauses: Iterable[Any]) -> bool:
    """Whether the policy's finding is itself about a secret: then no argument value is shown."""
    names = [rule or "", *(str(clause) for clause in clauses)]
    return any(word in name.lower() for name in names for word in _SECRET_RULE_WORDS)


def summarize_arguments(arguments: dict[str, Any], *, hide_values: bool = False) -> str:
    """`name: value, ...` of the arguments that matter (the first few when none is recognised)."""
    keys = [key for key in arguments if _MATTERS.search(str(key))] or list(arguments)
    parts = []
    for key in keys[:_MAX_SHOWN]:
        name = " ".join(str(key).split())[:40]
        value = arguments[key]
        if hide_values or _SECRET_NAME.search(name):
            parts.append(f"{name}: {MASK}")
        else:
            parts.append(f"{name}: {_shown(value)}")
    if len(keys) > _MAX_SHOWN:
        parts.append(f"and {len(keys) - _MAX_SHOWN} more")
    return ", ".join(parts)
