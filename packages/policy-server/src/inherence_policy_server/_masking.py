"""Secrets out of stored arguments: the decision log keeps the shape of a call, not its tokens.

A value is masked when its key names a secret (`password`, `api_key`, `authorization`, ...)
or when the string itself looks like a credential (provider token formats, private keys,
bearer headers, `inh_` keys, JWTs). Long strings, deep nesting and long lists are cut, so one
call can never bloat the log.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "mask_arguments", "mask_text"]

MASK = "***"
_MAX_STRING = 2048
_MAX_ITEMS = 200
_MAX_DEPTH = 16

_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|apikey|auth(orization)?|cookie|credential|private[_-]?key"
    r"|session[_-]?key|access[_-]?key|client[_-]?secret|signature|otp|mfa[_-]?code|pin$|cvv|cvc|card[_-]?number",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"inh_[A-Za-z0-9_-]{8,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\b(AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}\b|\bgithub_pat_[A-Za-z0-9_]{20,}\b"
    r"|\bglpat-[A-Za-z0-9_-]{20,}\b"
    r"|\bsk-(ant-|proj-)?[A-Za-z0-9_-]{16,}\b|\b[rs]k_(live|test)_[A-Za-z0-9]{16,}\b"
    r"|\bxox[abpors]-[A-Za-z0-9-]{10,}\b"
    r"|\bAIza[0-9A-Za-z_-]{35}\b|\bya29\.[0-9A-Za-z_-]{20,}\b"
    r"|\bnpm_[A-Za-z0-9]{36}\b|\bpypi-[A-Za-z0-9_-]{40,}\b"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|(?i:(password|passwd|secret|token|api[_-]?key)\s*[=:]\s*)[^\s&\"',;]{4,}",
)
# Every match of `_SECRET_VALUE` contains one of these literally, or (the case-insensitive
# assignment form) one of `_FOLDED_ANCHORS` in lower case next to a `=` or `:`. Checking them
# first costs a few substring searches; the pattern itself costs about 0.2 µs a character.
_CASED_ANCHORS = (
    "inh_", "-----BEGIN ", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "sk-",
    "k_live_", "k_test_", "xox", "AIza", "ya29.", "npm_", "pypi-", "eyJ", "Bearer", "Basic", "Token",
)  # fmt: skip
_FOLDED_ANCHORS = ("pass", "secret", "token", "api")


def mask_text(text: str) -> str:
    """`text` with every credential-looking run replaced by the mask, cut to a bounded length."""
    if len(text) > _MAX_STRING:
        text = text[:_MAX_STRING] + f"...<{len(text) - _MAX_STRING} more characters>"
    return _SECRET_VALUE.sub(MASK, text) if _may_hold_secret(text) else text


def _may_hold_secret(text: str) -> bool:
    """False only when `_SECRET_VALUE` cannot match `text`."""
    if any(anchor in text for anchor in _CASED_ANCHORS):
        return True
    if "=" not in text and ":" not in text:
        return False
    # Case-insensitive matching lets a few non-ASCII letters (long s, Kelvin sign, dotless i) stand for ASCII ones.
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(anchor in lowered for anchor in _FOLDED_ANCHORS)


def mask_arguments(value: Any, _depth: int = 0) -> Any:
    """A JSON-safe copy of `value` with secrets masked and size bounded."""
    if _depth > _MAX_DEPTH:
        return "<nested too deep>"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        masked: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= _MAX_ITEMS:
                masked["..."] = f"<{len(value) - _MAX_ITEMS} more keys>"
                break
            name = mask_text(str(key))
            if _SECRET_KEY.search(name) and item is not None and not isinstance(item, (bool, dict, list)):
                masked[name] = MASK
            else:
                masked[name] = mask_arguments(item, _depth + 1)
        return masked
    if isinstance(value, (list, tuple)):
        items = [mask_arguments(item, _depth + 1) for item in value[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            items.append(f"<{len(value) - _MAX_ITEMS} more items>")
        return items
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return mask_text(repr(value))
