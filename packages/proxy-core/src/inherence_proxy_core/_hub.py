"""What every client connection shares: the upstreams, the catalog, the gate, and the relays between them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

import anyio
import anyio.abc

from inherence_policy_client import Decision, Verdict
from inherence_proxy_core._bridge import (
    ASKS,
    MAX_PARKED,
    MAX_PARKED_PER_CLIENT,
    MAX_ROUNDS,
    Hold,
    bridged_capabilities,
    hold_target,
    input_requests,
)
from inherence_proxy_core._catalog import Catalog, ToolRoute, resource_gate_name
from inherence_proxy_core._channel import METHOD_NOT_FOUND, Message, error_response
from inherence_proxy_core._config import GatewaySettings
from inherence_proxy_core._confirm import (
    Confirmation,
    ask_human,
    can_elicit,
    confirmation_message,
    confirmation_required,
    elicitation_params,
    held,
)
from inherence_proxy_core._errors import UpstreamClosed, UpstreamError
from inherence_proxy_core._gate import PolicyGate, decision_meta, denial, tool_error
from inherence_proxy_core._link import UpstreamLink
from inherence_proxy_core._listen import Listeners
from inherence_proxy_core._methods import GatedRequest, completion_request, subscription_request
from inherence_proxy_core._modern import CLIENT_CAPABILITIES_KEY, MODERN_VERSIONS
from inherence_proxy_core._modern_confirm import CONFIRM_KEY, ConfirmRound, StateSeal
from inherence_proxy_core._outcomes import SENDING_CATEGORIES, OutcomeReporter
from inherence_proxy_core._session import OUTCOME, Answer, ClientConnection, RelayedHandler
from inherence_proxy_core._upstream import DeclaredCapabilities, UpstreamSupervisor

__all__ = ["Hub", "gateway_notice", "upstream_notice"]

logger = logging.getLogger("inherence_proxy_core")

_CAPABILITY_OF_REQUEST = ASKS
_POLICY_ERROR_CODE = -32001
# An upstream's errors on tools/call that reach a 2026-07-28 client as errors rather than tool results:
# invalid params (a requestState it refused) and a client capability it needs (MCP 2026-07-28).
_RELAYED_ERRORS = frozenset({-32602, -32021})
_LIST_METHODS = {
    "tools": "tools/list",
    "resources": "resources/list",
    "resourceTemplates": "resources/templates/list",
    "prompts": "prompts/list",
}


class Hub:
    """Routes client requests to upstreams through the gate, and upstream messages back to clients."""

    def __init__(
        self,
        gate: PolicyGate,
        settings: GatewaySettings,
        reporter: OutcomeReporter | None = None,
        capabilities: DeclaredCapabilities | None = None,
    ) -> None:
        self.gate = gate
        self.settings = settings
        self.reporter = reporter
        self.capabilities = capabilities or DeclaredCapabilities()
        self.catalog = Catalog()
        self.supervisors: dict[str, UpstreamSupervisor] = {}
        self.sessions: set[ClientConnection] = set()
        self._progress: dict[str, tuple[ClientConnection, Any, Any]] = {}
        self._tokens = itertools.count(1)
        self._last_caller: dict[str, tuple[ClientConnection, Any]] = {}
        self.task_group: anyio.abc.TaskGroup | None = None
        self.standing: dict[str, Message] = {}
        # Seals the request state of the gate's own confirmation round with 2026-07-28 clients.
        self.seal = StateSeal()
        # Calls of 2026-07-28 clients held open while their upstream may ask for input (see `_bridge`):
        # by (the client connection's identity, its request id) while the upstream call runs, and by
        # their own id while an input_required round waits for the client's retry.
        self._holds_open: dict[tuple[int, Any], Hold] = {}
        self._parked: dict[str, Hold] = {}
        self.listeners = Listeners()
        # How many open listen streams watch each (upstream, uri) the gateway subscribed to upstream.
        self._watched: dict[tuple[str, str], int] = {}
        # The connection to each upstream its watched uris were subscribed on (a restart is a new one).
        self._subscribed_on: dict[str, UpstreamLink] = {}
        self.relayed: dict[str, RelayedHandler] = {
            "tools/list": self._list("tools"),
            "resources/list": self._list("resources"),
            "resources/templates/list": self._list("resourceTemplates"),
            "prompts/list": self._list("prompts"),
            "tools/call": self.call_tool,
            "resources/read": self.read_resource,
            "prompts/get": self.get_prompt,
            "resources/subscribe": self._subscription("resources/subscribe"),
            "resources/unsubscribe": self._subscription("resources/unsubscribe"),
            "completion/complete": self.complete,
            "logging/setLevel": self.set_level,
        }

    # -- lists ---------------------------------------------------------------------------------

    async def wait_first_attempts(self, deadline: float) -> None:
        with anyio.move_on_after(deadline):
            for supervisor in list(self.supervisors.values()):
                await supervisor.first_attempt_done.wait()

    def _list(self, key: str) -> RelayedHandler:
        attribute = {"resourceTemplates": "resource_templates"}.get(key, key)

        method = _LIST_METHODS[key]

        async def answer(session: ClientConnection, request_id: Any, params: dict[str, Any]) -> Answer:
            await self.wait_first_attempts(self.settings.ready_wait)
            logger.debug("%s answered from the catalog without a decision", method)
            return {"result": {key: getattr(self.catalog, attribute)}}

        return answer

    # -- the gated calls -----------------------------------------------------------------------

    def _ready_link(self, upstream: str) -> UpstreamLink | None:
        supervisor = self.supervisors.get(upstream)
        return supervisor.link if supervisor is not None else None

    def unavailable(self, upstream: str, reason: str | None = None) -> dict[str, Any]:
        """The `UPSTREAM_UNAVAILABLE` payload for `upstream`, with why it is down when that is known."""
        payload: dict[str, Any] = {"error": "UPSTREAM_UNAVAILABLE", "upstream": upstream}
        supervisor = self.supervisors.get(upstream)
        reason = reason or (supervisor.state.reason if supervisor is not None else None)
        if reason:
            payload["reason"] = reason
        return payload

    def _missing_tool(self, name: str) -> dict[str, Any]:
        """A tool not in the catalog: unavailable when its name is that of a down upstream's tool."""
        upstream, sep, _tool = name.partition("__")
        supervisor = self.supervisors.get(upstream) if sep else None
        if supervisor is not None and supervisor.link is None:
            return self.unavailable(upstream)
        return {"error": "TOOL_NOT_FOUND"}

    async def call_tool(self, session: ClientConnection, request_id: Any, params: dict[str, Any]) -> Answer:
        name = params.get("name")
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        if not isinstance(name, str):
            return error_response(request_id, -32602, "tools/call needs a tool `name`")
        if not isinstance(arguments, dict):
            return error_response(request_id, -32602, "tool arguments must be an object")
        route = self.catalog.tool_routes.get(name)
        if route is None:
            # A client may call before a slow upstream has listed its tools.
            await self.wait_first_attempts(self.settings.ready_wait)
            route = self.catalog.tool_routes.get(name)
        if route is None:
            return {"result": tool_error(self._missing_tool(name))}
        link = self._ready_link(route.upstream)
        if link is None:
            return {"result": tool_error(self.unavailable(route.upstream))}
        if self.reporter is not None and route.category in SENDING_CATEGORIES:
            await self.reporter.settled(session.id)
        gate_request = self.gate.next_request_id()
        decision = await self.gate.decide(
            kind="tool",
            tool_name=route.gate_name,
            upstream=route.upstream,
            category=route.category,
            fingerprint=route.fingerprint,
            arguments=arguments,
            session_id=session.id,
            request_id=gate_request,
        )
        if isinstance(decision, dict):
            return {"result": tool_error(decision)}
        if not decision.allowed:
            if decision.decision is not Verdict.CONFIRM:
                return {"result": tool_error(denial(decision), decision_meta(decision))}
            held_back = await self._confirm(
                session, request_id, decision, gate_request, route.upstream, route.name, route.gate_name, arguments
            )
            if held_back is not None:
                answer = _confirm_round_answer(request_id, held_back)
                return answer if answer is not None else {"result": tool_error(held_back, decision_meta(decision))}
        forwarded = dict(params)
        forwarded["name"] = route.name
        tail = self._finish_tool(session, request_id, link, forwarded, route, decision, gate_request)
        return await self._upstream_answer(session, request_id, link, tail)

    async def _finish_tool(
        self,
        session: ClientConnection,
        request_id: Any,
        link: UpstreamLink,
        forwarded: dict[str, Any],
        route: ToolRoute,
        decision: Decision,
        gate_request: str,
    ) -> Answer:
        """An allowed `tools/call` sent upstream, and its answer made the client's."""
        answer = await self._forward(session, request_id, link, "tools/call", forwarded)
        result = answer.get("result")
        if isinstance(result, dict) and not session.modern and _asks_input(result):
            answer = await self._answer_rounds(session, request_id, link, "tools/call", forwarded, answer)
            result = answer.get("result")
        if "upstream_unavailable" in answer:
            return {"result": tool_error(self.unavailable(route.upstream, answer["upstream_unavailable"]))}
        if "bridge_failed" in answer:
            result = None
            answer = {"error": {"message": answer["bridge_failed"]}}
        if not isinstance(result, dict):
            error = answer.get("error")
            if session.modern and isinstance(error, dict) and error.get("code") in _RELAYED_ERRORS:
                # The client acts on these (a refused requestState, a capability to declare): kept as errors.
                return error_response(request_id, error["code"], str(error.get("message", "")), error.get("data"))
            detail = error.get("message") if isinstance(error, dict) else "no result"
            payload = {"error": "UPSTREAM_ERROR", "upstream": route.upstream, "detail": str(detail)}
            result = tool_error(payload, decision_meta(decision))
        else:
            meta = result.get("_meta")
            result["_meta"] = {**meta, **decision_meta(decision)} if isinstance(meta, dict) else decision_meta(decision)
        if self.reporter is None or not decision.receipt_id:
            return {"result": result}
        # Reported by the session once the answer is out (see `ClientConnection._relay`).
        outcome = (decision.receipt_id, gate_request, session.id, route.upstream, route.gate_name, "tools/call")
        return {"result": result, OUTCOME: outcome}

    async def _confirm(
        self,
        session: ClientConnection,
        request_id: Any,
        decision: Decision,
        gate_request: str,
        upstream: str,
        tool: str,
        gate_name: str,
        arguments: dict[str, Any],
    ) -> dict[str, Any] | None:
        """Ask the human about a `confirm`: None when they let the call through, else the refusal.

        For a 2026-07-28 client, the refusal may instead be an `input_required` result to send as
        it is (it has `resultType`), or `{"invalid_state": why}` for a request state to refuse.
        """
        if session.modern:
            return self._confirm_modern(
                session, request_id, decision, gate_request, upstream, tool, gate_name, arguments
            )
        if not can_elicit(session.capabilities):
            return confirmation_required(decision)
        message = confirmation_message(decision, upstream=upstream, tool=tool, arguments=arguments)
        answer = await ask_human(session, message, deadline=self.settings.confirm_timeout, related_id=request_id)
        return self._answered(session, decision, answer, gate_request, upstream, gate_name)

    def _answered(
        self,
        session: ClientConnection,
        decision: Decision,
        answer: Confirmation,
        gate_request: str,
        upstream: str,
        gate_name: str,
    ) -> dict[str, Any] | None:
        """The person's answer to a confirmation, logged and reported; None lets the call through."""
        logger.info("confirmation of %s on %s: %s (receipt %s)", gate_name, upstream, answer, decision.receipt_id)
        if self.reporter is not None and decision.receipt_id:
            self.reporter.add_confirmation(
                decision_id=decision.receipt_id,
                confirmation=answer,
                approval_id=decision.approval_id,
                request_id=gate_request,
                session_id=session.id,
                upstream=upstream,
                tool_name=gate_name,
            )
        return None if answer == "accepted" else held(decision, answer)

    def _confirm_modern(
        self,
        session: ClientConnection,
        request_id: Any,
        decision: Decision,
        gate_request: str,
        upstream: str,
        tool: str,
        gate_name: str,
        arguments: dict[str, Any],
    ) -> dict[str, Any] | None:
        """The gate's `confirm` for a modern client: an `input_required` round (see `_modern_confirm`)."""
        confirm_round = session.rounds.get(request_id)
        if confirm_round is None:
            return confirmation_required(decision)
        if confirm_round.state is not None:
            problem = self.seal.opens(
                confirm_round.state, session_id=session.id, gate_name=gate_name, arguments=arguments
            )
            if problem is not None:
                logger.warning("refused a request state for %s on %s: %s", gate_name, upstream, problem)
                return {"invalid_state": f"requestState refused: {problem}"}
            return self._answered(session, decision, confirm_round.verdict(), gate_request, upstream, gate_name)
        if not can_elicit(confirm_round.capabilities):
            return confirmation_required(decision)
        message = confirmation_message(decision, upstream=upstream, tool=tool, arguments=arguments)
        question = {"method": "elicitation/create", "params": elicitation_params(message, MODERN_VERSIONS[-1])}
        state = self.seal.seal(
            session_id=session.id, gate_name=gate_name, arguments=arguments, ttl=self.settings.confirm_timeout
        )
        return {"resultType": "input_required", "inputRequests": {CONFIRM_KEY: question}, "requestState": state}

    async def _forward(
        self,
        session: ClientConnection,
        request_id: Any,
        link: UpstreamLink,
        method: str,
        params: dict[str, Any],
        deadline: float | None = None,
    ) -> Message:
        """Send an allowed request upstream; relay its progress back to `session`. `params` is left as it is."""
        token = None
        meta = params.get("_meta")
        if isinstance(meta, dict) and "progressToken" in meta:
            token = f"inh-{next(self._tokens)}"
            self._progress[token] = (session, meta["progressToken"], request_id)
            params = {**params, "_meta": {**meta, "progressToken": token}}
        self._last_caller[link.name] = (session, request_id)
        if deadline is None:
            deadline = self.settings.call_timeout
        envelope = None
        if link.envelope is not None:
            # A 2026-07-28 upstream asks only for input the request says its client can give.
            envelope = {**link.envelope, CLIENT_CAPABILITIES_KEY: self._input_capabilities(session, request_id)}
        try:
            return await link.request(method, params, deadline=deadline, envelope=envelope)
        except UpstreamClosed as exc:
            return {"upstream_unavailable": exc.detail}
        except TimeoutError:
            return error_response(request_id, -32001, f"no answer within {self.settings.call_timeout:g} s")
        finally:
            if token is not None:
                self._progress.pop(token, None)

    # -- input asked for during a call, across the eras (see `_bridge`) -------------------------

    async def _answer_rounds(
        self,
        session: ClientConnection,
        request_id: Any,
        link: UpstreamLink,
        method: str,
        params: dict[str, Any],
        answer: Message,
    ) -> Message:
        """A 2026-07-28 upstream's `input_required` rounds answered by a handshake-era client.

        Each input request goes to the client as the request it stands for; the call is then sent
        again, as allowed, with the answers and the upstream's state. The answer once the upstream
        no longer asks, or `{"bridge_failed": why}`.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.call_timeout
        for _round in range(MAX_ROUNDS):
            result = answer.get("result")
            if not isinstance(result, dict) or not _asks_input(result):
                return answer
            taken = input_requests(result)
            if isinstance(taken, str):
                return {"bridge_failed": f"the upstream's input_required result was refused: {taken}"}
            asks, state = taken
            responses: dict[str, Any] = {}
            for key, ask, ask_params in asks:
                capability = ASKS[ask]
                if capability not in session.capabilities:
                    why = f"the upstream asked for {ask}, and the client did not declare the {capability} capability"
                    return {"bridge_failed": why}
                try:
                    reply = await session.request(
                        ask, ask_params, deadline=max(deadline - loop.time(), 0.0), related_id=request_id
                    )
                except TimeoutError:
                    return {"bridge_failed": f"the client did not answer the upstream's {ask} in time"}
                reply_result = reply.get("result")
                if not isinstance(reply_result, dict):
                    error = reply.get("error")
                    detail = error.get("message") if isinstance(error, dict) else None
                    return {"bridge_failed": f"the client refused the upstream's {ask}: {str(detail)[:200]}"}
                responses[key] = reply_result
            retry = {key: value for key, value in params.items() if key not in ("inputResponses", "requestState")}
            if responses:
                retry["inputResponses"] = responses
            if state is not None:
                retry["requestState"] = state
            logger.debug("%s sent again to %s with %d input responses", method, link.name, len(responses))
            answer = await self._forward(
                session, request_id, link, method, retry, deadline=max(deadline - loop.time(), 0.0)
            )
        result = answer.get("result")
        if isinstance(result, dict) and _asks_input(result):
            return {"bridge_failed": f"the upstream still asked for input after {MAX_ROUNDS} rounds"}
        return answer

    def _input_capabilities(self, session: ClientConnection, request_id: Any) -> dict[str, Any]:
        """The input (elicitation, sampling, roots) the client of this request can give."""
        if not session.modern:
            return bridged_capabilities(session.capabilities)
        confirm_round = session.rounds.get(request_id)
        return bridged_capabilities(confirm_round.capabilities) if confirm_round is not None else {}

    async def _upstream_answer(
        self, session: ClientConnection, request_id: Any, link: UpstreamLink, tail: Coroutine[Any, Any, Answer]
    ) -> Answer:
        """Run `tail` (the decided call, upstream): held open when a modern client may be asked for input."""
        if session.modern and link.envelope is None:
            hold = self._hold_for(session, request_id)
            if hold is not None:
                return await self._held(session, request_id, tail, hold)
        return await tail

    def _hold_for(self, session: ClientConnection, request_id: Any) -> Hold | None:
        """A hold for this modern request when its envelope declares input the client can give, else None."""
        confirm_round = session.rounds.get(request_id)
        if confirm_round is None or confirm_round.target is None:
            return None
        declared = confirm_round.capabilities
        capabilities = {name: declared[name] for name in ASKS.values() if name in declared}
        if not capabilities:
            return None
        loop = asyncio.get_running_loop()
        return Hold(loop, session_id=session.id, capabilities=capabilities, target=confirm_round.target)

    async def _held(
        self, session: ClientConnection, request_id: Any, tail: Coroutine[Any, Any, Answer], hold: Hold
    ) -> Answer:
        """Run `tail` (the call upstream) held open: its answer, or an input_required round when the upstream asks."""
        key = (id(session), request_id)
        self._holds_open[key] = hold
        hold.task = task = asyncio.get_running_loop().create_task(tail)

        def ended(_task: asyncio.Task[Any]) -> None:
            if self._holds_open.get(key) is hold:
                del self._holds_open[key]
            hold.end("the call ended before the client answered")

        task.add_done_callback(ended)
        return await self._next_round(session, request_id, hold)

    async def _next_round(self, session: ClientConnection, request_id: Any, hold: Hold) -> Answer:
        task = hold.task
        assert task is not None
        if not hold.waiting and not task.done():
            hold.asked.clear()
            asked = asyncio.get_running_loop().create_task(hold.asked.wait())
            try:
                await asyncio.wait({task, asked}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                task.cancel()  # the client withdrew the call: so does the gateway, upstream
                raise
            finally:
                asked.cancel()
        if task.done():
            answer: Answer = task.result()
            return answer
        hold.rounds += 1
        parked_here = sum(1 for parked in self._parked.values() if parked.session_id == session.id)
        refusal = None
        if hold.rounds > MAX_ROUNDS:
            refusal = f"the upstream still asked for input after {MAX_ROUNDS} rounds"
        elif len(self._parked) >= MAX_PARKED or parked_here >= MAX_PARKED_PER_CLIENT:
            refusal = "too many calls wait for a client's input already"
        if refusal is not None:
            task.cancel()
            hold.end(refusal)
            return error_response(request_id, _POLICY_ERROR_CODE, refusal)
        requests = hold.take_round()
        ttl = self.settings.confirm_timeout
        state = self.seal.seal(
            session_id=session.id, gate_name=hold.target[0], arguments=hold.target[1], ttl=ttl, held=hold.id
        )
        self._parked[hold.id] = hold
        hold.timer = asyncio.get_running_loop().call_later(ttl, self._expire, hold)
        return {"result": {"resultType": "input_required", "inputRequests": requests, "requestState": state}}

    def _expire(self, hold: Hold, reason: str = "the client did not retry the call in time") -> None:
        """End a held call that waits for a retry: the upstream is told the call is cancelled."""
        self._parked.pop(hold.id, None)
        if hold.task is not None and not hold.task.done():
            hold.task.cancel()
        hold.end(reason)

    async def resume(
        self, session: ClientConnection, request_id: Any, method: str, params: dict[str, Any], given: ConfirmRound
    ) -> Answer:
        """A modern client's retry of a held call: its answers go to the upstream, then the call goes on.

        Not decided again: the state binds it to the call the policy allowed (see `_bridge`).
        """
        state = given.state or ""
        held = self.seal.held_of(state)
        target, arguments = hold_target(method, params)
        problem = self.seal.opens(state, session_id=session.id, gate_name=target, arguments=arguments, held=held)
        hold = self._parked.get(held) if held is not None else None
        if problem is None and hold is None:
            problem = "the call it continues has ended"
        if problem is not None or hold is None:
            logger.warning("refused a request state for %s: %s", target, problem)
            return error_response(request_id, -32602, f"requestState refused: {problem}")
        self._parked.pop(hold.id, None)
        if hold.timer is not None:
            hold.timer.cancel()
            hold.timer = None
        hold.answer(given.responses)
        return await self._next_round(session, request_id, hold)

    def release(self, session: ClientConnection) -> None:
        """End the held calls of a client that went away."""
        for hold in [hold for hold in self._parked.values() if hold.session_id == session.id]:
            self._expire(hold, "the client went away")

    async def _ask_through_hold(
        self, link: UpstreamLink, request_id: Any, method: str, params: Any, hold: Hold, capability: str
    ) -> None:
        """An upstream's request during a held call: put to the modern client in its next input_required round."""
        if capability not in hold.capabilities:
            refusal = f"the client did not declare the {capability} capability"
            await link.respond(error_response(request_id, METHOD_NOT_FOUND, refusal))
            return
        queued = hold.ask(method, params if isinstance(params, dict) else None)
        if queued is None:
            await link.respond(error_response(request_id, -32000, "too many requests to the client at once"))
            return
        key, waiter = queued
        try:
            answer = await waiter.wait(self.settings.call_timeout)
        except TimeoutError:
            answer = error_response(request_id, -32001, "the client did not answer in time")
        finally:
            hold.drop(key)
        if answer is None:
            answer = error_response(request_id, -32000, "the client went away")
        await link.respond({"jsonrpc": "2.0", **answer, "id": request_id})

    def _refusal(self, request_id: Any, payload: dict[str, Any]) -> Answer:
        return error_response(request_id, _POLICY_ERROR_CODE, str(payload["error"]), payload)

    async def _gated_relay(
        self,
        session: ClientConnection,
        request_id: Any,
        upstream: str,
        method: str,
        params: dict[str, Any],
        label: str,
        **gate: Any,
    ) -> Answer:
        link = self._ready_link(upstream)
        if link is None:
            return self._refusal(request_id, self.unavailable(upstream))
        gate_request = self.gate.next_request_id()
        decision = await self.gate.decide(upstream=upstream, session_id=session.id, request_id=gate_request, **gate)
        if isinstance(decision, dict):
            return self._refusal(request_id, decision)
        if not decision.allowed:
            if decision.decision is not Verdict.CONFIRM:
                return self._refusal(request_id, denial(decision))
            held_back = await self._confirm(
                session, request_id, decision, gate_request, upstream, label, gate["tool_name"], gate["arguments"]
            )
            if held_back is not None:
                answer = _confirm_round_answer(request_id, held_back)
                return answer if answer is not None else self._refusal(request_id, held_back)
        tail = self._finish_relay(session, request_id, link, upstream, method, params, decision, gate_request, gate)
        return await self._upstream_answer(session, request_id, link, tail)

    async def _finish_relay(
        self,
        session: ClientConnection,
        request_id: Any,
        link: UpstreamLink,
        upstream: str,
        method: str,
        params: dict[str, Any],
        decision: Decision,
        gate_request: str,
        gate: dict[str, Any],
    ) -> Answer:
        """An allowed request sent upstream, and its answer made the client's."""
        answer = await self._forward(session, request_id, link, method, params)
        result = answer.get("result")
        if isinstance(result, dict) and not session.modern and _asks_input(result):
            answer = await self._answer_rounds(session, request_id, link, method, params, answer)
            result = answer.get("result")
        if "upstream_unavailable" in answer:
            return self._refusal(request_id, self.unavailable(upstream, answer["upstream_unavailable"]))
        if "bridge_failed" in answer:
            payload = {"error": "UPSTREAM_ERROR", "upstream": upstream, "detail": answer["bridge_failed"]}
            return self._refusal(request_id, payload)
        answer.pop("id", None)
        answer.pop("jsonrpc", None)
        if isinstance(result, dict):
            meta = result.get("_meta")
            result["_meta"] = {**meta, **decision_meta(decision)} if isinstance(meta, dict) else decision_meta(decision)
        if self.reporter is not None and decision.receipt_id:
            answer[OUTCOME] = (decision.receipt_id, gate_request, session.id, upstream, gate["tool_name"], method)
        return answer

    async def read_resource(self, session: ClientConnection, request_id: Any, params: dict[str, Any]) -> Answer:
        uri = params.get("uri")
        if not isinstance(uri, str):
            return error_response(request_id, -32602, "resources/read needs a `uri`")
        upstream = self.catalog.route_resource(uri, self._resource_upstreams())
        if upstream is None:
            return error_response(request_id, -32002, f"resource not found: {uri}")
        gate = {"kind": "resource", "tool_name": resource_gate_name(upstream), "category": "unknown"}
        return await self._gated_relay(
            session,
            request_id,
            upstream,
            "resources/read",
            dict(params),
            "resources/read",
            fingerprint=None,
            arguments={"uri": uri},
            **gate,
        )

    async def get_prompt(self, session: ClientConnection, request_id: Any, params: dict[str, Any]) -> Answer:
        name = params.get("name")
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        route = self.catalog.prompt_routes.get(name) if isinstance(name, str) else None
        if route is None:
            return error_response(request_id, -32602, f"unknown prompt: {name}")
        if not isinstance(arguments, dict):
            return error_response(request_id, -32602, "prompt arguments must be an object")
        forwarded = {**params, "name": route.name}
        return await self._gated_relay(
            session,
            request_id,
            route.upstream,
            "prompts/get",
            forwarded,
            route.name,
            kind="prompt",
            tool_name=route.gate_name,
            category="unknown",
            fingerprint=None,
            arguments=arguments,
        )

    def _resource_upstreams(self) -> Sequence[str]:
        return [n for n, s in self.supervisors.items() if s.link is not None and "resources" in s.state.capabilities]

    def _subscription(self, method: str) -> RelayedHandler:
        async def relay(session: ClientConnection, request_id: Any, params: dict[str, Any]) -> Answer:
            def route(uri: str) -> str | None:
                return self.catalog.route_resource(uri, self._resource_upstreams())

            gated = subscription_request(method, params, route)
            if isinstance(gated, str):
                # A client may ask before a slow upstream has listed what it offers.
                await self.wait_first_attempts(self.settings.ready_wait)
                gated = subscription_request(method, params, route)
            return await self._decided(session, request_id, method, gated)

        return relay

    def offers_subscriptions(self) -> bool:
        """Whether some upstream subscribes resources for a listen (a handshake-era one offering it)."""
        return any(self._subscribable(supervisor) for supervisor in self.supervisors.values())

    @staticmethod
    def _subscribable(supervisor: UpstreamSupervisor) -> bool:
        link = supervisor.link
        offered = supervisor.state.capabilities.get("resources")
        return (
            link is not None
            and link.envelope is None
            and isinstance(offered, dict)
            and offered.get("subscribe") is True
        )

    async def watch_resources(
        self, session: ClientConnection, request_id: Any, uris: list[str], watched: list[tuple[str, str]]
    ) -> None:
        """Subscribe upstream to each uri a listen's `resourceSubscriptions` names; add each (upstream, uri)
        honoured to `watched` as soon as it is (a listen ended meanwhile lets go of those already taken).

        Each is decided as the client's own `resources/subscribe` of it is, before any upstream sees
        it, and sent to the upstream that owns it when that upstream offers subscriptions (a
        handshake-era one: a 2026-07-28 upstream has no `resources/subscribe`). A uri refused, not
        found, or not subscribed upstream is left out of the acknowledgement.
        """
        handler = self.relayed["resources/subscribe"]
        for uri in dict.fromkeys(uris):
            upstream = self.catalog.route_resource(uri, self._resource_upstreams())
            if upstream is None:
                await self.wait_first_attempts(self.settings.ready_wait)
                upstream = self.catalog.route_resource(uri, self._resource_upstreams())
            supervisor = self.supervisors.get(upstream) if upstream is not None else None
            if upstream is None or supervisor is None or not self._subscribable(supervisor):
                continue
            answer = await handler(session, request_id, {"uri": uri})
            outcome = answer.pop(OUTCOME, None)
            result = answer.get("result")
            if not isinstance(result, dict) or _asks_input(result):
                continue
            if outcome is not None and self.reporter is not None:
                self.reporter.add_result(outcome, answer)
            self._watched[(upstream, uri)] = self._watched.get((upstream, uri), 0) + 1
            watched.append((upstream, uri))
            if supervisor.link is not None:
                self._subscribed_on[upstream] = supervisor.link

    def resubscribe(self, supervisor: UpstreamSupervisor) -> None:
        """An upstream (re)connected: subscribe again, on the new connection, the uris streams still watch.

        The gateway's repeat of subscriptions the policy allowed, on the connection that replaced the
        one they were made on; not decided again.
        """
        link = supervisor.link
        uris = [uri for (upstream, uri) in self._watched if upstream == supervisor.name]
        if link is None or not uris or self._subscribed_on.get(supervisor.name) is link:
            return
        self._subscribed_on[supervisor.name] = link
        for uri in uris:
            self.spawn(self._upstream_request, link, "resources/subscribe", uri)

    def unwatch_resources(self, watched: list[tuple[str, str]]) -> None:
        """A listen stream ended: unsubscribe upstream from each uri no open stream watches any more."""
        for key in watched:
            left = self._watched.get(key, 0) - 1
            if left > 0:
                self._watched[key] = left
                continue
            self._watched.pop(key, None)
            supervisor = self.supervisors.get(key[0])
            link = supervisor.link if supervisor is not None else None
            if link is not None:
                self.spawn(self._upstream_request, link, "resources/unsubscribe", key[1])
            if not any(upstream == key[0] for upstream, _uri in self._watched):
                self._subscribed_on.pop(key[0], None)

    async def _upstream_request(self, link: UpstreamLink, method: str, uri: str) -> None:
        # The gateway's own request about a subscription already decided (see `resubscribe`, `unwatch_resources`).
        with contextlib.suppress(UpstreamError, TimeoutError):
            await link.request(method, {"uri": uri}, deadline=self.settings.call_timeout)

    async def complete(self, session: ClientConnection, request_id: Any, params: dict[str, Any]) -> Answer:
        gated = completion_request(params, self.catalog, self._resource_upstreams())
        if isinstance(gated, str):
            await self.wait_first_attempts(self.settings.ready_wait)
            gated = completion_request(params, self.catalog, self._resource_upstreams())
        return await self._decided(session, request_id, "completion/complete", gated)

    async def _decided(
        self, session: ClientConnection, request_id: Any, method: str, gated: GatedRequest | str
    ) -> Answer:
        if isinstance(gated, str):
            return error_response(request_id, -32602, gated)
        return await self._gated_relay(
            session,
            request_id,
            gated.upstream,
            method,
            gated.forwarded,
            method,
            kind=gated.kind,
            tool_name=gated.tool_name,
            category="unknown",
            fingerprint=None,
            arguments=gated.arguments,
        )

    # -- relayed without a decision ------------------------------------------------------------

    async def set_level(self, session: ClientConnection, request_id: Any, params: dict[str, Any]) -> Answer:
        logger.debug("logging/setLevel relayed without a decision to every upstream that logs")
        for supervisor in list(self.supervisors.values()):
            link = supervisor.link
            if link is not None and "logging" in supervisor.state.capabilities:
                with anyio.move_on_after(self.settings.list_timeout):
                    with contextlib.suppress(UpstreamClosed, TimeoutError):
                        await link.request("logging/setLevel", dict(params), deadline=self.settings.list_timeout)
        return {"result": {}}

    # -- from upstreams ------------------------------------------------------------------------

    def broadcast_upstream(self, method: str, params: dict[str, Any]) -> None:
        logger.debug("%s relayed without a decision to every upstream", method)
        for supervisor in self.supervisors.values():
            link = supervisor.link
            if link is not None:
                self.spawn(link.notify, method, params)

    def on_upstream_notification(self, link: UpstreamLink, message: Message) -> None:
        method = message.get("method")
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if method == "notifications/progress":
            entry = self._progress.get(str(params.get("progressToken")))
            if entry is not None:
                session, token, related = entry
                out = {"jsonrpc": "2.0", "method": method, "params": {**params, "progressToken": token}}
                self.spawn(session.send, out, related)
        elif method in ("notifications/message", "notifications/resources/updated"):
            for session in list(self.sessions):
                # A 2026-07-28 client gets these only on a subscription stream it asked for.
                if not session.modern:
                    self.spawn(session.send, message, None)
            if method == "notifications/resources/updated":
                self.listeners.updated(link.name, params, self.spawn)

    async def on_upstream_request(self, link: UpstreamLink, message: Message) -> None:
        method = str(message.get("method"))
        request_id = message.get("id")
        params = message.get("params")
        if method == "ping":
            await link.respond({"jsonrpc": "2.0", "id": request_id, "result": {}})
            return
        capability = _CAPABILITY_OF_REQUEST.get(method)
        if capability is None:
            await link.respond(error_response(request_id, METHOD_NOT_FOUND, f"method not found: {method}"))
            return
        last = self._last_caller.get(link.name)
        hold = self._holds_open.get((id(last[0]), last[1])) if last is not None else None
        if hold is not None:
            await self._ask_through_hold(link, request_id, method, params, hold, capability)
            return
        session, related = self._client_for(link.name, capability)
        if session is None:
            refusal = f"the client did not declare the {capability} capability"
            await link.respond(error_response(request_id, METHOD_NOT_FOUND, refusal))
            return
        try:
            answer = await session.request(
                method,
                params if isinstance(params, dict) else None,
                deadline=self.settings.call_timeout,
                related_id=related,
            )
        except TimeoutError:
            answer = error_response(request_id, -32001, "the client did not answer in time")
        answer = {**answer, "id": request_id}
        await link.respond(answer)

    def _client_for(self, upstream: str, capability: str) -> tuple[ClientConnection | None, Any]:
        """The client to ask: the one whose call the upstream is serving, if it declared `capability`.

        A request made while serving one client's call is never put to another client, whatever
        that one declared; only a request outside any call goes to a client that declared it.
        """
        last = self._last_caller.get(upstream)
        if last is not None and not last[0].closed:
            return last if capability in last[0].capabilities else (None, None)
        for session in self.sessions:
            if not session.closed and capability in session.capabilities:
                return session, None
        return None, None

    # -- to clients ----------------------------------------------------------------------------

    def announce(self, message: Message) -> None:
        """Send a notification to every client that has initialized."""
        for session in list(self.sessions):
            if session.protocol_version is not None:
                self.spawn(session.send, message, None)

    def greet(self, session: ClientConnection) -> None:
        """Tell a client that just initialized which upstreams are down, and why, and the standing warnings."""
        for supervisor in list(self.supervisors.values()):
            if supervisor.link is None and supervisor.first_attempt_done.is_set() and supervisor.state.reason:
                self.spawn(session.send, upstream_notice(supervisor.name, supervisor.state.reason), None)
        for message in list(self.standing.values()):
            self.spawn(session.send, message, None)

    def stand(self, key: str, message: Message) -> None:
        """Send `message` to every client now, and to each client that initializes later."""
        self.standing[key] = message
        self.announce(message)

    def spawn(self, func: Any, *args: Any) -> None:
        """Run a short send in the background task group of the gateway."""
        if self.task_group is not None:
            self.task_group.start_soon(_guarded, func, *args)


def _asks_input(result: dict[str, Any]) -> bool:
    return result.get("resultType") == "input_required"


def upstream_notice(upstream: str, reason: str | None) -> Message:
    """A `notifications/message` to the client: `upstream` is down (with `reason`), or back (None)."""
    if reason is None:
        return gateway_notice("info", f"upstream {upstream} is available again", upstream=upstream, reason=None)
    text = f"upstream {upstream} is unavailable: {reason}; its tools fail until it is back"
    return gateway_notice("warning", text, upstream=upstream, reason=reason)


def gateway_notice(level: str, text: str, **data: Any) -> Message:
    """A `notifications/message` from the gateway (`logger` `inherence-proxy`, `data` `{"message", ...}`)."""
    params = {"level": level, "logger": "inherence-proxy", "data": {"message": text, **data}}
    return {"jsonrpc": "2.0", "method": "notifications/message", "params": params}


async def _guarded(func: Any, *args: Any) -> None:
    # A failed relay of one notification must never take the gateway down with it.
    try:
        await func(*args)
    except Exception:
        logger.exception("relaying a message failed")


def _confirm_round_answer(request_id: Any, held_back: dict[str, Any]) -> Answer | None:
    """The answer for a confirmation that stays a round (input_required, or a refused state); None for a refusal."""
    if "resultType" in held_back:
        return {"result": held_back}
    if "invalid_state" in held_back:
        return error_response(request_id, -32602, held_back["invalid_state"])
    return None
