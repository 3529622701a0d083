"""The Policy API as plain Python calls, for a proxy that embeds the policy in its own process.

`EmbeddedPolicy` answers what a proxy asks of a policy service (`decide`, `classify`,
`report_outcome`, `health`, `verify_key`, `register`, `heartbeat`, as `PolicyClient` names them)
by calling the decision service directly: no HTTP, no ASGI, no JSON round trip of models that
are already Python objects. It decides as the app's routes do, over the same storage, decision
log, approvals and rules; the checks that exist only for HTTP (the key, the body limit, the
loopback Host and Origin) have nothing to check here.

Where the route would answer an error status, the call raises the `PolicyUnreachable` that
`PolicyClient` raises for that answer, so a gate fails closed in the same way: arguments that no
JSON body could carry (NaN, an infinity, a lone surrogate, a value of another type) are refused
as the route refuses them. A call whose arguments are large is decided in a worker thread, as the
route decides a large body, so that small calls keep flowing; what a session read (an outcome
report) is always recorded in a worker thread, and `report_outcome` returns once it is recorded;
`report_outcomes` records a batch of them with one hand-over and one database transaction.
"""

from __future__ import annotations

import datetime
import pathlib
import re
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import anyio

from inherence_policy_client._errors import PolicyUnreachable
from inherence_policy_client._models import (
    MAX_OUTCOME_TEXT,
    Classification,
    DecideRequest,
    Decision,
    Health,
    Heartbeat,
    OutcomeReport,
    RegisterResponse,
    ToolDescription,
    UpstreamRegistration,
)
from inherence_policy_server import __version__
from inherence_policy_server._app import PolicyApp, create_app
from inherence_policy_server._classify import classify_tool
from inherence_policy_server._decide import non_finite_path
from inherence_policy_server._errors import StorageError
from inherence_policy_server._masking import mask_text
from inherence_policy_server.rules import RulesConfig

__all__ = ["EmbeddedPolicy", "open_embedded_policy"]

_DECIDE = "/api/proxy/decide"
_OUTCOME = "/api/proxy/outcome"
# The route decides a body of up to this many bytes inline; the arguments are measured in characters.
_INLINE_CHARS = 16 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")
_FINE, _BAD, _LARGE = 0, 1, 2


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _carries(text: str) -> bool:
    """True when `text` encodes as UTF-8 (no lone surrogate); ASCII, the usual case, is not searched."""
    return text.isascii() or _SURROGATE.search(text) is None


def _screen(arguments: Any, budget: float) -> int:
    """`_BAD` when `arguments` hold what JSON cannot carry, `_LARGE` past `budget` characters, else `_FINE`.

    One walk without recursion; past the budget it stops, so a large call is screened in the
    worker thread that decides it.
    """
    size = 0
    stack = [arguments]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is str:
            size += len(node) + 3
            if not _carries(node):
                return _BAD
        elif kind is dict:
            for key, item in node.items():
                if type(key) is not str or not _carries(key):
                    return _BAD
                size += len(key) + 4
                stack.append(item)
        elif kind is list:
            size += 2 + len(node)
            stack.extend(node)
        elif kind is float:
            size += 8
            if node - node != 0.0:  # NaN or an infinity
                return _BAD
        elif node is None or kind is bool or kind is int:
            size += 5
        elif isinstance(node, (str, dict, list, int, float)):
            return _BAD  # a subclass: whatever it does, the route would have been sent plain JSON
        else:
            return _BAD
        if size > budget:
            return _LARGE
    return _FINE


class EmbeddedPolicy:
    """The policy server's decisions as Python calls; a `Policy` and `OutcomeSink` for proxy-core.

    Made by `open_embedded_policy`; close it (`close()`, `aclose()`, or as a context manager) to
    flush the decision log and release the storage.
    """

    def __init__(self, app: PolicyApp) -> None:
        self._app = app
        self._service = app.decisions
        self._health = Health(status="ok", version=__version__)

    def __repr__(self) -> str:
        return "EmbeddedPolicy()"

    @property
    def app(self) -> PolicyApp:
        """The state this policy decides over (storage, decision log, rules), shared with the HTTP app."""
        return self._app

    @property
    def config(self) -> Any:
        return self._app.config

    def replace_config(self, config: RulesConfig, *, source: str = "the dashboard") -> list[str]:
        """Decide every later call by `config`; what it weakens is logged and returned (see `PolicyApp`)."""
        return self._app.replace_config(config, source=source)

    async def decide(self, request: DecideRequest) -> Decision:
        """The decision on one call, as `POST /api/proxy/decide` answers it."""
        if request.request_id is None:
            request = request.model_copy(update={"request_id": uuid.uuid4().hex})
        names = (request.tool_name, request.classification, request.session_id, request.upstream, request.client)
        if not all(name is None or (type(name) is str and _carries(name)) for name in names):
            raise PolicyUnreachable("no usable answer", endpoint=_DECIDE, status=400)
        screened = _screen(request.arguments, _INLINE_CHARS)
        if screened == _FINE:
            return self._service.decide(request, None)
        if screened == _BAD:
            _refuse(request.arguments)
        # Searching a large call can take a while: in a thread, so small calls keep flowing.
        return await anyio.to_thread.run_sync(self._decide_large, request)

    def _decide_large(self, request: DecideRequest) -> Decision:
        if _screen(request.arguments, float("inf")) == _BAD:
            _refuse(request.arguments)
        return self._service.decide(request, None)

    async def classify(self, tools: Sequence[ToolDescription]) -> list[Classification]:
        """Categories for `tools`, in their order."""
        return [classify_tool(tool) for tool in tools]

    async def report_outcome(self, report: OutcomeReport) -> bool:
        """Record what became of a decided call; returns once it is recorded, the work done in a thread.

        A sending call is judged by what its session read before it, so the caller may wait for
        this before deciding the next call of the session.
        """
        if len(report.content_text) > MAX_OUTCOME_TEXT or len(report.structured_text) > MAX_OUTCOME_TEXT:
            raise PolicyUnreachable("no usable answer", endpoint=_OUTCOME, status=422)
        try:
            await anyio.to_thread.run_sync(self._service.record_outcome, report, None, self._app.clock())
        except StorageError:
            raise PolicyUnreachable("no usable answer", endpoint=_OUTCOME, status=503) from None
        return True

    async def report_outcomes(self, reports: Sequence[OutcomeReport]) -> bool:
        """`report_outcome` for several reports at once: one worker thread hand-over and one transaction.

        Returns once all are recorded, in their order. A report over the text limits is refused, as
        `report_outcome` refuses it, after the others were recorded.
        """
        taken = [r for r in reports if max(len(r.content_text), len(r.structured_text)) <= MAX_OUTCOME_TEXT]
        try:
            await anyio.to_thread.run_sync(self._service.record_outcomes, taken, None, self._app.clock())
        except StorageError:
            raise PolicyUnreachable("no usable answer", endpoint=_OUTCOME, status=503) from None
        if len(taken) != len(reports):
            raise PolicyUnreachable("no usable answer", endpoint=_OUTCOME, status=422)
        return True

    async def health(self) -> Health:
        return self._health

    async def verify_key(self) -> None:
        """No key is asked for in process: always accepted."""

    async def register(self, upstreams: Sequence[UpstreamRegistration]) -> RegisterResponse:
        return RegisterResponse.model_validate({"status": "registered", "upstream_count": len(upstreams)})

    async def heartbeat(self, heartbeat: Heartbeat) -> None:
        """Acknowledged, as the route acknowledges it."""

    def flush(self) -> None:
        """Wait until every decision so far is in the decision log."""
        self._app.flush()

    def close(self) -> None:
        """Flush the decision log and close the storage (blocking: call it from a thread in async code)."""
        self._app.close()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._app.close)

    def __enter__(self) -> EmbeddedPolicy:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    async def __aenter__(self) -> EmbeddedPolicy:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _refuse(arguments: Any) -> None:
    where = non_finite_path(arguments)
    if where is not None:
        shown = mask_text(where)[:200].encode("utf-8", "replace").decode("utf-8")
        detail = f"{shown}: must be a finite number, not NaN or Infinity"
    else:
        detail = "the arguments hold a value that JSON cannot carry"
    raise PolicyUnreachable(detail, endpoint=_DECIDE, status=400)


def open_embedded_policy(
    data_dir: pathlib.Path | str,
    config: RulesConfig | None = None,
    protected_paths: Sequence[str] = (),
    *,
    clock: Callable[[], datetime.datetime] = _utc_now,
) -> EmbeddedPolicy:
    """The policy over the state in `data_dir`, decided in this process by `config` (defaults when None).

    `protected_paths` are the embedder's own files, kept from every tool call whatever the rules
    say, as `create_app(protected_paths=...)` keeps them.
    """
    app = create_app(data_dir=data_dir, config=config, clock=clock, require_key=False, protected_paths=protected_paths)
    return EmbeddedPolicy(app)
