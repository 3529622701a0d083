"""Secret formats of the major providers, recognised in any outbound payload.

The formats are the token entries of the one table in `_secret_formats`, which the decision
log masks by too: what a rule calls a secret is never stored.
"""

from __future__ import annotations

from inherence_policy_server.rules._secret_formats import detected_formats

__all__ = ["SecretMatch", "find_secrets"]

SecretMatch = tuple[str, tuple[str, ...]]


def find_secrets(text: str) -> list[SecretMatch]:
    """(what, issuer hosts) for each secret format found in `text`."""
    return [(entry.label, entry.issuers) for entry in detected_formats(text)]
