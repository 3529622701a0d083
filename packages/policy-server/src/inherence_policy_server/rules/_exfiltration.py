"""Unauthorized exfiltration: data leaving for the outside after a sensitive read, any send
to a known exfiltration endpoint, and secrets in any outbound payload.

The rule is stateful through the ledger: the engine records a session's credential and
private-data reads once such a call is allowed, and this rule denies that session's later
sends to destinations outside the organisation.
"""

from __future__ import annotations

import datetime
import re

from inherence_policy_server.rules._analysis import CONTENT_KEYS, CallAnalysis
from inherence_policy_server.rules._api import Call, Category, Finding, SessionLedger
from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._hosts import host_within
from inherence_policy_server.rules._secrets import find_secrets

__all__ = ["EXFILTRATION_HOSTS", "RULE", "evaluate", "session_key"]

RULE = "unauthorized_exfiltration"

EXFILTRATION_HOSTS = (
    "webhook.site", "requestbin.com", "requestbin.net", "requestcatcher.com", "pipedream.net", "pipedream.com",
    "beeceptor.com", "hookbin.com", "mockbin.org", "postb.in", "ptsv2.com", "ptsv3.com", "webhook.cool",
    "ngrok.io", "ngrok-free.app", "ngrok.app", "ngrok-free.dev", "trycloudflare.com", "loca.lt", "localtunnel.me",
    "serveo.net", "localhost.run", "lhr.life", "pagekite.me", "telebit.cloud", "bore.pub", "tunnelmole.net",
    "pastebin.com", "paste.ee", "hastebin.com", "ghostbin.com", "dpaste.com", "dpaste.org", "rentry.co",
    "termbin.com", "ix.io", "sprunge.us", "0x0.st", "transfer.sh", "file.io", "tmpfiles.org", "catbox.moe",
    "oast.pro", "oast.live", "oast.site", "oast.online", "oast.fun", "oast.me", "interact.sh", "burpcollaborator.net",
    "oastify.com", "canarytokens.com", "dnslog.cn", "ceye.io", "requestinspector.com", "webhook.test",
)  # fmt: skip
_SEND_PROGRAMS = {
    "curl": re.compile(
        r"^(?:-d|--data(?:-\w+)?|-F|--form(?:-string)?|-T|--upload-file|--json|-X\s*(?:POST|PUT|PATCH))"
    ),
    "wget": re.compile(r"^--post-(?:data|file)|^--body-(?:data|file)|^--method=(?:post|put)", re.IGNORECASE),
    "http": re.compile(r"^(?:post|put|patch)$|=|:=", re.IGNORECASE),
    "xh": re.compile(r"^(?:post|put|patch)$|=|:=", re.IGNORECASE),
}
_ALWAYS_SENDING = frozenset({"nc", "ncat", "netcat", "socat", "scp", "sftp", "rsync", "ftp", "mail", "sendmail", "mutt",
                             "mailx", "telnet", "rclone", "aws", "gsutil", "az"})  # fmt: skip
_OUTBOUND_CATEGORIES = frozenset({Category.OUTBOUND_SEND, Category.NETWORK_FETCH, Category.PAYMENT, Category.UNKNOWN})
_BODY_KEYS = CONTENT_KEYS | {"params", "query_params", "fields", "variables", "headers", "form_data", "upload"}


def session_key(call: Call) -> str:
    """The ledger's key for a call's session; calls without one share a conservative common session."""
    return call.session_id or f"no-session:{call.client or ''}"


def _internal(host: str, config: RulesConfig) -> bool:
    organisation = config.organisation
    trusted = organisation.internal_hosts + organisation.email_domains + config.unauthorized_exfiltration.allowed_hosts
    return host_within(host, trusted) or host in ("localhost",) or host.startswith("127.") or host == "::1"


def _sends_data(call: Call, analysis: CallAnalysis) -> bool:
    if call.category in (Category.OUTBOUND_SEND, Category.PAYMENT):
        return True
    has_body = any(value.is_key and value.folded in _BODY_KEYS for value in analysis.text.values)
    if call.category in (Category.NETWORK_FETCH, Category.UNKNOWN) and (
        has_body or any(endpoint.query or len(endpoint.path) > 64 for endpoint in analysis.endpoints)
    ):
        return True
    for command in analysis.shell.commands:
        pattern = _SEND_PROGRAMS.get(command.name)
        if command.name in _ALWAYS_SENDING or (pattern and any(pattern.search(word) for word in command.argv[1:])):
            return True
        if pattern and any(endpoint.query for endpoint in analysis.endpoints):
            return True
    return call.category is Category.UNKNOWN and bool(analysis.emails)


def evaluate(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis | None = None
) -> list[Finding]:
    """Deny sends to exfiltration endpoints, secrets going out, and sends outside after a sensitive read."""
    del now
    analysis = analysis or CallAnalysis(call)
    section = config.unauthorized_exfiltration
    findings: list[Finding] = []
    catchers = EXFILTRATION_HOSTS + section.extra_exfiltration_hosts
    hosts = [endpoint.host for endpoint in analysis.endpoints] + [domain for _, domain in analysis.emails]
    for host in dict.fromkeys(hosts):
        if host_within(host, catchers) and not host_within(host, section.allowed_hosts):
            findings.append(Finding(RULE, f"{RULE}.exfiltration_endpoint", f"{host} is a known exfiltration endpoint."))
            break
    if call.category is Category.READ_ONLY and not analysis.shell.commands:
        return findings
    sending = _sends_data(call, analysis)
    if section.scan_secrets and (sending or call.category in _OUTBOUND_CATEGORIES or analysis.shell.commands):
        leak = _secret_leak(analysis, hosts)
        if leak is not None:
            findings.append(Finding(RULE, f"{RULE}.secret_in_payload", f"The outbound payload contains {leak}."))
    if sending:
        external = [endpoint.host for endpoint in analysis.endpoints if not _internal(endpoint.host, config)]
        external += [
            address
            for address, domain in analysis.emails
            if not _internal(domain, config) and address not in config.organisation.known_recipients
        ]
        external = list(dict.fromkeys(external))
        reads = ledger.sensitive_reads(session_key(call))
        if reads and (external or (not hosts and call.category is Category.OUTBOUND_SEND)):
            where = ", ".join(external[:3]) or "a destination that cannot be placed inside the organisation"
            findings.append(
                Finding(
                    RULE,
                    f"{RULE}.send_after_sensitive_read",
                    f"This session read {', '.join(reads[:3])}; sending data to {where} is denied.",
                )
            )
    return findings


def _secret_leak(analysis: CallAnalysis, hosts: list[str]) -> str | None:
    for value in analysis.text.values:
        for label, issuers in find_secrets(value.raw):
            if issuers and hosts and all(host_within(host, issuers) for host in hosts):
                continue  # a provider's own token sent only to that provider's API
            return label
    return None
