"""Secrets out of stored arguments: the decision log keeps the shape of a call, not its tokens.

A value is masked whole, whatever its shape (text, number, list, object), when its key names a
secret (`password`, `api_key`, `authorization`, ...). In text, every secret of the one table of
secret formats (`rules._secret_formats`: what the rules detect, plus the forms known by where
they sit, such as `--password=`, URL user info and `?token=`) is masked. Long strings, deep
nesting and long lists are cut, so one call can never bloat the log. NaN and the infinities,
which JSON cannot carry, are stored as text.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from inherence_policy_server.rules._secret_formats import SECRET_KEY_NAME, mask_secrets

__all__ = ["MASK", "mask_arguments", "mask_text"]

MASK = "***"
_MAX_STRING = 2048
# Text past the cut is still searched this far, so a secret that starts before the cut is seen whole.
_LOOK_PAST = 1024
_MAX_ITEMS = 200
_MAX_DEPTH = 16
# The start of a token cut off at the bound: no pattern could see it whole, so it is not kept.
_CUT_TOKEN = re.compile(r"[A-Za-z0-9+/=_.~-]{8,}\Z")
# Argument keys repeat from call to call of a tool: each short one is masked and judged once.
_MEMO_KEY = 128


def mask_text(text: str) -> str:
    """`text` with every secret masked, cut to a bounded length."""
    if len(text) <= _MAX_STRING:
        return mask_secrets(text, MASK)
    masked = mask_secrets(text[: _MAX_STRING + _LOOK_PAST], MASK)
    head = masked[:_MAX_STRING]
    if masked[_MAX_STRING : _MAX_STRING + 1].strip():
        head = _CUT_TOKEN.sub(MASK, head)
    return head + f"...<{len(text) - _MAX_STRING} more characters>"


def _key_view(key: str) -> tuple[str, bool]:
    """A key masked, and whether it names a secret."""
    name = mask_text(key)
    return name, SECRET_KEY_NAME.search(name) is not None


_key = functools.lru_cache(maxsize=4096)(_key_view)


def _number(value: float) -> Any:
    return (
        value if math.isfinite(value) else ("NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity"))
    )


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
            name, secret_name = _key(key) if type(key) is str and len(key) <= _MEMO_KEY else _key_view(str(key))
            if secret_name and item is not None and not isinstance(item, bool):
                # Under a secret's name every shape is the secret: a list of tokens, an object of keys, a PIN.
                masked[name] = MASK
            else:
                masked[name] = mask_arguments(item, _depth + 1)
        return masked
    if isinstance(value, (list, tuple)):
        items = [mask_arguments(item, _depth + 1) for item in value[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            items.append(f"<{len(value) - _MAX_ITEMS} more items>")
        return items
    if isinstance(value, float):
        return _number(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    return mask_text(repr(value))
