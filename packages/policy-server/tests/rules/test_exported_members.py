from __future__ import annotations

from inherence_policy_server import rules


def test_exported_members() -> None:
    assert rules.__all__ == [
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
    assert all(hasattr(rules, name) for name in rules.__all__)
