"""Secret formats of the major providers, recognised in any outbound payload.

Each pattern is specific enough (fixed prefix, length, alphabet) that prose does not
match it; the issuer's hosts are listed so that a token sent to its own API is not
mistaken for a leak.
"""

from __future__ import annotations

import re

__all__ = ["SecretMatch", "find_secrets"]

SecretMatch = tuple[str, tuple[str, ...]]

_SECRET_FORMATS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"), ("amazonaws.com",)),
    (
        "an AWS secret access key",
        re.compile(r"aws_secret_access_key\s*[=:]\s*\S{40}", re.IGNORECASE),
        ("amazonaws.com",),
    ),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b"), ("github.com",)),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), ("gitlab.com",)),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), ("slack.com",)),
    ("a Slack webhook", re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"), ()),
    ("a Stripe secret key", re.compile(r"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}\b"), ("stripe.com",)),
    ("an Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"), ("anthropic.com",)),
    (
        "an OpenAI API key",
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}"),
        ("openai.com",),
    ),
    ("an OpenAI API key", re.compile(r"\bsk-proj-[A-Za-z0-9_-]{40,}"), ("openai.com",)),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), ("googleapis.com", "google.com")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), ()),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"), ()),
    ("an npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), ("npmjs.org", "npmjs.com")),
    ("a PyPI token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{50,}"), ("pypi.org",)),
    ("an Inherence API key", re.compile(r"\binh_[A-Za-z0-9_-]{24,}\b"), ("inherencelabs.com",)),
)


# One cheap pass decides whether the specific patterns need to run at all.
_GATE = re.compile(
    r"AKIA|ASIA|ABIA|ACCA|aws_secret|gh[pousr]_|github_pat_|glpat-|xox|hooks\.slack|_live_|sk-|AIza"
    r"|PRIVATE KEY|eyJ|npm_|pypi-|inh_",
    re.IGNORECASE,
)


def find_secrets(text: str) -> list[SecretMatch]:
    """(what, issuer hosts) for each secret format found in `text`."""
    if not _GATE.search(text):
        return []
    return [(label, issuers) for label, pattern, issuers in _SECRET_FORMATS if pattern.search(text)]
