"""The gate's own `confirm` for a 2026-07-28 client: an `input_required` round, its state sealed.

A modern client cannot be sent `elicitation/create` (the revision has no server-to-client
requests). When the policy answers `confirm` and the request's envelope declares form elicitation,
the call is answered with `resultType: "input_required"`: one input request under the key
`inherence_confirm` (the same yes/no question a legacy client is asked) and a `requestState`
of the gateway's own. The client asks its user and retries the same request with the answer in
`inputResponses` and the state echoed back.

The state is never trusted unsealed: it is `inh1.<payload>.<HMAC-SHA256>` under a key made at
random for this gateway process, and its payload binds it to the client's session, the name the
call is decided under, a digest of its arguments and an expiry (`confirm_timeout`); each state is
spent on its first use, so one answer lets one call through. On the retry
the policy decides again; only a `confirm` again, with a valid state for that very call and an
accepted answer with `approve: true`, lets it through. A deny stays a deny whatever the state says,
and an allow needs no state. A state that fails its seal, belongs to another client or call, or
has expired is refused with -32602 and the call goes nowhere.

A state without the `inh1.` prefix is not the gateway's: it belongs to an upstream's own round of
`input_required`, and goes to that upstream unchanged.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["CONFIRM_KEY", "STATE_PREFIX", "ConfirmRound", "StateSeal", "take_confirm_round"]

CONFIRM_KEY = "inherence_confirm"
STATE_PREFIX = "inh1."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def arguments_digest(arguments: Any) -> str:
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


class StateSeal:
    """Seals and opens the gateway's `requestState`, with a key that never leaves this process."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._key = secrets.token_bytes(32)
        self._clock = clock
        self._spent: dict[str, int] = {}

    def seal(self, *, session_id: str, gate_name: str, arguments: Any, ttl: float, held: str | None = None) -> str:
        """A state for this call by this client, valid for `ttl` seconds.

        `held` names a call the gateway holds open (see `_bridge`); a state without it is a confirmation's.
        """
        payload: dict[str, Any] = {
            "n": secrets.token_hex(8),
            "s": session_id,
            "t": gate_name,
            "a": arguments_digest(arguments),
            "e": int(self._clock() + ttl),
        }
        if held is not None:
            payload["h"] = held
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{STATE_PREFIX}{body}.{self._mac(body)}"

    def opens(
        self, state: str, *, session_id: str, gate_name: str, arguments: Any, held: str | None = None
    ) -> str | None:
        """None when `state` is a valid seal of this very call by this client, else why it is not.

        A confirmation's state (`held` None) never opens as a held call's, nor the other way round.
        """
        body, _, mac = state[len(STATE_PREFIX) :].partition(".")
        if not body or not hmac.compare_digest(mac, self._mac(body)):
            return "it was not sealed by this gateway"
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return "it was not sealed by this gateway"
        if not isinstance(payload, dict):
            return "it was not sealed by this gateway"
        if payload.get("s") != session_id:
            return "it belongs to another client"
        if payload.get("t") != gate_name or payload.get("a") != arguments_digest(arguments):
            return "it belongs to another call"
        if payload.get("h") != held:
            return "it belongs to another call"
        expiry, nonce = payload.get("e"), payload.get("n")
        now = self._clock()
        if not isinstance(expiry, int) or now > expiry:
            return "it has expired"
        # One human answer lets one call through: a state is spent on its first use.
        self._spent = {spent: until for spent, until in self._spent.items() if until >= now}
        if nonce in self._spent:
            return "it was used already"
        self._spent[str(nonce)] = expiry
        return None

    def genuine(self, state: str) -> bool:
        """Whether `state` carries this gateway's seal (what it binds is checked by `opens`)."""
        body, _, mac = state[len(STATE_PREFIX) :].partition(".")
        return bool(body) and hmac.compare_digest(mac, self._mac(body))

    @staticmethod
    def held_of(state: str) -> str | None:
        """The held call a state names, read without checking its seal: only to route it (`opens` checks)."""
        body = state[len(STATE_PREFIX) :].partition(".")[0]
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        held = payload.get("h") if isinstance(payload, dict) else None
        return held if isinstance(held, str) else None

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())


@dataclasses.dataclass
class ConfirmRound:
    """What a modern request brought of the gateway's own confirmation round, taken off its params."""

    capabilities: dict[str, Any]
    state: str | None = None
    answer: Any = None
    # Every input response the request carried with the state (a held call's answers, see `_bridge`).
    responses: dict[str, Any] = dataclasses.field(default_factory=dict)
    # What a call held open for the upstream's questions is bound to (`_bridge.hold_target`).
    target: tuple[str, Any] | None = None

    def verdict(self) -> Literal["accepted", "declined"]:
        answer = self.answer
        content = answer.get("content") if isinstance(answer, dict) else None
        if isinstance(answer, dict) and answer.get("action") == "accept" and isinstance(content, dict):
            return "accepted" if content.get("approve") is True else "declined"
        return "declined"


def take_confirm_round(params: dict[str, Any], capabilities: Any) -> tuple[dict[str, Any], ConfirmRound]:
    """Split the gateway's own `requestState` and input response off `params` (a copy when it had them)."""
    found = ConfirmRound(capabilities if isinstance(capabilities, dict) else {})
    state = params.get("requestState")
    if not isinstance(state, str) or not state.startswith(STATE_PREFIX):
        return params, found
    found.state = state
    kept = {key: value for key, value in params.items() if key not in ("requestState", "inputResponses")}
    responses = params.get("inputResponses")
    if isinstance(responses, dict):
        found.responses = responses
        found.answer = responses.get(CONFIRM_KEY)
        others = {key: value for key, value in responses.items() if key != CONFIRM_KEY}
        if others:
            kept["inputResponses"] = others
    return kept, found
