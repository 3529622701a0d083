"""The six rules of the catastrophe shield (financial drain, credential access, identity
escalation, mass destruction, lateral pivot, unauthorized exfiltration), the gate-integrity
rule that keeps the agent from switching the gate off, and their engine.

`evaluate(call, config, ledger, now)` decides one call; `RulesConfig` is the TOML
configuration; `InMemoryLedger` is the reference `SessionLedger`.
"""

from inherence_policy_server.rules._api import (
    Call,
    Category,
    Finding,
    KnownRecipient,
    Mode,
    ReadItem,
    SessionLedger,
    VelocityTotals,
)
from inherence_policy_server.rules._config import (
    RULE_NAMES,
    ConfirmationConfig,
    CredentialAccessConfig,
    FinancialDrainConfig,
    GateIntegrityConfig,
    IdentityEscalationConfig,
    LateralPivotConfig,
    MassDestructionConfig,
    OrganisationConfig,
    RulesConfig,
    UnauthorizedExfiltrationConfig,
)
from inherence_policy_server.rules._engine import Evaluation, evaluate
from inherence_policy_server.rules._memory import InMemoryLedger
from inherence_policy_server.rules._modes import CLAUSE_DEFAULTS

__all__ = [
    "CLAUSE_DEFAULTS",
    "RULE_NAMES",
    "Call",
    "Category",
    "ConfirmationConfig",
    "CredentialAccessConfig",
    "Evaluation",
    "FinancialDrainConfig",
    "Finding",
    "GateIntegrityConfig",
    "IdentityEscalationConfig",
    "InMemoryLedger",
    "KnownRecipient",
    "LateralPivotConfig",
    "MassDestructionConfig",
    "Mode",
    "OrganisationConfig",
    "ReadItem",
    "RulesConfig",
    "SessionLedger",
    "UnauthorizedExfiltrationConfig",
    "VelocityTotals",
    "evaluate",
]
