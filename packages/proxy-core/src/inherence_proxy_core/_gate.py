"""The policy gate: one decision per call before the upstream sees it, and the model-facing refusals."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Awaitable, Sequence
from typing import Any, Literal, Protocol

from inherence_policy_client import (
    Classification,
    DecideRequest,
    Decision,
    PolicyAuthError,
    PolicyCallError,
    ToolDescription,
    Verdict,
)

__all__ = ["Policy", "PolicyGate", "tool_error"]

logger = logging.getLogger("inherence_proxy_core")


class Policy(Protocol):
    """What the gate needs of a policy service; `inherence_policy_client.PolicyClient` is one."""

    async def decide(self, request: DecideRequest) -> Decision: ...

    async def classify(self, tools: Sequence[ToolDescription]) -> list[Classification]: ...


def tool_error(payload: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """A tool result with `isError` whose only text is `payload` as JSON (the COMPAT.md shape)."""
    result: dict[str, Any] = {"content": [{"type": "text", "text": json.dumps(payload)}], "isError": True}
    if meta:
        result["_meta"] = meta
    return result


def decision_meta(decision: Decision) -> dict[str, Any]:
    return {
        "inherence_decision": decision.decision.value,
        "inherence_receipt": decision.receipt,
        "inherence_receipt_id": decision.receipt_id,
    }


class PolicyGate:
    """Asks the policy about each call and turns every failure into a refusal (fail closed)."""

    def __init__(self, policy: Policy, *, client: str | None = None, deadline: float = 10.0) -> None:
        self._policy = policy
        self._client = client
        self._deadline = deadline
        # Unique request ids without a random draw per call: one per gate, then a counter.
        self._id_prefix = uuid.uuid4().hex[:20] + "-"
        self._issued = 0

    def next_request_id(self) -> str:
        """A request id unique to this gate, for `decide` and for the outcome report of the same call."""
        self._issued += 1
        return f"{self._id_prefix}{self._issued:x}"

    async def decide(
        self,
        *,
        kind: Literal["tool", "resource", "prompt"],
        tool_name: str,
        upstream: str,
        category: str,
        fingerprint: str | None,
        arguments: dict[str, Any],
        session_id: str,
        request_id: str | None = None,
    ) -> Decision | dict[str, Any]:
        """The `Decision` when one was had, otherwise the refusal payload to return instead.

        Every request says `confirmable`: this gateway can always ask a human (by elicitation, or
        through an approval the user grants out of band), so the policy may answer `confirm`.
        """
        if request_id is None:
            request_id = self.next_request_id()
        try:
            # Every field was checked where it came from (a str name, a dict of parsed JSON), so
            # the model is built without a second validation: on the hot path that is half its cost.
            request = DecideRequest.model_construct(
                tool_name=tool_name,
                classification=category,
                arguments=arguments,
                session_id=session_id,
                upstream=upstream,
                request_id=request_id,
                fingerprint=fingerprint or None,
                client=self._client,
                kind=kind,
                confirmable=True,
            )
            decision = await _within(self._deadline, self._policy.decide(request))
        except PolicyAuthError:
            return {"error": "POLICY_GATE_AUTH", "message": "The policy service refused the API key."}
        except PolicyCallError as exc:
            return unreachable(exc.detail)
        except TimeoutError:
            return unreachable(f"no decision within {self._deadline:g} s")
        except Exception as exc:
            # Anything else (an argument the wire model cannot carry, a broken policy object) is no decision.
            logger.exception("policy decision for %s failed", tool_name)
            return unreachable(f"the decision failed ({type(exc).__name__})")
        if decision.decision is Verdict.ALLOW_WITH_LOG:
            logger.info("allowed with log: %s on %s (receipt %s)", tool_name, upstream, decision.receipt_id)
        return decision


async def _within(seconds: float, decision: Awaitable[Decision]) -> Decision:
    """`decision`, or `TimeoutError` after `seconds`.

    A timer that cancels this task, like `asyncio.timeout` but at a third of its cost (and a
    tenth of anyio's `fail_after`): on the hot path with an in-process policy it was the dearest part.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)
    if task is None:  # not in a task of asyncio's: nothing to cancel, so no deadline of ours
        return await decision
    fired = False

    def expire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    timer = loop.call_later(seconds, expire)
    try:
        answer = await decision
    except asyncio.CancelledError:
        if not fired:
            raise
        _uncancel(task)
        raise TimeoutError from None
    finally:
        timer.cancel()
    if fired:
        _uncancel(task)  # the policy swallowed our cancellation and answered anyway
    return answer


def _uncancel(task: asyncio.Task[Any]) -> None:
    # Withdraw the cancellation we asked for, so that scopes around this task do not see it as theirs.
    if sys.version_info >= (3, 11):
        task.uncancel()


def unreachable(detail: str) -> dict[str, Any]:
    return {
        "error": "POLICY_GATE_UNREACHABLE",
        "message": "No policy decision could be had, so the call was not made.",
        "detail": detail,
    }


def denial(decision: Decision) -> dict[str, Any]:
    return {
        "error": "POLICY_DENIAL",
        "reason": decision.reason,
        "failed_clauses": list(decision.failed_clauses),
        "receipt_id": decision.receipt_id,
    }
