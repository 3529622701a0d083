"""Every clause the rules raise and its default mode, and how a finding's mode is worked out.

The table is data: a clause that is not in it cannot be named in a config (so a typo is an
error, not a setting that does nothing) and, if a rule raises it anyway, is enforced. A
clause in `confirm` by default is one a person may well mean to do (a first payment to a new
payee, a password change): the call waits for their yes instead of being denied outright.

A finding's mode: the clause's own setting (`[rules.<rule>.clauses] <clause> = "..."`) if
there is one; otherwise the rule's mode decides: `off` drops it, `log` logs it, `confirm`
asks (an enforced clause is softened to confirm), `enforce` gives the clause's default.
A rule's own failure (`<rule>.analysis_failed`) and the limits of the analysis are always
enforced: they are not in the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from inherence_policy_server.rules._api import Mode

__all__ = ["CLAUSE_DEFAULTS", "clause_names", "default_mode", "effective_mode"]

_E = Mode.ENFORCE
_C = Mode.CONFIRM
_L = Mode.LOG

_MASS_DESTRUCTION = ("api_delete_all", "api_resource_delete", "broad_delete", "bulk_delete", "cloud_teardown",
                     "decode_to_shell", "delete_all",
                     "device_write", "dynamic_script", "dynamic_sql", "find_delete", "format_device", "git_clean",
                     "mirror_delete", "move_away", "recursive_delete", "recursive_permissions", "remote_script",
                     "repository_delete", "shred", "sql_drop", "sql_truncate", "sql_unbounded_delete",
                     "sql_unbounded_update", "store_delete", "truncate_file", "unparseable_shell",
                     "unparseable_sql")  # fmt: skip

_TABLE: dict[str, dict[str, Mode]] = {
    "financial_drain": {
        "new_recipient": _C,
        "recurring_recipient_change": _C,
        "new_recipient_limit": _C,
        "api_money_movement": _E,
        "per_call_limit": _C,
        "hard_limit": _E,
        "unreadable_amount": _E,
        "velocity_hour": _E,
        "velocity_day": _E,
        "velocity_week": _E,
    },
    "credential_access": dict.fromkeys(
        ("api_secret_read", "credential_file", "credential_command", "credential_store", "environment_dump"), _E
    ),
    "identity_escalation": {
        "password_change": _C,
        "mfa_change": _C,
        "outside_invite": _C,
        "outside_share": _C,
        "public_share": _C,
        "public_edit_share": _E,
        "password_reset": _E,
        "admin_mfa_change": _E,
        "admin_grant": _C,
        "role_grant": _C,
        "token_create": _C,
        "ownership_transfer": _C,
        "new_ssh_key": _C,
    },
    "mass_destruction": {
        **dict.fromkeys(_MASS_DESTRUCTION, _E),
        "many_items": _C,
        "force_push": _C,
        "api_bulk_delete": _C,
        "query_delete": _C,
    },
    "lateral_pivot": dict.fromkeys(
        (
            "container_escape",
            "file_scheme",
            "internal_scheme",
            "management_port",
            "management_socket",
            "metadata_endpoint",
            "metadata_redirect",
            "rebinding_name",
            "reverse_shell",
            "system_config",
        ),
        _E,
    )
    | {"service_config": _C},
    "unauthorized_exfiltration": {
        "private_data_to_new_recipient": _C,
        "private_data_to_known_recipient": _L,
        "send_after_credential_read": _C,
        "credential_in_message": _C,
        "exfiltration_endpoint": _E,
        "outside_forwarding": _C,
        "secret_in_payload": _E,
        "read_secret_sent": _E,
    },
    # Never confirm: the agent the gate guards must not be the one asked to switch it off.
    "gate_integrity": dict.fromkeys(("protected_file", "switch_off"), _E),
}

CLAUSE_DEFAULTS: Mapping[str, Mapping[str, Mode]] = MappingProxyType(
    {rule: MappingProxyType(clauses) for rule, clauses in _TABLE.items()}
)
"""Rule name -> clause short name -> the clause's mode when its rule is enforced."""


def clause_names(rule: str) -> tuple[str, ...]:
    """The short names of a rule's clauses, sorted; empty for a rule without a table."""
    return tuple(sorted(CLAUSE_DEFAULTS.get(rule, {})))


def default_mode(clause: str) -> Mode:
    """The default mode of `<rule>.<clause>`; enforce for anything not in the table."""
    rule, _, short = clause.partition(".")
    return CLAUSE_DEFAULTS.get(rule, {}).get(short, Mode.ENFORCE)


def effective_mode(rule_mode: Mode, clause_setting: Mode | None, clause: str) -> Mode:
    """The mode of a finding of `clause` (`<rule>.<clause>`) under its rule's mode and its own setting."""
    if clause_setting is not None:
        return clause_setting
    if rule_mode is Mode.ENFORCE:
        return default_mode(clause)
    return rule_mode
