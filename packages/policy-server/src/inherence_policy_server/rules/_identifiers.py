"""Personal and financial identifiers found in text, each in one normal form.

Email addresses, phone numbers, IBANs (checksum), card numbers (Luhn), and a few national
id and passport formats. The normal form is what two spellings of one identifier share
("DE89 3704 0044 0532 0130 00" and "de89370400440532013000"), so an identifier read in one
place is recognised when it is sent in another.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["EMAIL", "IBAN_SPACED", "find_identifiers", "normal_token"]

EMAIL = re.compile(r"[a-z0-9._%+'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", re.IGNORECASE)
# An IBAN written in groups of four, as people write it (the compact form is one token anyway).
IBAN_SPACED = re.compile(r"\b[A-Z]{2}\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
# A card number as cards print it (four groups of four, the first digit a card network's) right after a word that
# names a card: a card even when its check digit is off (a number copied wrong is still the card's).
_PRINTED_CARD = re.compile(r"[2-6]\d{3}([ -])\d{4}\1\d{4}\1\d{4}")
_CARD_WORD = re.compile(
    r"\b(?:card|visa|mastercard|amex|maestro|tarjeta|carte|karte|kreditkarte|carta|cartão|kaart|karta)\b", re.I
)


def _named_card(text: str, match: re.Match[str]) -> bool:
    return bool(_PRINTED_CARD.fullmatch(match.group(0))) and bool(
        _CARD_WORD.search(text, max(0, match.start() - 40), match.start())
    )


_CARD = re.compile(r"(?<![\d-])\d{4}(?:[ -]?\d{3,4}){2,3}(?:[ -]?\d{1,4})?(?![\d-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}(?![\w-])")
# Numbers written the way other countries group them: `+47 912 34 567`, `+33 6 12 34 56 78`, `07700 900456`.
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]\d{1,4}){2,6}(?![\w-])")
_PHONE_TRUNK = re.compile(r"(?<![\w+-])0\d{3,4}[ .-]\d{5,7}(?![\w-])")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_NINO = re.compile(r"\b(?![DFIQUV])[A-CEGHJ-PR-TW-Z](?![DFIQUVO])[A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_DNI = re.compile(r"\b[XYZ]?\d{7,8}-?[A-Z]\b")
# The label in the languages passports are written in: `Passeport N°`, `Reisepass-Nr.`, `旅券番号`, `护照号码`.
_PASSPORT_WORDS = (
    "passport|passeport|pasaporte|passaporto|passaporte|reisepass|paspoort|paszport|pasaport|паспорт"
    "|旅券|パスポート|护照|護照|여권"
)
_PASSPORT = re.compile(
    rf"(?:{_PASSPORT_WORDS})\W{{0,4}}(?:no\.?|nr\.?|n°|n\.°|num|number|numéro|nummer|número|numero|番号|号码|號碼|번호|#)?"
    r"\W{0,3}((?=[A-Z]{0,8}\d)[A-Z0-9]{6,9})\b",
    re.I,
)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_GATE = re.compile(rf"\d{{3}}|\d\d \d\d|\+\d|{_PASSPORT_WORDS}", re.IGNORECASE)


def normal_token(text: str) -> str:
    """Letters and digits only, upper case: the form identifiers and tokens are compared in."""
    return _NOT_ALNUM.sub("", text).upper()


def _iban_valid(text: str) -> bool:
    if not 15 <= len(text) <= 34:
        return False
    moved = text[4:] + text[:4]
    digits = "".join(str(int(char, 36)) for char in moved)
    return int(digits) % 97 == 1


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _dni_valid(text: str) -> bool:
    number = text[:-1].replace("-", "")
    number = number.translate(str.maketrans("XYZ", "012"))
    return number.isdigit() and _DNI_LETTERS[int(number) % 23] == text[-1]


def find_identifiers(text: str) -> Iterator[tuple[str, str]]:
    """(what, normal form) for each identifier in `text`; emails in lower case, the rest by `normal_token`."""
    if "@" in text:
        for match in EMAIL.finditer(text):
            yield "an email address", match.group(0).lower()
    if not _GATE.search(text):
        return
    upper = text.upper() if any(char.islower() for char in text) else text
    for match in _IBAN.finditer(upper):
        compact = match.group(0).replace(" ", "")
        if _iban_valid(compact):
            yield "an IBAN", compact
    for match in _CARD.finditer(text):
        digits = normal_token(match.group(0))
        if 13 <= len(digits) <= 19 and (_luhn_valid(digits) or _named_card(text, match)):
            yield "a card number", digits
    for match in _SSN.finditer(text):
        yield "a social security number", normal_token(match.group(0))
    for match in _NINO.finditer(upper):
        yield "a national insurance number", normal_token(match.group(0))
    for match in _DNI.finditer(upper):
        if _dni_valid(match.group(0)):
            yield "a national id number", normal_token(match.group(0))
    for match in _PASSPORT.finditer(text):
        number = match.group(1).upper()
        if any(char.isdigit() for char in number):
            yield "a passport number", number
    for match in _PHONE.finditer(text):
        digits = normal_token(match.group(0))
        if 10 <= len(digits) <= 15:
            yield "a phone number", digits[-10:]
    for pattern in (_PHONE_INTERNATIONAL, _PHONE_TRUNK):
        for match in pattern.finditer(text):
            digits = normal_token(match.group(0))
            if 10 <= len(digits) <= 15:
                yield "a phone number", digits[-10:]
