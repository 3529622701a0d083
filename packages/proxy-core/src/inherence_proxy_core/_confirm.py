"""Asking the human when the policy answers `confirm`, and what the model is told either way.

A client that declared the elicitation capability (form mode) is sent one `elicitation/create`
with a short question; only an accepted form with `approve: true` lets the call through. A
decline, a cancel, an error, or no answer within the deadline holds the call (the request is
then withdrawn with `notifications/cancelled`). A client that cannot be asked gets
`POLICY_CONFIRMATION_REQUIRED` with the id of an approval the user can grant out of band, or a
plain `POLICY_DENIAL` when the policy gave none. Either way the upstream never sees the call
unless a human agreed to it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from inherence_policy_client import Decision
from inherence_proxy_core._gate import denial
from inherence_proxy_core._summary import about_secrets, mask_text, summarize_arguments

if TYPE_CHECKING:
    from inherence_proxy_core._session import ClientConnection

__all__ = [
    "APPROVAL_SCHEMA",
    "Confirmation",
    "ask_human",
    "can_elicit",
    "confirmation_message",
    "confirmation_required",
    "held",
]

logger = logging.getLogger("inherence_proxy_core")

Confirmation = Literal["accepted", "declined", "timed_out"]

# One yes/no field every form-capable client can render; the default is "no".
APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {
            "type": "boolean",
            "title": "Let this call through",
            "description": "Tick to let the tool run this once; leave it or decline to stop it.",
            "default": False,
        }
    },
    "required": ["approve"],
}
_MAX_MESSAGE = 1000
_MAX_REASON = 300
# Protocol revisions that know elicitation modes; earlier ones have form mode only and no `mode` field.
_MODES_SINCE = "2025-11-25"


def can_elicit(capabilities: dict[str, Any]) -> bool:
    """Whether a client's declared capabilities allow a form elicitation (an empty object means form)."""
    elicitation = capabilities.get("elicitation")
    if not isinstance(elicitation, dict):
        return False
    return "form" in elicitation or "url" not in elicitation


def rule_of(decision: Decision) -> str | None:
    receipt = decision.receipt
    rule = receipt.get("rule") if isinstance(receipt, dict) else None
    if isinstance(rule, str) and rule:
        return rule
    for clause in decision.failed_clauses:
        if isinstance(clause, str) and clause:
            return clause.partition(".")[0]
    return None


def confirmation_message(decision: Decision, *, upstream: str, tool: str, arguments: dict[str, Any]) -> str:
    """One short question: the tool and upstream, the arguments that matter, the rule and its reason."""
    rule = rule_of(decision)
    shown = summarize_arguments(arguments, hide_values=about_secrets(rule, decision.failed_clauses))
    reason = mask_text(" ".join((decision.reason or "the policy asks for a human's confirmation").split()))
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 1] + "…"
    question = f"Allow {tool} on {upstream}"
    question += f" ({shown})?" if shown else "?"
    because = f" Rule {rule}: {reason}" if rule else f" {reason}"
    message = question + because.rstrip(".") + "."
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def elicitation_params(message: str, protocol_version: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"message": message, "requestedSchema": APPROVAL_SCHEMA}
    if protocol_version is None or protocol_version >= _MODES_SINCE:
        params["mode"] = "form"
    return params


async def ask_human(session: ClientConnection, message: str, *, deadline: float, related_id: Any) -> Confirmation:
    """Ask the client's user; `accepted` only for an accepted form that says `approve: true`."""
    params = elicitation_params(message, session.protocol_version)
    try:
        answer = await session.request("elicitation/create", params, deadline=deadline, related_id=related_id)
    except TimeoutError:
        return "timed_out"
    result = answer.get("result")
    if not isinstance(result, dict):
        error = answer.get("error")
        detail = error.get("message") if isinstance(error, dict) else "no result"
        logger.info("the client's answer to a confirmation was an error (%s); the call is held", str(detail)[:200])
        return "declined"
    content = result.get("content")
    if result.get("action") == "accept" and isinstance(content, dict) and content.get("approve") is True:
        return "accepted"
    return "declined"


def held(decision: Decision, confirmation: Confirmation) -> dict[str, Any]:
    """The refusal of a call the human declined or did not answer in time."""
    return {**denial(decision), "confirmation": confirmation}


def confirmation_required(decision: Decision) -> dict[str, Any]:
    """The refusal for a client that cannot be asked: how to approve it, or a plain denial without an approval."""
    if not decision.approval_id:
        return denial(decision)
    approval = decision.approval_id
    return {
        "error": "POLICY_CONFIRMATION_REQUIRED",
        "approval_id": approval,
        "message": (
            f"This call needs a human's approval: run `inherence-proxy approve {approval}` "
            "(or approve it on the dashboard's Approvals page), then retry the same call."
        ),
        "reason": decision.reason,
        "failed_clauses": list(decision.failed_clauses),
        "receipt_id": decision.receipt_id,
    }
