"""The engine: every enabled rule over one call, into one verdict with its reasons.

`enforce` findings deny; `log` findings allow with a log entry; `off` rules do not run.
A rule that raises is a deny of its own (`<rule>.analysis_failed`), never an allow, and
arguments beyond the analysis limits are denied as `arguments.beyond_limits`. The
financial rule runs last, so that a call another rule denies never takes a place in the
velocity windows; sensitive reads are recorded only for calls that are let through.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

from inherence_policy_client import Verdict
from inherence_policy_server.rules import _credential, _destruction, _exfiltration, _financial, _identity, _pivot
from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._api import Call, Category, Finding, Mode, SessionLedger
from inherence_policy_server.rules._config import RULE_NAMES, RulesConfig

__all__ = ["Evaluation", "evaluate"]

RuleFunction = Callable[[Call, RulesConfig, SessionLedger, datetime.datetime, CallAnalysis], list[Finding]]

_STATELESS_RULES: tuple[tuple[str, RuleFunction], ...] = (
    (_credential.RULE, _credential.evaluate),
    (_identity.RULE, _identity.evaluate),
    (_destruction.RULE, _destruction.evaluate),
    (_pivot.RULE, _pivot.evaluate),
    (_exfiltration.RULE, _exfiltration.evaluate),
)
_BEYOND_LIMITS = "arguments.beyond_limits"
# The coarse record of a read, for sessions that report no content: credentials only.
_SENSITIVE_CATEGORIES = {Category.CREDENTIAL_STORE: "credentials"}


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The engine's answer: the wire verdict, every finding, one sentence and the failed clauses."""

    verdict: Verdict
    findings: tuple[Finding, ...]
    reason: str
    failed_clauses: tuple[str, ...]
    logged: tuple[Finding, ...] = ()


def evaluate(call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime) -> Evaluation:
    """Decide one call. Deterministic for the same call, config, ledger state and time; never raises."""
    enabled = [name for name in RULE_NAMES if config.mode_of(name) is not Mode.OFF]
    try:
        analysis = CallAnalysis(call)
    except Exception as error:  # arguments that are not JSON-shaped at all
        return _summarise(
            [
                Finding(
                    "arguments", "arguments.analysis_failed", f"The arguments cannot be read ({type(error).__name__})."
                )
            ],
            [],
        )
    enforced: list[Finding] = []
    logged: list[Finding] = []
    if not enabled:
        return _summarise(enforced, logged)
    if analysis.text.beyond_limits:
        # Reading on would cost time in proportion to the arguments: the call is denied unread.
        return _summarise([_beyond_limits(analysis)], logged)
    for name, rule in _STATELESS_RULES:
        if name in enabled:
            _run(name, lambda rule=rule: rule(call, config, ledger, now, analysis), config, enforced, logged)  # type: ignore[misc]
    # A rule may have stopped reading at a limit of the shell or URL views.
    if analysis.text.beyond_limits:
        enforced.insert(0, _beyond_limits(analysis))
    if _financial.RULE in enabled:
        record = not enforced
        _run(
            _financial.RULE,
            lambda: _financial.evaluate(call, config, ledger, now, analysis, record=record),
            config,
            enforced,
            logged,
        )
    if analysis.text.beyond_limits and (not enforced or enforced[0].clause != _BEYOND_LIMITS):
        enforced.insert(0, _beyond_limits(analysis))
    if not enforced:
        _record_sensitive_reads(call, config, ledger, now, analysis)
    return _summarise(enforced, logged)


def _beyond_limits(analysis: CallAnalysis) -> Finding:
    return Finding(
        "arguments", _BEYOND_LIMITS, f"The arguments are too large to check: {analysis.text.beyond_limits[0]}."
    )


def _run(
    name: str, run: Callable[[], list[Finding]], config: RulesConfig, enforced: list[Finding], logged: list[Finding]
) -> None:
    try:
        findings = run()
    except Exception as error:  # a rule's defect must deny, never allow
        findings = [Finding(name, f"{name}.analysis_failed", f"The {name} check failed ({type(error).__name__}).")]
        enforced.extend(findings)
        return
    (enforced if config.mode_of(name) is Mode.ENFORCE else logged).extend(findings)


def _record_sensitive_reads(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis
) -> None:
    labels = [what for _, what in _credential.credential_labels(call, config, analysis)]
    if call.category in _SENSITIVE_CATEGORIES:
        labels.append(f"{_SENSITIVE_CATEGORIES[call.category]} via {call.tool_name}")
    session = _exfiltration.session_key(call)
    for label in dict.fromkeys(labels):
        ledger.record_sensitive_read(session, label[:200], now)


def _summarise(enforced: list[Finding], logged: list[Finding]) -> Evaluation:
    if enforced:
        clauses = tuple(dict.fromkeys(finding.clause for finding in enforced))
        reason = enforced[0].reason if len(enforced) == 1 else f"{enforced[0].reason} (and {len(enforced) - 1} more)"
        return Evaluation(Verdict.DENY, tuple(enforced + logged), reason, clauses, tuple(logged))
    if logged:
        clauses = tuple(dict.fromkeys(finding.clause for finding in logged))
        return Evaluation(
            Verdict.ALLOW_WITH_LOG, tuple(logged), f"Allowed and logged: {logged[0].reason}", clauses, tuple(logged)
        )
    return Evaluation(Verdict.ALLOW, (), "No rule objects to this call.", ())
