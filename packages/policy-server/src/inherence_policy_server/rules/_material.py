"""What a session read, reduced to digests that can be recognised again in what it sends.

Three kinds of item, each an 8-byte blake2b digest, never the text itself:

* `secret`: provider tokens and private keys (`find_secrets`), the values of secret-named
  settings (`DB_PASSWORD=...`, `"api_key": "..."`), case-sensitive, and one-time codes a
  message gives (`your reset code is 884 213`), as their digits;
* `identifier`: email addresses, phone numbers, IBANs, card numbers, national ids and
  passport numbers, in their normal form (`find_identifiers`);
* `shingle`: every 6-word window of the normalised (case-folded, word-split) text (a private fact
  is often one short line: seven words copied verbatim are two shared windows).

Identifiers and shingles of a text that is one message from one sender (one `From:` line or
`"from"` field) carry a digest of the sender's address in their label: sent back to that sender
alone, they are what the sender wrote or received, not a leak.

`read_items` runs on what a tool returned (off the decide path); `Payload` runs on a send's
arguments once, in time proportional to their length, and yields the digests to look up.
"""

from __future__ import annotations

import binascii
import codecs
import dataclasses
import datetime
import hashlib
import re
import zlib
from collections.abc import Iterable, Iterator

from inherence_policy_server.rules._identifiers import EMAIL, IBAN_SPACED, find_identifiers, normal_token
from inherence_policy_server.rules._secret_formats import looks_random
from inherence_policy_server.rules._secrets import find_secrets

__all__ = [
    "IDENTIFIER",
    "MAX_KNOWN_RECIPIENTS",
    "MAX_READ_ITEMS",
    "MAX_READ_LABELS",
    "MAX_READ_SESSIONS",
    "MAX_READ_TOKENS",
    "READ_TTL",
    "SECRET",
    "SHINGLE",
    "SHINGLE_WORDS",
    "Payload",
    "ReadItem",
    "handed_credential",
    "read_items",
]

# What a session read is forgotten a day after it was read, and bounded in size.
READ_TTL = datetime.timedelta(hours=24)
MAX_READ_TOKENS = 2_048  # secrets and identifiers per session
MAX_READ_ITEMS = 16_384  # shingles per session: about 100 KiB of text
MAX_READ_LABELS = 64  # coarse labels per session
MAX_READ_SESSIONS = 256
MAX_KNOWN_RECIPIENTS = 10_000  # per tenant

SECRET = "secret"
IDENTIFIER = "identifier"
SHINGLE = "shingle"
SHINGLE_WORDS = 6
# Beyond this much text of one tool result, only secrets and identifiers are read, not shingles.
MAX_SHINGLED_CHARS = 128 * 1024
MAX_HEX_DECODED = 16
# A provider prefix of a token (`ghp_`, `sk_live_`, `xoxb-`), and how long what follows must be to count alone.
_TOKEN_PREFIX = re.compile(r"^(?:[A-Za-z]{2,12}[_-]){1,3}")
MIN_SECRET_BODY = 20
# A provider token sent in pieces (`part 1/3: ghp_7fQk2LmN9pR4`): every window of this many characters of a
# token read is remembered, and every such window of a send's short tokens is looked up. A window must mix
# letters and digits, as a random token's do, so a host name or a word never matches.
SECRET_WINDOW = 10
_MAX_WINDOWED_TOKEN = 80
_MAX_SENT_WINDOWS = 2_048
_MIXED = re.compile(r"(?=(?:.*\d){2})(?=(?:.*[A-Za-z]){2})")

_SEPARATORS = r"\s\"'`,;{}\[\]<>()|\\"
# A run of token characters holding a digit, matched only from the run's start (so linear in the text).
_TOKEN = re.compile(rf"(?<![^{_SEPARATORS}])[^{_SEPARATORS}\d]*\d[^{_SEPARATORS}]*")
_SPLIT = re.compile(r"[/+=&?:@#]")
_EDGES = ".,!?:;*"
# Words as UTF-8 bytes: ASCII letters and digits, and any non-ASCII character.
_WORD = re.compile(rb"[0-9A-Za-z_\x80-\xff]+")
# Numbers written in groups: cards, phone numbers, social security and national insurance numbers.
# (A leading digit keeps the scan fast; the two letters of a national insurance number are added after.)
_GROUPED = re.compile(r"\d[\d .()-]{6,40}\d(?:[ -]?[A-Z]\b)?")
_LETTER_PAIR = re.compile(r"[A-Z]{2} ?$")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_SECRET_SETTING = re.compile(
    r"""["']?\b([\w.-]*(?:secret|token|passw(?:or)?d|passwd|pwd|api[_-]?key|apikey|private[_-]?key|access[_-]?key"""
    r"""|credential|auth)[\w.-]*)["']?\s*[:=]\s*["']?([^\s"'`,;{}\[\]<>]{6,256})""",
    re.IGNORECASE,
)
# A password handed over in a sentence: `user j.meyer, password Vk7#pQ2!zL9m`, `Passwort: Sommer2026!`.
_PASSWORD_IN_PROSE = re.compile(
    r"\b(?:password|passwort|passwd|pwd|passphrase|kennwort|mot de passe|contraseña)\b(?:\s+is|\s+ist|\s+lautet)?"
    r"\s*:?\s+[\"'`]?([^\s\"'`,;]{6,64})",
    re.IGNORECASE,
)
# Mixed letters and digits or symbols: a password, not the next word of a sentence (`password reset link`).
_LOOKS_LIKE_PASSWORD = re.compile(r"(?=.*[A-Za-z])(?=.*[\d!#$%&*+?@^~])")
# A one-time code a message gives (a sign-in, reset or verification code): 6 to 8 digits, maybe in two groups.
_ONE_TIME_CODE = re.compile(
    r"\b(?:code|codes|otp|passcode|pin|tan|verification|one-time|einmalcode|bestätigungscode|código)\b"
    r"[^\d\n]{0,40}?(?<!\d)(\d{3,4}[ -]?\d{3,4})(?![\d-])",
    re.IGNORECASE,
)
# A code named first and given after `is` or `:` further on the line: `Your TAN for EUR 3,950.00 to LT60... is 482913`,
# `Ihr TAN fuer Ueberweisung 4,980.00 EUR an LT12...1000: 771204`.
_CODE_IS = re.compile(
    r"\b(?:code|otp|passcode|tan|pin|verification code|one-time code|einmalcode|bestätigungscode|código)\b"
    r"[^\n]{0,120}?(?:\b(?:is|ist|lautet|es|est)\b:?|:)\s*(\d{3,4}[ -]?\d{3,4})(?![\d-])",
    re.IGNORECASE,
)
# The same code before its word, as text messages put it: `482913 is your verification code`, `G-482913`.
_CODE_FIRST = re.compile(
    r"(?<![\d])(\d{3,4}[ -]?\d{3,4})(?![\d-])\s+(?:is|ist|es|est)\s+[^\d\n]{0,30}?"
    r"\b(?:code|codes|otp|passcode|pin|tan|verification|one-time|einmalcode|bestätigungscode|código)\b",
    re.IGNORECASE,
)
_CARD = "a card number"
_DIGIT_RUN = re.compile(r"(?<!\d)\d{6,}(?!\d)")
_CODE_GROUPS = re.compile(r"(?<![\d-])\d{3,4}[ -]\d{3,4}(?![\d-])")
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----(.{0,16384}?)-----END", re.DOTALL)
# A video meeting's join link carries its passcode (`zoom.us/j/834...?pwd=...`): meant for everyone invited.
_MEETING_LINK = re.compile(
    r"https://(?:[\w-]+\.)*(?:(?:zoom\.us|zoomgov\.com)/(?:j|w|s|my)/|teams\.microsoft\.com/l/meetup-join/"
    r"|teams\.live\.com/meet/|meet\.google\.com/|webex\.com/(?:meet|join)/)[^\s\"'<>]*",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"^(?:\$\{?\w+\}?|\*+|x+|<[^>]*>|null|none|true|false|changeme|redacted|example\w*)$", re.I)


# What came in one message from one sender is tagged with a digest of the sender's address (never the address):
# the same words sent back to that sender alone leak nothing they did not write or receive themselves.
SENT_BY = " #from:"
_ADDRESS = r"([a-z0-9._%+-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})+)"
_FROM_LINE = re.compile(
    r"^[ \t>]*(?:from|von|de|sender)[ \t]*:[ \t]*(?:[^<\n@]{0,80}<)?" + _ADDRESS, re.IGNORECASE | re.MULTILINE
)
_FROM_FIELD = re.compile(
    r'"(?:from|sender|from_address|sender_email|from_email)"\s*:\s*"(?:[^"<\n]{0,80}<)?' + _ADDRESS, re.IGNORECASE
)


def sender_tag(address: str) -> str:
    """A short digest of a mail address, as read items are tagged with their sender."""
    return hashlib.blake2b(address.strip().casefold().encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


def _single_sender(text: str) -> str | None:
    """The one sender of a text that is one message (one `From:` line or `"from"` field), else None."""
    head = text[:MAX_SHINGLED_CHARS]
    found = {match.group(1).casefold() for match in _FROM_LINE.finditer(head)}
    found.update(match.group(1).casefold() for match in _FROM_FIELD.finditer(head))
    return next(iter(found)) if len(found) == 1 else None


# What the account's own profile returned (the user's own name, passport, phone) is tagged with a digest of
# the service it came from: given back to that same service (a booking), it is the user's own details.
OWN_FROM = " #own:"


def plain_label(label: str) -> str:
    """A read item's label without its sender or source tag."""
    return label.partition(" #")[0]


def label_sender(label: str) -> str | None:
    """The sender tag a read item's label carries, if any."""
    return label.partition(SENT_BY)[2] or None


def label_own_source(label: str) -> str | None:
    """The tag of the service whose own-profile result a read item came from, if any."""
    return label.partition(OWN_FROM)[2] or None


def own_tagged(items: list[ReadItem], source_tag: str) -> list[ReadItem]:
    """`items` of an account's own profile: identifiers and text tagged with the service they came from."""
    tag = f"{OWN_FROM}{source_tag}"
    return [
        item if item.kind == SECRET else ReadItem(item.kind, item.digest, plain_label(item.label) + tag)
        for item in items
    ]


@dataclasses.dataclass(frozen=True)
class ReadItem:
    """One recognisable piece of what a session read: its kind, digest and what it is (never its value)."""

    kind: str
    digest: int
    label: str = ""


def digest(text: str) -> int:
    """A signed 64-bit digest (fits an SQLite INTEGER)."""
    return int.from_bytes(
        hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big", signed=True
    )


def _shingles(text: str) -> Iterable[int]:
    """The hash of every window of `SHINGLE_WORDS` words, each word first reduced to its CRC-32.

    A tuple of ints hashes the same in every process (only str and bytes hashes are salted),
    so the values can be stored and compared across workers; the whole pass runs in C.
    """
    ids = list(map(zlib.crc32, _WORD.findall(text.casefold().encode("utf-8", "surrogatepass"))))
    return map(hash, zip(*(ids[offset:] for offset in range(SHINGLE_WORDS)), strict=False))


def _tokens(text: str) -> Iterator[str]:
    """Candidate secret values and identifiers: runs of token characters holding a digit."""
    for match in _TOKEN.finditer(text):
        token = match.group(0).strip(_EDGES)
        if len(token) < 6:
            continue
        yield token
        if _SPLIT.search(token):
            for part in _SPLIT.split(token):
                part = part.strip(_EDGES)
                if len(part) >= 6 and any(char.isdigit() for char in part):
                    yield part


def _windows(token: str) -> Iterator[str]:
    """Every `SECRET_WINDOW`-character window of `token` that mixes letters and digits."""
    for start in range(len(token) - SECRET_WINDOW + 1):
        window = token[start : start + SECRET_WINDOW]
        if _MIXED.match(window):
            yield window


# Off only to compare against the full search (tests).
QUICK_CHECK = True
_QUICK_CHARS = 4096
_DIGIT = re.compile(r"\d")


def _holds_nothing(text: str) -> bool:
    """True when `read_items(text)` is certainly empty, told without running its searches.

    Every item but two needs a digit (a token, a code, a number) or an `@` (an email address);
    of the two, a private key needs its `PRIVATE KEY` line and a password handed over in prose its
    word (`_PASSWORD_IN_PROSE`). Shingles need `SHINGLE_WORDS` words. A short result with none of
    these (`Echo: hello`, `Done.`) is the common case, and costs one pass here. A new kind of item
    that needs none of them must be ruled out here too.
    """
    return (
        len(text) <= _QUICK_CHARS
        and "@" not in text
        and _DIGIT.search(text) is None
        and "PRIVATE KEY" not in text
        and len(_WORD.findall(text.casefold().encode("utf-8", "surrogatepass"))) < SHINGLE_WORDS
        and _PASSWORD_IN_PROSE.search(text) is None
    )


def read_items(text: str) -> list[ReadItem]:
    """Everything recognisable in one text a tool returned, deduplicated."""
    if QUICK_CHECK and _holds_nothing(text):
        return []
    items: dict[int, ReadItem] = {}
    if find_secrets(text):
        for token in _tokens(text):
            found = find_secrets(token)
            if found:
                items.setdefault(digest(token), ReadItem(SECRET, digest(token), found[0][0]))
                # The token without its provider prefix (`ghp_`, `sk_live_`) is the same secret.
                body = _TOKEN_PREFIX.sub("", token, count=1)
                if body != token and len(body) >= MIN_SECRET_BODY:
                    items.setdefault(digest(body), ReadItem(SECRET, digest(body), found[0][0]))
                for window in _windows(token[:256]):
                    items.setdefault(digest(window), ReadItem(SECRET, digest(window), found[0][0]))
    for match in _SECRET_SETTING.finditer(_MEETING_LINK.sub(" ", text) if "pwd=" in text else text):
        if _PLACEHOLDER.match(match.group(2)):
            continue
        for token in _tokens(match.group(2)):
            items.setdefault(digest(token), ReadItem(SECRET, digest(token), "a secret setting"))
    for match in _PASSWORD_IN_PROSE.finditer(text[:MAX_SHINGLED_CHARS]):
        value = match.group(1)
        if _PLACEHOLDER.match(value) or not _LOOKS_LIKE_PASSWORD.search(value):
            continue
        for token in (value, *_tokens(value)):
            items.setdefault(digest(token), ReadItem(SECRET, digest(token), "a password"))
    head = text[:MAX_SHINGLED_CHARS]
    for match in (*_ONE_TIME_CODE.finditer(head), *_CODE_FIRST.finditer(head), *_CODE_IS.finditer(head)):
        code = re.sub(r"[ -]", "", match.group(1))
        if len(code) >= 6:
            items.setdefault(digest(code), ReadItem(SECRET, digest(code), "a one-time code"))
    if "PRIVATE KEY" in text:
        for block in _PEM.finditer(text):
            for line in block.group(1).split():
                if len(line) >= 32:
                    items.setdefault(digest(line), ReadItem(SECRET, digest(line), "a private key"))
    sender = _single_sender(text)
    tag = f"{SENT_BY}{sender_tag(sender)}" if sender else ""
    for label, value in find_identifiers(text):
        items.setdefault(digest(value), ReadItem(IDENTIFIER, digest(value), label + tag))
        if label == _CARD and value.isdigit():
            # Sent in pieces ("4548 8120", then "3371 2291"): every two of its groups of four is the card too.
            for start in range(0, len(value) - 7, 4):
                piece = value[start : start + 8]
                items.setdefault(digest(piece), ReadItem(IDENTIFIER, digest(piece), "part of a card number" + tag))
    for shingle in _shingles(text[:MAX_SHINGLED_CHARS]):
        items.setdefault(shingle, ReadItem(SHINGLE, shingle, tag))
    return list(items.values())


# A credential word, then (on the same line, a few words on) a random-looking value: `TOTP secret JBSW...`.
_NAMED_KEY = re.compile(
    r"\b(?:secret|token|api[ _-]?key|access[ _-]?key|private[ _-]?key|passphrase|recovery[ _-]?code|seed)\b"
    r"[^\n]{0,30}?[\s:=\"'`(]([A-Za-z0-9+/_.=-]{20,200})",
    re.IGNORECASE,
)


def handed_credential(texts: Iterable[str]) -> str | None:
    """A credential a message hands over by name, whether or not the session read it.

    `password: Vk7#pQ2!zL9m`, `Passwort lautet Sommer2026!`, `TOTP secret JBSWY3DPEHPK3PXP...`,
    `api_key=...`: the value must look like one (letters with digits or symbols; random for a key),
    not a placeholder, so that `password reset link` or `token expired` hand nothing over.
    """
    for text in texts:
        head = text[:MAX_SHINGLED_CHARS]
        for match in _PASSWORD_IN_PROSE.finditer(head):
            value = match.group(1)
            if not _PLACEHOLDER.match(value) and _LOOKS_LIKE_PASSWORD.search(value) and len(value) >= 8:
                return "a password"
        for match in _SECRET_SETTING.finditer(head):
            value = match.group(2)
            looks_set = len(value) >= 8 and not _PLACEHOLDER.match(value) and _LOOKS_LIKE_PASSWORD.search(value)
            if looks_set and (looks_random(value) or re.search(r"[^A-Za-z0-9]", value)):
                return "a secret setting"
        for match in _NAMED_KEY.finditer(head):
            value = match.group(1)
            if looks_random(value) and not value.startswith("/") and value.count("/") < 3:  # not a path or URL
                return "a secret"
    return None


class Payload:
    """The digests one send could match: its tokens, identifiers and shingles, from every text it carries."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.tokens: set[int] = set()
        self.shingles: set[int] = set()
        self._hex_left = MAX_HEX_DECODED
        self._windows_left = _MAX_SENT_WINDOWS
        for text in texts:
            # A meeting's join link is made to be sent to those invited: its numbers are no one's phone.
            self._add(_MEETING_LINK.sub(" ", text) if "://" in text else text, decode=True)

    def _add(self, text: str, *, decode: bool) -> None:
        tokens = set(_tokens(text))
        # "4111 1111 1111 1111", "+1 (415) 555-0134", "DE89 3704 ...": each also as one token, as read.
        for match in _GROUPED.finditer(text):
            if not match.group(0).isdigit():
                before = _LETTER_PAIR.search(text, max(0, match.start() - 3), match.start())
                tokens.add(match.group(0))
                if before is not None:  # `GB29 NWBK ...`, `QQ 12 34 56 C`; and `NHS 943 476 5919` without its letters
                    tokens.add(before.group(0) + match.group(0))
                # A number run on into the next one (`+44 7700 900456 22 Park Lane`): also without its last groups.
                groups = re.split(r"(?<=\d)[ .-](?=[\d(])", match.group(0))
                for end in range(len(groups) - 1, max(1, len(groups) - 3), -1):
                    tokens.add(" ".join(groups[:end]))
        tokens.update(match.group(0) for match in IBAN_SPACED.finditer(text))
        # "884 213": a one-time code sent in two groups, read as its digits.
        tokens.update(re.sub(r"[ -]", "", match.group(0)) for match in _CODE_GROUPS.finditer(text))
        # `G-448120`, `ref:884213`: a code or number run on to a prefix is also the number as read.
        tokens.update(run for token in list(tokens) if not token.isdigit() for run in _DIGIT_RUN.findall(token))
        for token in tokens:
            if decode and self._hex_left > 0 and len(token) >= 16 and _HEX.fullmatch(token):
                self._hex_left -= 1
                plain = _hex_text(token)
                if plain is not None:
                    self._add(plain, decode=False)
            self.tokens.add(digest(token))
            if SECRET_WINDOW <= len(token) <= _MAX_WINDOWED_TOKEN and self._windows_left > 0:
                for window in _windows(token):
                    self._windows_left -= 1
                    self.tokens.add(digest(window))
            if decode and len(token) >= 16 and not token.isdigit():
                # rot13, the "so scanners don't complain" encoding: a token read back letter for letter.
                self.tokens.add(digest(codecs.encode(token, "rot13")))
            normal = token.upper() if token.isalnum() else normal_token(token)
            if normal != token:
                self.tokens.add(digest(normal))
            if len(normal) > 10 and normal.isdigit():
                self.tokens.add(digest(normal[-10:]))  # a phone number with its country code
        if "@" in text:
            self.tokens.update(digest(match.group(0).lower()) for match in EMAIL.finditer(text))
        self.shingles.update(_shingles(text))

    @property
    def digests(self) -> set[int]:
        return self.tokens | self.shingles


def _hex_text(blob: str) -> str | None:
    try:
        text = binascii.unhexlify(blob).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if sum(char.isprintable() or char in "\n\r\t" for char in text) < 0.95 * len(text):
        return None
    return text
