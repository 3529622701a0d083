"""API keys: `inh_<id>_<secret>`, kept only as a salted HMAC-SHA256 digest, checked in constant time.

The id part lets the server find the one stored digest to compare without trusting the secret;
`keys list` shows the id and the first characters of the key, never the secret.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import re
import secrets

__all__ = ["DEFAULT_TENANT", "ApiKeyRecord", "IssuedKey", "issue_key", "parse_key", "verify_secret"]

# The tenant of every key created without one, of the embedded server, and of state kept before tenants.
DEFAULT_TENANT = "default"

KEY_PREFIX = "inh_"
_KEY_SHAPE = re.compile(r"^inh_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")
# Compared against when the id is unknown, so a miss costs the same as a wrong secret.
_DUMMY_SALT = b"\x00" * 16
_DUMMY_DIGEST = hmac.new(_DUMMY_SALT, b"", hashlib.sha256).digest()


@dataclasses.dataclass(frozen=True)
class ApiKeyRecord:
    """What the storage keeps of a key: never the key itself."""

    key_id: str
    prefix: str
    salt: bytes
    digest: bytes
    created_at: datetime.datetime
    revoked_at: datetime.datetime | None = None
    label: str = ""
    tenant: str = DEFAULT_TENANT

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclasses.dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret_key` is shown to the person once and then forgotten."""

    secret_key: str
    record: ApiKeyRecord

    def __repr__(self) -> str:
        return f"IssuedKey(key_id={self.record.key_id!r}, secret_key=<hidden>)"


def _digest(salt: bytes, key: str) -> bytes:
    return hmac.new(salt, key.encode("utf-8"), hashlib.sha256).digest()


def issue_key(now: datetime.datetime, label: str = "", tenant: str = DEFAULT_TENANT) -> IssuedKey:
    """A fresh random key of `tenant` and the record to store for it."""
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    salt = secrets.token_bytes(16)
    record = ApiKeyRecord(
        key_id=key_id,
        prefix=key[: len(KEY_PREFIX) + 12 + 5],
        salt=salt,
        digest=_digest(salt, key),
        created_at=now,
        tenant=tenant,
    )
    if label:
        record = dataclasses.replace(record, label=label)
    return IssuedKey(secret_key=key, record=record)


def parse_key(presented: str) -> str | None:
    """The key id of a well-formed key, or None."""
    match = _KEY_SHAPE.match(presented)
    return match.group(1) if match else None


def verify_secret(presented: str, record: ApiKeyRecord | None) -> bool:
    """True when `presented` is the key of an active `record`; the same work whether or not it is."""
    if record is None:
        hmac.compare_digest(_digest(_DUMMY_SALT, presented), _DUMMY_DIGEST)
        return False
    matches = hmac.compare_digest(_digest(record.salt, presented), record.digest)
    return matches and record.active
