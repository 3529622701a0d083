"""Wire models of the Policy API: the single source of truth for client and server.

The field names are those hosted Inherence speaks. Every model ignores unknown fields, so a
newer peer can add fields without breaking an older one. Optional fields that are ours
(`session_id`, `upstream`, `request_id`, `fingerprint`, `client`, `kind`, `confirmable`) are left
out of the body when unset, so a body is byte-for-byte what a server that predates them expects.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

__all__ = [
    "MAX_OUTCOME_TEXT",
    "Classification",
    "ClassifyRequest",
    "ClassifyResponse",
    "DecideRequest",
    "Decision",
    "Health",
    "Heartbeat",
    "OutcomeReport",
    "RegisterRequest",
    "RegisterResponse",
    "ToolDescription",
    "UpstreamRegistration",
    "Verdict",
    "WireModel",
]


class WireModel(BaseModel):
    """Base of every wire model: unknown fields are ignored, values are not coerced across types."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body for this model, leaving out optional fields that are unset."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class Verdict(str, enum.Enum):
    """What the policy decided about one call.

    `CONFIRM` lets the call through only once a human agreed to it; until then it is held like
    a deny. A server answers it only to a request that said `confirmable: true`.
    """

    ALLOW = "allow"
    DENY = "deny"
    ALLOW_WITH_LOG = "allow_with_log"
    CONFIRM = "confirm"

    @property
    def allows(self) -> bool:
        """True only for the verdicts that let the call through without asking anyone."""
        return self is Verdict.ALLOW or self is Verdict.ALLOW_WITH_LOG


class ToolDescription(WireModel):
    """One tool as `classify` sees it; `schema_hash` is the tool's fingerprint."""

    name: str
    schema_hash: str
    description: str = ""
    input_schema: dict[str, JsonValue] = Field(default_factory=dict)


class ClassifyRequest(WireModel):
    tools: list[ToolDescription]


class Classification(WireModel):
    """The category the service gives a tool, where it came from and how sure it is."""

    name: str
    category: str
    source: str = "unknown"
    confidence: float = 0.0


class ClassifyResponse(WireModel):
    classifications: list[Classification]


class DecideRequest(WireModel):
    """One call to decide: a tool call, a resource read or a prompt get.

    `tool_name`, `classification` and `arguments` are what hosted Inherence reads; the rest
    is additive. `request_id` makes a retry idempotent and is the same on every attempt.
    `confirmable: true` says the caller can ask a human, so the server may answer `confirm`;
    without it the same finding is answered `deny`.
    """

    tool_name: str
    classification: str
    arguments: dict[str, JsonValue] = Field(default_factory=dict)
    session_id: str | None = None
    upstream: str | None = None
    request_id: str | None = None
    fingerprint: str | None = None
    client: str | None = None
    kind: Literal["tool", "resource", "prompt"] | None = None
    confirmable: bool | None = None

    def to_wire(self) -> dict[str, Any]:
        # Only top-level optional fields are dropped: an explicit null inside the arguments
        # is part of the call and must reach the policy as it was sent.
        body = self.model_dump(mode="json", by_alias=True)
        return {key: value for key, value in body.items() if value is not None}


class Decision(WireModel):
    """The answer to decide. A missing or unknown `decision` is a deny, never an allow.

    With `confirm`, `approval_id` names a pending approval the user can grant out of band
    (`inherence-proxy approve <id>`, the dashboard's Approvals page); a server may leave it out.
    A confirm carries the receipt, reason, failed clauses and receipt id a deny would.
    """

    decision: Verdict = Verdict.DENY
    receipt: JsonValue = None
    receipt_id: str | None = None
    reason: str | None = None
    failed_clauses: list[JsonValue] = Field(default_factory=list)
    approval_id: str | None = None

    @field_validator("decision", mode="before")
    @classmethod
    def _unknown_is_deny(cls, value: object) -> object:
        known = {verdict.value for verdict in Verdict}
        return value if isinstance(value, str) and value in known else Verdict.DENY

    @field_validator("failed_clauses", mode="before")
    @classmethod
    def _clauses_as_list(cls, value: object) -> object:
        return [] if value is None else value

    @property
    def allowed(self) -> bool:
        return self.decision.allows


MAX_OUTCOME_TEXT = 256 * 1024
"""The most characters `OutcomeReport.content_text` and `structured_text` may each hold."""


class OutcomeReport(WireModel):
    """What became of a decided call, sent to `POST /api/proxy/outcome` after the answer went out.

    For a result: `decision_id` is the receipt id of the decision that let the call through,
    `content_text` the text items of the result joined by newlines, `structured_text` the
    compact JSON of its structured content. For the human's answer to a `confirm`:
    `confirmation` is set, `decision_id` is the confirm's receipt id and the content is empty.
    A sender truncates the texts to `MAX_OUTCOME_TEXT` before it builds the model; longer
    texts are refused.
    """

    decision_id: str
    session_id: str | None = None
    request_id: str | None = None
    upstream: str | None = None
    tool_name: str | None = None
    is_error: bool = False
    content_text: str = Field(default="", max_length=MAX_OUTCOME_TEXT)
    structured_text: str = Field(default="", max_length=MAX_OUTCOME_TEXT)
    confirmation: Literal["accepted", "declined", "timed_out"] | None = None
    approval_id: str | None = None


class UpstreamRegistration(WireModel):
    """What `register` tells the service about one upstream server (never its env or secrets)."""

    name: str
    transport: str
    tool_count: int | None = None


class RegisterRequest(WireModel):
    upstreams: list[UpstreamRegistration]


class RegisterResponse(WireModel):
    """Hosted answers a JSON object whose fields the proxy does not depend on; kept verbatim."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Heartbeat(WireModel):
    """Sent every 60 s by a running proxy; failures never affect serving."""

    proxy_version: str
    upstream_count: int
    tool_count: int
    classification_cache_size: int
    client_type: str | None = None
    platform: str | None = None


class Health(WireModel):
    """`GET /api/proxy/health` of inherence-policy-server (hosted Inherence may not have it)."""

    status: str
    version: str | None = None
