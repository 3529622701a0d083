"""The engine: every enabled rule over one call, into one verdict with its reasons.

Each finding gets the mode of its clause (`_modes`): any `enforce` finding denies; else any
`confirm` finding asks a person (`confirm`), unless the call is `approved`, when it is let
through once with a log entry; else `log` findings allow with a log entry; `off` ones are
dropped. A rule that raises is a deny of its own (`<rule>.analysis_failed`), never an allow,
and arguments beyond the analysis limits are denied as `arguments.beyond_limits`.

What a call changes in the ledger is recorded only once it is let through: the financial
rule decides without recording, then the transfer of a call let through is reserved in the
velocity windows (a race lost there is still a velocity finding), and sensitive reads are
recorded last. A call waiting for a person's yes takes no place in the windows.

A rule that can find nothing in a call is not run (`_quiet_rules`): for a read-only call whose
strings are all prose, with no command line and no HTTP request (`prose_only_read`), each rule
says what it could still find (`_PROSE_READ_CHECKS`), and a call none of them can object to is
let through without walking the rules. The answer is the same as with every rule run.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

from inherence_policy_client import Verdict
from inherence_policy_server.rules import (
    _credential,
    _destruction,
    _exfiltration,
    _financial,
    _identity,
    _integrity,
    _pivot,
)
from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._api import Call, Category, Finding, Mode, SessionLedger
from inherence_policy_server.rules._api_endpoints import call_http_requests, use_resources
from inherence_policy_server.rules._config import RULE_NAMES, RulesConfig
from inherence_policy_server.rules._destinations import payee_name

__all__ = ["Evaluation", "evaluate"]

RuleFunction = Callable[[Call, RulesConfig, SessionLedger, datetime.datetime, CallAnalysis], list[Finding]]
ProseReadCheck = Callable[[Call, RulesConfig, CallAnalysis], bool]

_STATELESS_RULES: tuple[tuple[str, RuleFunction], ...] = (
    (_integrity.RULE, _integrity.evaluate),
    (_credential.RULE, _credential.evaluate),
    (_identity.RULE, _identity.evaluate),
    (_destruction.RULE, _destruction.evaluate),
    (_pivot.RULE, _pivot.evaluate),
    (_exfiltration.RULE, _exfiltration.evaluate),
)


def _never(call: Call, config: RulesConfig, analysis: CallAnalysis) -> bool:
    del call, config, analysis
    return False


# Whether each rule can find anything in a prose-only read (see `prose_only_read`): the gate's
# files, the pivots and the sends are all reached through a path, a command, a URL, an address or
# a request, and a read-only call with none of them returns before the exfiltration rule judges
# its payload; the other rules say what is left for them (`may_find_in_prose_read`).
_PROSE_READ_CHECKS: tuple[tuple[str, ProseReadCheck], ...] = (
    (_integrity.RULE, _never),
    (_credential.RULE, _credential.may_find_in_prose_read),
    (_identity.RULE, _identity.may_find_in_prose_read),
    (_destruction.RULE, _destruction.may_find_in_prose_read),
    (_pivot.RULE, _never),
    (_exfiltration.RULE, _never),
    (_financial.RULE, _financial.may_find_in_prose_read),
)
_NOTHING_SKIPPED: frozenset[str] = frozenset()
# Off only to compare against every rule run in full (tests).
PREFILTER = True
_BEYOND_LIMITS = "arguments.beyond_limits"
# The coarse record of a read, for sessions that report no content: credentials only.
_SENSITIVE_CATEGORIES = {Category.CREDENTIAL_STORE: "credentials"}


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The engine's answer: the wire verdict, every finding, one sentence and the failed clauses.

    `logged` are the findings in `log` mode; `confirm` those in `confirm` mode (the question a
    `confirm` verdict asks, or what an approval let through).
    """

    verdict: Verdict
    findings: tuple[Finding, ...]
    reason: str
    failed_clauses: tuple[str, ...]
    logged: tuple[Finding, ...] = ()
    confirm: tuple[Finding, ...] = ()


class _Sorted:
    """Findings by the mode of their clause."""

    def __init__(self, config: RulesConfig) -> None:
        self.config = config
        self.enforced: list[Finding] = []
        self.confirm: list[Finding] = []
        self.logged: list[Finding] = []

    def add(self, findings: list[Finding]) -> None:
        for finding in findings:
            mode = self.config.clause_mode(finding.clause)
            if mode is Mode.ENFORCE:
                self.enforced.append(finding)
            elif mode is Mode.CONFIRM:
                self.confirm.append(finding)
            elif mode is Mode.LOG:
                self.logged.append(finding)

    def lets_through(self, call: Call) -> bool:
        return not self.enforced and (not self.confirm or call.approved)


def evaluate(call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime) -> Evaluation:
    """Decide one call. Deterministic for the same call, config, ledger state and time; never raises."""
    enabled = _enabled(config)
    try:
        analysis = CallAnalysis(call)
    except Exception as error:  # arguments that are not JSON-shaped at all
        failed = Finding(
            "arguments", "arguments.analysis_failed", f"The arguments cannot be read ({type(error).__name__})."
        )
        return _summarise(call, [failed], [], [])
    use_resources(analysis, config.packs)
    found = _Sorted(config)
    if not enabled:
        return _summarise(call, [], [], [])
    if analysis.text.beyond_limits:
        # Reading on would cost time in proportion to the arguments: the call is denied unread.
        return _summarise(call, [_beyond_limits(analysis)], [], [])
    # Rules that can find nothing in this call are not run (the same answer, without their cost).
    quiet = _quiet_rules(call, config, analysis) if PREFILTER else _NOTHING_SKIPPED
    if enabled <= quiet and _credential.RULE in quiet and not analysis.text.beyond_limits:
        # No rule runs and nothing is recorded: a prose-only read reads no credential and pays nobody.
        return _summarise(call, [], [], [])
    for name, rule in _STATELESS_RULES:
        if name in enabled and name not in quiet:
            _run_rule(name, rule, call, config, ledger, now, analysis, found)
    # A rule may have stopped reading at a limit of the shell or URL views.
    if analysis.text.beyond_limits:
        found.enforced.insert(0, _beyond_limits(analysis))
    financial = _financial.RULE in enabled and _financial.RULE not in quiet
    if financial:
        _run(
            _financial.RULE,
            lambda: _financial.evaluate(call, config, ledger, now, analysis, record=False),
            found,
        )
    if analysis.text.beyond_limits and (not found.enforced or found.enforced[0].clause != _BEYOND_LIMITS):
        found.enforced.insert(0, _beyond_limits(analysis))
    if found.lets_through(call) and financial:
        _run(_financial.RULE, lambda: _recorded_transfer(call, config, ledger, now, analysis), found)
    if found.lets_through(call):
        _record_sensitive_reads(call, config, ledger, now, analysis, _credential.RULE in quiet)
        _record_recipients(call, config, ledger, now, analysis, found.confirm)
    return _summarise(call, found.enforced, found.confirm, found.logged)


_ENABLED: dict[int, tuple[RulesConfig, frozenset[str]]] = {}


def prose_only_read(call: Call, analysis: CallAnalysis) -> bool:
    """A read-only call whose every string is in a prose field, with no command line and no HTTP request.

    Most of what the rules look for (a path, a command, a URL, an address, SQL, an amount a
    payment API moves) is absent from such a call, found by one pass over the arguments: each
    rule says what else it could find in one (`_PROSE_READ_CHECKS`).
    """
    return (
        call.category is Category.READ_ONLY
        and not analysis.values(payload=False)
        and not analysis.command_texts
        and not call_http_requests(analysis)
    )


def _quiet_rules(call: Call, config: RulesConfig, analysis: CallAnalysis) -> frozenset[str]:
    """The rules that can find nothing in this call, so need not run; none when that cannot be told."""
    try:
        if not prose_only_read(call, analysis):
            return _NOTHING_SKIPPED
        return frozenset(name for name, may_find in _PROSE_READ_CHECKS if not may_find(call, config, analysis))
    except Exception:  # whatever failed here fails again in the rules that read it, and is judged there
        return _NOTHING_SKIPPED


def _enabled(config: RulesConfig) -> frozenset[str]:
    """The rules `config` runs, worked out once per config (configs are frozen; the last few are kept)."""
    known = _ENABLED.get(id(config))
    if known is not None and known[0] is config:
        return known[1]
    enabled = frozenset(name for name in RULE_NAMES if config.section_of(name).runs)
    if len(_ENABLED) >= 8:
        _ENABLED.clear()
    _ENABLED[id(config)] = (config, enabled)
    return enabled


def _recorded_transfer(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis
) -> list[Finding]:
    finding = _financial.record_transfer(call, config, ledger, now, analysis)
    return [] if finding is None else [finding]


def _beyond_limits(analysis: CallAnalysis) -> Finding:
    return Finding(
        "arguments", _BEYOND_LIMITS, f"The arguments are too large to check: {analysis.text.beyond_limits[0]}."
    )


def _run(name: str, run: Callable[[], list[Finding]], found: _Sorted) -> None:
    try:
        findings = run()
    except Exception as error:  # a rule's defect must deny, never allow
        found.enforced.append(_failed(name, error))
        return
    found.add(findings)


def _run_rule(
    name: str,
    rule: RuleFunction,
    call: Call,
    config: RulesConfig,
    ledger: SessionLedger,
    now: datetime.datetime,
    analysis: CallAnalysis,
    found: _Sorted,
) -> None:
    """`_run` for one stateless rule, without a closure made per rule and call."""
    try:
        findings = rule(call, config, ledger, now, analysis)
    except Exception as error:  # a rule's defect must deny, never allow
        found.enforced.append(_failed(name, error))
        return
    found.add(findings)


def _failed(name: str, error: Exception) -> Finding:
    return Finding(name, f"{name}.analysis_failed", f"The {name} check failed ({type(error).__name__}).")


def _record_sensitive_reads(
    call: Call,
    config: RulesConfig,
    ledger: SessionLedger,
    now: datetime.datetime,
    analysis: CallAnalysis,
    no_credential: bool = False,
) -> None:
    labels = [] if no_credential else [what for _, what in _credential.credential_labels(call, config, analysis)]
    if call.category in _SENSITIVE_CATEGORIES:
        labels.append(f"{_SENSITIVE_CATEGORIES[call.category]} via {call.tool_name}")
    session = _exfiltration.session_key(call)
    for label in dict.fromkeys(labels):
        ledger.record_sensitive_read(session, label[:200], now)


def _record_recipients(
    call: Call,
    config: RulesConfig,
    ledger: SessionLedger,
    now: datetime.datetime,
    analysis: CallAnalysis,
    confirmed: list[Finding],
) -> None:
    """A payee paid, and the new recipients of an approved send, become known recipients of the tenant."""
    tenant = _exfiltration.tenant_of(call)
    if call.category is Category.PAYMENT:
        payee = payee_name(analysis)
        if payee is not None:
            ledger.add_known_recipient(tenant, payee, "paid", now)
    if call.approved:
        for finding in confirmed:
            if finding.clause == _exfiltration.NEW_RECIPIENT:
                for recipient in finding.subjects:
                    ledger.add_known_recipient(tenant, recipient, "confirmed", now)


def _first_reason(findings: list[Finding]) -> str:
    more = len(findings) - 1
    return findings[0].reason if not more else f"{findings[0].reason} (and {more} more)"


def _clauses(findings: list[Finding]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(finding.clause for finding in findings))


def _summarise(call: Call, enforced: list[Finding], confirm: list[Finding], logged: list[Finding]) -> Evaluation:
    everything = tuple(enforced + confirm + logged)
    if enforced:
        return Evaluation(
            Verdict.DENY, everything, _first_reason(enforced), _clauses(enforced), tuple(logged), tuple(confirm)
        )
    if confirm and not call.approved:
        return Evaluation(
            Verdict.CONFIRM, everything, _first_reason(confirm), _clauses(confirm), tuple(logged), tuple(confirm)
        )
    if confirm:
        reason = f"Allowed once, as a person approved it: {_first_reason(confirm)}"
        return Evaluation(Verdict.ALLOW_WITH_LOG, everything, reason, _clauses(confirm), tuple(logged), tuple(confirm))
    if logged:
        return Evaluation(
            Verdict.ALLOW_WITH_LOG, everything, f"Allowed and logged: {logged[0].reason}", _clauses(logged), everything
        )
    return Evaluation(Verdict.ALLOW, (), "No rule objects to this call.", ())
