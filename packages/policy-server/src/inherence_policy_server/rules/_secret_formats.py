"""The one table of secret formats: what the rules detect and what the decision log masks.

Each entry is a pattern, the literal anchors every match of it contains (one pass over the text
finds which entries can match at all, so text with no anchor costs one search), and what it
covers. Token formats (`detect=True`) are specific enough (fixed prefix, length, alphabet) that
prose does not match them; the rules report them by `label`, and the issuer's hosts are listed
so that a token sent to its own API is not mistaken for a leak. Context forms (`detect=False`)
are credentials known by where they sit, not by what they look like (`--password=`, URL user
info, `?token=`, `Cookie:`): too loose to stop a call on, masked all the same.

A pattern's groups named `secret...` are the secret itself (masked, the context kept); an entry
without such a group is masked whole.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Callable

__all__ = [
    "DETECTED",
    "SECRET_FORMATS",
    "SECRET_KEY_NAME",
    "SecretFormat",
    "detected_formats",
    "looks_random",
    "mask_secrets",
    "secret_spans",
]


@dataclasses.dataclass(frozen=True)
class SecretFormat:
    """One entry of the table; `anchors` are literal (case-insensitive when `folded`)."""

    id: str
    label: str
    pattern: re.Pattern[str]
    anchors: tuple[str, ...]
    issuers: tuple[str, ...] = ()
    folded: bool = False
    detect: bool = True
    accept: Callable[[str], bool] | None = None

    @property
    def secret_groups(self) -> tuple[str, ...]:
        return tuple(name for name in self.pattern.groupindex if name.startswith("secret"))


def looks_random(value: str) -> bool:
    """A value long and varied enough to be a key rather than a word, a path or a placeholder."""
    if len(value) < 20 or not any(char.isdigit() for char in value) or not any(char.isalpha() for char in value):
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.3


# Names whose value is a secret whatever it looks like: JSON keys, `NAME=value`, `--name value`.
_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth[_-]?key"
    r"|signing[_-]?key|session[_-]?key|credentials?|[_-]key(?![a-z0-9])"
)
SECRET_KEY_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|apikey|auth(?!or(?!i[sz]))|cookie|credential|private[_-]?key"
    r"|session[_-]?key|access[_-]?key|client[_-]?secret|signature|otp|mfa[_-]?code|pin$|cvv|cvc|card[_-]?number",
    re.IGNORECASE,
)
# A value after `=` or `:`: quoted (spaces allowed) or bare (up to a separator).
_VALUE = r"""(?:"(?P<secret_dq>[^"\n]*)"|'(?P<secret_sq>[^'\n]*)'|(?P<secret>[^\s&"',;]+))"""
_CLI_VALUE = r"""(?:"(?P<secret_dq>[^"\n]*)"|'(?P<secret_sq>[^'\n]*)'|(?P<secret>[^\s"']+))"""
_TOKEN_CHARS = "A-Za-z0-9+/=_.~-"


def _format(
    id: str,
    label: str,
    pattern: str,
    anchors: tuple[str, ...],
    *,
    issuers: tuple[str, ...] = (),
    folded: bool = False,
    detect: bool = True,
    accept: Callable[[str], bool] | None = None,
) -> SecretFormat:
    flags = re.IGNORECASE if folded else 0
    return SecretFormat(id, label, re.compile(pattern, flags), anchors, issuers, folded, detect, accept)


_GITHUB = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")

SECRET_FORMATS: tuple[SecretFormat, ...] = (
    # Token formats, in the order the rules report them.
    _format("aws_access_key_id", "an AWS access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
            ("AKIA", "ASIA", "ABIA", "ACCA"), issuers=("amazonaws.com",)),
    _format("aws_secret_access_key", "an AWS secret access key",
            r"(?:aws_)?secret_?access_?key[\"']?(?:[ \t]*[=:][ \t]*|[ \t]+)[\"']?(?P<secret>[A-Za-z0-9/+=]{40,})",
            ("secret_access_key", "secretaccesskey"), issuers=("amazonaws.com",), folded=True),
    _format("github_token", "a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b",
            _GITHUB, issuers=("github.com",)),
    _format("gitlab_token", "a GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}\b", ("glpat-",), issuers=("gitlab.com",)),
    _format("slack_token", "a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b", ("xox",), issuers=("slack.com",)),
    _format("slack_webhook", "a Slack webhook", r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+",
            ("hooks.slack.com",)),
    _format("stripe_live_key", "a Stripe secret key", r"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}\b", ("k_live_",),
            issuers=("stripe.com",)),
    _format("anthropic_key", "an Anthropic API key", r"\bsk-ant-[A-Za-z0-9_-]{20,}", ("sk-ant-",),
            issuers=("anthropic.com",)),
    _format("openai_key", "an OpenAI API key",
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}", ("T3BlbkFJ",),
            issuers=("openai.com",)),
    _format("openai_project_key", "an OpenAI API key", r"\bsk-proj-[A-Za-z0-9_-]{40,}", ("sk-proj-",),
            issuers=("openai.com",)),
    _format("google_api_key", "a Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b", ("AIza",),
            issuers=("googleapis.com", "google.com")),
    # The whole block, or to the end of the text when it has no end line.
    _format("private_key", "a private key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)",
            ("PRIVATE KEY",)),
    _format("jwt", "a JSON web token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}", ("eyJ",)),
    _format("npm_token", "an npm token", r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",), issuers=("npmjs.org", "npmjs.com")),
    _format("pypi_token", "a PyPI token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}", ("pypi-",), issuers=("pypi.org",)),
    _format("inherence_key", "an Inherence API key", r"\binh_[A-Za-z0-9_-]{24,}\b", ("inh_",),
            issuers=("inherencelabs.com",)),
    _format("twilio_api_key", "a Twilio API key", r"\bSK[0-9a-fA-F]{32}\b", ("SK",), issuers=("twilio.com",)),
    _format("sendgrid_key", "a SendGrid API key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b", ("SG.",),
            issuers=("sendgrid.com", "sendgrid.net")),
    # Okta's API tokens have no prefix of their own: `00` and 40 characters, known by the name beside them.
    _format("okta_token", "an Okta API token",
            r"(?:okta[\w\"' \t:=.-]{0,30}?|\bSSWS[ \t]+)\b(?P<secret>00[A-Za-z0-9_-]{38,42})(?![A-Za-z0-9_-])",
            ("okta", "ssws"), issuers=("okta.com", "oktapreview.com", "okta-emea.com"), folded=True),
    # Bot and service tokens with a shape of their own (issuers' published formats).
    _format("discord_bot_token", "a Discord bot token",
            r"(?<![A-Za-z0-9_-])(?:MT|Mj|Mz|ND|NT|Nj|Nz|OD|OT)[A-Za-z0-9_-]{21,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}"
            r"(?![A-Za-z0-9_-])",
            ("MT", "Mj", "Mz", "ND", "NT", "Nj", "Nz", "OD", "OT"), issuers=("discord.com", "discordapp.com")),
    _format("discord_webhook", "a Discord webhook", r"discord(?:app)?\.com/api/webhooks/\d{6,25}/[A-Za-z0-9_-]{40,}",
            ("/api/webhooks/",)),
    _format("telegram_bot_token", "a Telegram bot token", r"(?<![\d:])\d{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])",
            (":AA",), issuers=("api.telegram.org",)),
    _format("huggingface_token", "a Hugging Face token", r"\bhf_[A-Za-z0-9]{34,}\b", ("hf_",),
            issuers=("huggingface.co",)),
    _format("digitalocean_token", "a DigitalOcean token", r"\bdo[opr]_v1_[a-f0-9]{64}\b", ("_v1_",),
            issuers=("digitalocean.com",)),
    _format("shopify_token", "a Shopify access token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b", ("shp",),
            issuers=("myshopify.com", "shopify.com")),
    _format("mailgun_key", "a Mailgun API key", r"\bkey-[0-9a-f]{32}\b", ("key-",), issuers=("mailgun.net",)),
    _format("linear_key", "a Linear API key", r"\blin_(?:api|oauth)_[A-Za-z0-9]{40,}\b", ("lin_",),
            issuers=("linear.app",)),
    _format("notion_token", "a Notion integration token", r"\b(?:secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{40,})\b",
            ("secret_", "ntn_"), issuers=("notion.com", "notion.so")),
    _format("atlassian_token", "an Atlassian API token", r"\bATATT3[A-Za-z0-9_=-]{100,}", ("ATATT3",),
            issuers=("atlassian.net", "atlassian.com")),
    _format("grafana_token", "a Grafana token", r"\bgl(?:sa|c)_[A-Za-z0-9_=+/-]{32,}", ("glsa_", "glc_"),
            issuers=("grafana.net", "grafana.com")),
    _format("sentry_token", "a Sentry token", r"\bsntr[ysu]_[A-Za-z0-9_=+/-]{40,}", ("sntr",), issuers=("sentry.io",)),
    _format("supabase_token", "a Supabase access token", r"\bsbp_[a-f0-9]{40}\b", ("sbp_",),
            issuers=("supabase.co", "supabase.com")),
    _format("databricks_token", "a Databricks token", r"\bdapi[a-f0-9]{32}(?:-\d)?\b", ("dapi",),
            issuers=("databricks.com", "azuredatabricks.net")),
    _format("postman_key", "a Postman API key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b", ("PMAK-",),
            issuers=("getpostman.com", "postman.com")),
    _format("groq_key", "a Groq API key", r"\bgsk_[A-Za-z0-9]{48,}\b", ("gsk_",), issuers=("groq.com",)),
    _format("replicate_token", "a Replicate API token", r"\br8_[A-Za-z0-9]{37,}\b", ("r8_",),
            issuers=("replicate.com",)),
    _format("square_token", "a Square access token", r"\bsq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}\b", ("sq0",),
            issuers=("squareup.com",)),
    _format("doppler_token", "a Doppler token", r"\bdp\.(?:st|ct|sa|scim|audit|pt)\.[A-Za-z0-9_.-]{40,}", ("dp.",),
            issuers=("doppler.com",)),
    _format("heroku_key", "a Heroku API key", r"\bHRKU-[A-Za-z0-9_-]{40,}", ("HRKU-",), issuers=("heroku.com",)),
    _format("onepassword_token", "a 1Password service account token", r"\bops_eyJ[A-Za-z0-9+/=_-]{100,}", ("ops_eyJ",),
            issuers=("1password.com",)),
    _format("vault_token", "a Vault token", r"\bhv[sb]\.[A-Za-z0-9_-]{24,}", ("hvs.", "hvb.")),
    _format("mapbox_secret", "a Mapbox secret token", r"\bsk\.eyJ[A-Za-z0-9._-]{50,}", ("sk.eyJ",),
            issuers=("mapbox.com",)),
    _format("stripe_webhook_secret", "a Stripe webhook secret", r"\bwhsec_[A-Za-z0-9+/=]{32,}", ("whsec_",)),
    _format("age_secret_key", "an age secret key", r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b", ("AGE-SECRET-KEY-1",)),
    _format("azure_storage_key", "an Azure storage account key",
            r"AccountKey=(?P<secret>[A-Za-z0-9+/]{80,88}={0,2})", ("accountkey=",), folded=True,
            issuers=("core.windows.net",)),
    # A TOTP seed: whoever holds it makes the account's second factor.
    _format("totp_seed", "a one-time password seed", r"otpauth://[^\s\"'<>]*?[?&]secret=(?P<secret>[A-Z2-7]{16,})",
            ("otpauth://",), folded=True),
    _format("secret_assignment", "a secret value",
            rf"(?:{_SECRET_WORDS})[A-Za-z0-9_.-]{{0,40}}?[\"']?[ \t]{{0,5}}[=:][ \t]{{0,5}}[\"']?"
            rf"(?P<secret>[{_TOKEN_CHARS}]{{20,200}})(?![{_TOKEN_CHARS}])",
            ("pass", "pwd", "secret", "token", "key", "credential"), folded=True, accept=looks_random),
    # Looser token shapes: masked, never a reason to stop a call.
    _format("stripe_test_key", "a Stripe test key", r"\b[rs]k_test_[A-Za-z0-9]{16,}\b", ("k_test_",), detect=False),
    _format("sk_key", "an API key", r"\bsk-[A-Za-z0-9_-]{16,}", ("sk-",), detect=False),
    _format("google_oauth_token", "a Google OAuth token", r"\bya29\.[0-9A-Za-z_-]{20,}", ("ya29.",), detect=False),
    _format("pypi_any_token", "a PyPI token", r"\bpypi-[A-Za-z0-9_-]{40,}", ("pypi-",), detect=False),
    _format("inherence_any_key", "an Inherence API key", r"inh_[A-Za-z0-9_-]{8,}", ("inh_",), detect=False),
    _format("jwt_any", "a JSON web token", r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", ("eyJ",),
            detect=False),
    # Context forms.
    _format("authorization_header", "an authorization header",
            r"(?:proxy-)?authorization[\"']?[ \t]*[=:][ \t]*[\"']?(?:[a-z0-9-]+[ \t]+)?(?P<secret>[^\s\"',;]+)",
            ("authorization",), folded=True, detect=False),
    _format("auth_scheme", "a credential after an auth scheme",
            r"\b(?:Bearer|Basic|Token|bearer|basic|token)[ \t]+(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
            ("Bearer", "Basic", "Token", "bearer", "basic", "token"), detect=False),
    _format("cookie_header", "a cookie header", r"\b(?:set-)?cookie[\"']?[ \t]*:[ \t]*(?P<secret>[^\r\n\"']+)",
            ("cookie",), folded=True, detect=False),
    _format("assignment", "a secret-named setting",
            rf"(?:{_SECRET_WORDS})[A-Za-z0-9_.-]{{0,40}}?[\"']?[ \t]{{0,5}}[=:][ \t]{{0,5}}{_VALUE}",
            ("pass", "pwd", "secret", "token", "key", "credential"), folded=True, detect=False),
    _format("url_userinfo", "a password in a URL",
            r"\b[a-z][a-z0-9+.-]{0,20}://[^\s/?#@:\"']*:(?P<secret>[^\s/?#@\"']+)@", ("://",), folded=True,
            detect=False),
    _format("query_secret", "a secret query parameter",
            r"[?&;](?:key|api[_-]?key|apikey|token|access[_-]?token|refresh[_-]?token|id[_-]?token|auth|auth[_-]?token"
            r"|sig|signature|secret|client[_-]?secret|password|passwd|pwd|code|x-amz-signature|x-amz-credential"
            r"|x-amz-security-token)=(?P<secret>[^&#\s\"'<>]+)",
            ("=",), folded=True, detect=False),
    _format("password_flag", "a password option",
            rf"--(?:[a-z0-9]+-){{0,4}}(?:password|passwd|pass|token|secret|api-?key|access-key|secret-key"
            rf"|private-key|client-secret|auth-token)(?:=|[ \t]+){_CLI_VALUE}",
            ("--",), folded=True, detect=False),
    _format("mysql_password", "a MySQL password option",
            rf"\b(?:mysql[a-z]*|mariadb[a-z-]*)\b[^\n;|&]{{0,400}}?[ \t]-p(?![ \t-]){_CLI_VALUE}",
            ("mysql", "mariadb"), detect=False),
    _format("sshpass_password", "an sshpass password", rf"\bsshpass\b[^\n;|&]{{0,400}}?[ \t]-p[ \t]*{_CLI_VALUE}",
            ("sshpass",), detect=False),
    _format("redis_password", "a redis-cli password",
            rf"\bredis-cli\b[^\n;|&]{{0,400}}?[ \t](?:-a|--pass)[ \t]+{_CLI_VALUE}", ("redis-cli",), detect=False),
    _format("user_password", "a user:password option",
            r"(?:^|[ \t])(?:-u|-U|-a|--user|--proxy-user|--auth)(?:[ \t]+|=)?[\"']?[^\s:\"']*:(?P<secret>[^\s\"']+)",
            ("-u", "-U", "-a", "--user", "--proxy-user", "--auth"), detect=False),
    _format("openssl_pass", "an openssl pass phrase", r"\bpass:(?P<secret>[^\s\"']+)", ("pass:",), detect=False),
)  # fmt: skip

DETECTED: tuple[SecretFormat, ...] = tuple(entry for entry in SECRET_FORMATS if entry.detect)


@dataclasses.dataclass(frozen=True)
class _Gate:
    """Every anchor of some entries: text holding none of them holds no secret of those entries.

    Substring tests run at memory speed; one regex over the same words costs several times more.
    """

    cased: tuple[str, ...]
    folded: tuple[str, ...]
    folded_pattern: re.Pattern[str]

    def may_match(self, text: str) -> bool:
        if any(anchor in text for anchor in self.cased):
            return True
        if not self.folded:
            return False
        if text.isascii():
            lowered = text.lower()
            return any(anchor in lowered for anchor in self.folded)
        return self.folded_pattern.search(text) is not None


def _gate(formats: tuple[SecretFormat, ...]) -> _Gate:
    cased = {anchor for entry in formats if not entry.folded for anchor in entry.anchors}
    folded = {anchor.lower() for entry in formats if entry.folded for anchor in entry.anchors}
    # No anchor that contains another one needs testing: the shorter one is found wherever it is.
    cased = {word for word in cased if not any(other != word and other in word for other in cased)}
    folded = {word for word in folded if not any(other != word and other in word for other in folded)}
    words = "|".join(re.escape(anchor) for anchor in sorted(folded))
    return _Gate(tuple(sorted(cased)), tuple(sorted(folded)), re.compile(f"(?i:{words})" if words else "(?!)"))


def _candidates(text: str, formats: tuple[SecretFormat, ...]) -> list[SecretFormat]:
    """The entries whose anchors occur in `text`."""
    cased, folded = _ANCHORS[formats is DETECTED]
    present = {anchor for anchor in cased if anchor in text}
    if text.isascii():
        lowered = text.lower()
        present.update(anchor for anchor in folded if anchor in lowered)
        return [entry for entry in formats if not present.isdisjoint(entry.anchors)]
    # Case-insensitive patterns let a few non-ASCII letters (long s, Kelvin sign, dotless i) stand for
    # ASCII ones, which lower() does not undo: such text is searched by every case-insensitive entry.
    return [entry for entry in formats if entry.folded or not present.isdisjoint(entry.anchors)]


def _anchors(formats: tuple[SecretFormat, ...]) -> tuple[frozenset[str], frozenset[str]]:
    cased = frozenset(anchor for entry in formats if not entry.folded for anchor in entry.anchors)
    return cased, frozenset(anchor for entry in formats if entry.folded for anchor in entry.anchors)


_ALL_GATE = _gate(SECRET_FORMATS)
_DETECTED_GATE = _gate(DETECTED)
_ANCHORS = {False: _anchors(SECRET_FORMATS), True: _anchors(DETECTED)}


def detected_formats(text: str) -> list[SecretFormat]:
    """The token formats found in `text`, in table order."""
    if not _DETECTED_GATE.may_match(text):
        return []
    return [entry for entry in _candidates(text, DETECTED) if _first_span(entry, text) is not None]


def _spans_of(entry: SecretFormat, text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    groups = entry.secret_groups
    for match in entry.pattern.finditer(text):
        chosen = [name for name in groups if match.group(name) is not None]
        if entry.accept is not None and not entry.accept(match.group(chosen[0]) if chosen else match.group()):
            continue
        if chosen:
            spans.extend(match.span(name) for name in chosen)
        else:
            spans.append(match.span())
    return [(start, end) for start, end in spans if end > start]


def _first_span(entry: SecretFormat, text: str) -> tuple[int, int] | None:
    if entry.accept is None and not entry.secret_groups:
        match = entry.pattern.search(text)
        return match.span() if match else None
    spans = _spans_of(entry, text)
    return spans[0] if spans else None


def secret_spans(text: str, *, detected_only: bool = False) -> list[tuple[int, int]]:
    """Sorted, merged (start, end) spans of every secret in `text` (token formats only with `detected_only`)."""
    formats, gate = (DETECTED, _DETECTED_GATE) if detected_only else (SECRET_FORMATS, _ALL_GATE)
    if not gate.may_match(text):
        return []
    spans = sorted(span for entry in _candidates(text, formats) for span in _spans_of(entry, text))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mask_secrets(text: str, mask: str) -> str:
    """`text` with every secret of every format replaced by `mask`."""
    spans = secret_spans(text)
    if not spans:
        return text
    parts, position = [], 0
    for start, end in spans:
        parts += [text[position:start], mask]
        position = end
    parts.append(text[position:])
    return "".join(parts)
