"""Every string in a call's arguments, at any depth, in the forms the rules match against.

Traversal is bounded: arguments that nest deeper, hold more values or more text than the
limits are marked `beyond_limits`, and the engine treats that as suspicious, never as safe.
The limits keep the worst case of one call to a few milliseconds of analysis: past them a
call is denied unread rather than searched for a second.
Each string is kept raw (secrets are case-sensitive) and folded (NFKC, casefolded) and,
when it is percent-encoded or a base64 blob that decodes to text, once more decoded.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import re
import unicodedata
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["CONTENT_KEYS", "ArgumentText", "TextValue", "extract_text", "fold", "name_words"]

# Prose fields: what a call carries, read by fewer rules (and so cheaper) than the rest.
CONTENT_KEYS = frozenset(
    {"body", "content", "text", "message", "html", "markdown", "description", "subject", "comment", "note", "notes",
     "memo", "title", "summary", "prompt", "caption", "contents", "blocks", "data", "payload", "json", "form",
     "attachment", "attachments", "reason", "statement_descriptor",
     # What editing tools carry: file bodies and replacement text, often tens of kilobytes.
     "file_text", "new_string", "old_string", "newtext", "oldtext", "new_text", "old_text", "patch", "diff"}
)  # fmt: skip

MAX_DEPTH = 48
MAX_VALUES = 4_000
MAX_TOTAL_CHARS = 256 * 1024
MAX_STRING_CHARS = MAX_TOTAL_CHARS
# Text outside prose fields is searched as commands, URLs, paths and SQL: a tighter budget,
# where each string or key also counts `_STRING_COST` characters for the work done per value.
MAX_SCANNED_CHARS = 64 * 1024
_STRING_COST = 16
MAX_DECODED = 32

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_FORM_SPACE = re.compile(r"[A-Za-z0-9.,]\+[A-Za-z0-9%]")
_BASE64_WHOLE = re.compile(r"^[A-Za-z0-9+/_-]{16,}={0,2}$")
_BASE64_EMBEDDED = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}(?![A-Za-z0-9+/=_-])")


@dataclasses.dataclass(frozen=True)
class TextValue:
    """One string of the arguments. `key` is the nearest enclosing key, folded; `derived` says how it was decoded."""

    path: tuple[str | int, ...]
    key: str
    raw: str
    folded: str
    is_key: bool = False
    derived: str = ""


@dataclasses.dataclass
class ArgumentText:
    """The strings, numbers and keys of one call's arguments."""

    values: list[TextValue] = dataclasses.field(default_factory=list)
    numbers: list[tuple[tuple[str | int, ...], str, float]] = dataclasses.field(default_factory=list)
    beyond_limits: list[str] = dataclasses.field(default_factory=list)

    def strings(self, *, keys: bool = False) -> Iterator[TextValue]:
        return (value for value in self.values if keys or not value.is_key)


def fold(text: str) -> str:
    """NFKC then casefold: full-width letters, ligatures and case no longer hide a word."""
    return unicodedata.normalize("NFKC", text).casefold()


def extract_text(arguments: Mapping[str, Any]) -> ArgumentText:
    """Walk `arguments` breadth-limited and depth-limited; never raises on JSON-shaped input."""
    found = ArgumentText()
    budget = [MAX_VALUES, MAX_TOTAL_CHARS, MAX_DECODED, MAX_SCANNED_CHARS]
    stack: list[tuple[Any, tuple[str | int, ...], str, int]] = [(arguments, (), "", 0)]
    # Past any limit the call is denied unread, so the walk stops at the first.
    while stack and not found.beyond_limits:
        node, path, key, depth = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            found.beyond_limits.append(f"more than {MAX_VALUES} values")
            break
        if depth > MAX_DEPTH:
            found.beyond_limits.append(f"nested deeper than {MAX_DEPTH} levels")
            continue
        if type(node) is str:
            # The common case first: a plain string is no mapping or list, and the abstract checks cost.
            _add_string(found, node, path, key, budget)
            continue
        # A plain dict or list is told by its type, without the abstract `Mapping` check.
        kind = type(node)
        mapping = kind is dict or (kind is not list and isinstance(node, Mapping))
        if (mapping or isinstance(node, (list, tuple))) and len(node) > budget[0]:
            # Counted before walking, so a long list costs nothing to refuse.
            found.beyond_limits.append(f"more than {MAX_VALUES} values")
            break
        if mapping:
            for child_key, child in node.items():
                name = str(child_key)
                budget[3] -= len(name) + _STRING_COST
                if budget[3] < 0:
                    found.beyond_limits.append(f"more than {MAX_SCANNED_CHARS} characters outside prose fields")
                    break
                folded_name = fold(name)
                found.values.append(TextValue(path, key, name, folded_name, is_key=True))
                stack.append((child, (*path, name), folded_name, depth + 1))
        elif isinstance(node, (list, tuple)):
            stack.extend((child, (*path, index), key, depth + 1) for index, child in enumerate(node))
        elif isinstance(node, str):
            _add_string(found, node, path, key, budget)
        elif isinstance(node, bool) or node is None:
            continue
        elif isinstance(node, (int, float)):
            found.numbers.append((path, key, float(node)))
        else:
            _add_string(found, str(node), path, key, budget)
    found.values.reverse()
    return found


def _add_string(found: ArgumentText, text: str, path: tuple[str | int, ...], key: str, budget: list[int]) -> None:
    if len(text) > MAX_STRING_CHARS:
        found.beyond_limits.append(f"a string of more than {MAX_STRING_CHARS} characters")
        text = text[:MAX_STRING_CHARS]
    budget[1] -= len(text)
    if budget[1] < 0:
        found.beyond_limits.append(f"more than {MAX_TOTAL_CHARS} characters in all")
        return
    if key not in CONTENT_KEYS:
        budget[3] -= len(text) + _STRING_COST
        if budget[3] < 0:
            found.beyond_limits.append(f"more than {MAX_SCANNED_CHARS} characters outside prose fields")
            return
    found.values.append(TextValue(path, key, text, fold(text)))
    for how, decoded in _decodings(text, budget):
        found.values.append(TextValue(path, key, decoded, fold(decoded), derived=how))


def _decodings(text: str, budget: list[int]) -> Iterator[tuple[str, str]]:
    if "%" in text and _PERCENT.search(text):
        once = urllib.parse.unquote(text)
        twice = urllib.parse.unquote(once)
        yield "url", twice
    if "=" in text and _FORM_SPACE.search(text) and " " not in text:
        yield "form", urllib.parse.unquote_plus(text)  # `a=Jonas+Keller`: a form body or query, `+` a space
    if len(text) < 24 or budget[2] <= 0:
        return
    candidates = [text.strip()] if _BASE64_WHOLE.match(text.strip()) else _BASE64_EMBEDDED.findall(text)
    for candidate in candidates[: budget[2]]:
        budget[2] -= 1
        decoded = decode_base64_text(candidate)
        if decoded is not None:
            yield "base64", decoded


def decode_base64_text(blob: str) -> str | None:
    """The text a base64 (or base64url) blob stands for, or None when it is not printable text."""
    padded = blob.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not decoded or sum(char.isprintable() or char in "\n\r\t" for char in decoded) < 0.95 * len(decoded):
        return None
    return decoded


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_LETTERS = re.compile(r"[a-z]+")


@functools.lru_cache(maxsize=4096)
def name_words(name: str) -> frozenset[str]:
    """The lower-case words of a tool's name, camelCase split: `VenmoSendMoney` is venmo, send, money."""
    return frozenset(_LETTERS.findall(_CAMEL_BOUNDARY.sub(" ", name).lower()))
