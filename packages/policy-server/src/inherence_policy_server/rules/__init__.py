"""The six rules of the catastrophe shield (financial drain, credential access, identity
escalation, mass destruction, lateral pivot, unauthorized exfiltration) and their engine."""

from inherence_policy_server.rules._api import Call, Category, Finding, Mode, SessionLedger, VelocityTotals

__all__ = ["Call", "Category", "Finding", "Mode", "SessionLedger", "VelocityTotals"]
