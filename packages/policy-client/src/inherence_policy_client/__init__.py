"""Typed async client for the Inherence Policy API.

It speaks the protocol of hosted Inherence (`verify_key`, `register`, `classify`, `decide`,
`heartbeat`) plus the additive fields, `health` and `report_outcome` of inherence-policy-server, whose wire models
live here too. `inherence_policy_client.testing` has an in-memory policy for unit tests.
"""

__version__ = "0.1.0"

from inherence_policy_client._client import DEFAULT_BASE_URL, PolicyClient, Timeouts, is_loopback
from inherence_policy_client._errors import (
    PolicyAuthError,
    PolicyCallError,
    PolicyError,
    PolicyUnreachable,
    PolicyUsageError,
)
from inherence_policy_client._models import (
    MAX_OUTCOME_TEXT,
    Classification,
    ClassifyRequest,
    ClassifyResponse,
    DecideRequest,
    Decision,
    Health,
    Heartbeat,
    OutcomeReport,
    RegisterRequest,
    RegisterResponse,
    ToolDescription,
    UpstreamRegistration,
    Verdict,
    WireModel,
)
from inherence_policy_client._schema import openapi_document

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_OUTCOME_TEXT",
    "Classification",
    "ClassifyRequest",
    "ClassifyResponse",
    "DecideRequest",
    "Decision",
    "Health",
    "Heartbeat",
    "OutcomeReport",
    "PolicyAuthError",
    "PolicyCallError",
    "PolicyClient",
    "PolicyError",
    "PolicyUnreachable",
    "PolicyUsageError",
    "RegisterRequest",
    "RegisterResponse",
    "Timeouts",
    "ToolDescription",
    "UpstreamRegistration",
    "Verdict",
    "WireModel",
    "__version__",
    "is_loopback",
    "openapi_document",
]
