"""A self-hostable implementation of the Inherence Policy API.

It speaks the wire models of `inherence_policy_client` and nothing else of it. `create_app`
builds the ASGI app (served by `inherence-policy-server serve`, or mounted in-process by the
proxy with `require_key=False`); `SQLiteStorage` keeps keys, sessions, the velocity ledger
and the decision log in one data dir that several processes may share. With
`DashboardOptions` the app also serves the dashboard and its admin API. `open_approvals`
gives the approvals of a data dir to a person answering outside the server.
`open_embedded_policy` gives the same decisions as plain Python calls, for a proxy that embeds
the policy in its own process.
"""

__version__ = "0.1.0"

from inherence_policy_server._admin_log import RuleWeakening, recent_rule_weakenings
from inherence_policy_server._app import DEFAULT_MAX_BODY_BYTES, DashboardOptions, PolicyApp, create_app
from inherence_policy_server._approvals import Approval, Approvals
from inherence_policy_server._classify import classify
from inherence_policy_server._embedded import EmbeddedPolicy, open_embedded_policy
from inherence_policy_server._errors import (
    ApprovalExpired,
    ApprovalNotFound,
    ConfigError,
    PolicyServerError,
    ServerUsageError,
    StorageError,
    UnknownKeyError,
)
from inherence_policy_server._keys import ApiKeyRecord, IssuedKey, issue_key
from inherence_policy_server._rules import default_rules_config, load_rules_config
from inherence_policy_server._sqlite import SQLiteStorage, open_approvals
from inherence_policy_server._storage import DecisionLogEntry, Storage

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ApiKeyRecord",
    "Approval",
    "ApprovalExpired",
    "ApprovalNotFound",
    "Approvals",
    "ConfigError",
    "DashboardOptions",
    "DecisionLogEntry",
    "EmbeddedPolicy",
    "IssuedKey",
    "PolicyApp",
    "PolicyServerError",
    "RuleWeakening",
    "SQLiteStorage",
    "ServerUsageError",
    "Storage",
    "StorageError",
    "UnknownKeyError",
    "__version__",
    "classify",
    "create_app",
    "default_rules_config",
    "issue_key",
    "load_rules_config",
    "open_approvals",
    "open_embedded_policy",
    "recent_rule_weakenings",
]
