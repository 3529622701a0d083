"""The ASGI app of the Policy API: `create_app(...)` for uvicorn or an in-process transport.

Routes (hosted protocol plus our health check):

    POST /api/proxy/auth/verify   200 when the key is good, 401 otherwise
    POST /api/proxy/register      the upstreams of a proxy (acknowledged)
    POST /api/proxy/classify      categories for tools
    POST /api/proxy/decide        allow / deny / allow_with_log / confirm for one call
    POST /api/proxy/outcome       what became of a decided call, or a person's answer to a confirm (202)
    POST /api/proxy/heartbeat     acknowledged
    GET  /api/proxy/health        no key needed

With an admin token, the dashboard's pages (`/`, `/login`, ...) and its JSON admin API
(`/api/admin/...`) are served too; see the `dashboard` package.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import pathlib
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import anyio
import pydantic
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from inherence_policy_client._models import (
    MAX_OUTCOME_TEXT,
    ClassifyRequest,
    ClassifyResponse,
    Health,
    Heartbeat,
    OutcomeReport,
    RegisterRequest,
)
from inherence_policy_server import __version__
from inherence_policy_server._admin_log import record_weakening
from inherence_policy_server._classify import classify_tool
from inherence_policy_server._decide import DecisionService, Outcome
from inherence_policy_server._decision_log import DecisionLogWriter
from inherence_policy_server._errors import ServerUsageError, StorageError
from inherence_policy_server._http import (
    ASGIReceive,
    ASGISend,
    BodyTooLarge,
    ClientGone,
    Scope,
    bearer_token,
    content_length,
    json_problem,
    read_body,
    send_json,
)
from inherence_policy_server._keys import parse_key, verify_secret
from inherence_policy_server._live_rules import LiveRules
from inherence_policy_server._local_callers import keyless_refusal
from inherence_policy_server._rules import Evaluator, default_evaluator, default_rules_config
from inherence_policy_server._storage import DEFAULT_TENANT, SQLStorage, Storage, open_storage
from inherence_policy_server._telemetry import Telemetry
from inherence_policy_server.rules import RulesConfig
from inherence_policy_server.rules._api import SessionLedger
from inherence_policy_server.rules._weakening import weakenings

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DashboardOptions", "PolicyApp", "create_app"]

logger = logging.getLogger("inherence_policy_server")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_DECIDE_PATH = "/api/proxy/decide"
_INLINE_BODY_BYTES = 16 * 1024
# Two texts of MAX_OUTCOME_TEXT characters, each up to 6 bytes as JSON (`\uXXXX`), and the rest.
_OUTCOME_BODY_BYTES = 2 * 6 * MAX_OUTCOME_TEXT + 64 * 1024
_Handler = Callable[[bytes, "str | None"], Awaitable[Outcome]]
_UNAUTHORIZED = (401, json_problem("UNAUTHORIZED", "a valid API key is required"))


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclasses.dataclass(frozen=True)
class DashboardOptions:
    """Serve the dashboard: who may (the admin token, remote peers or not), where rule changes are saved."""

    admin_token: str
    config_path: pathlib.Path | None = None
    allow_remote: bool = False


class _Endpoint:
    """One POST route as a bare ASGI app: size check, key check, bounded body read, handler."""

    def __init__(
        self, app: PolicyApp, handler: _Handler, *, authenticate: bool = True, max_body_bytes: int | None = None
    ) -> None:
        self._app = app
        self._handler = handler
        self._authenticate = authenticate
        self._max_body_bytes = max_body_bytes

    def _refusal(self, scope: Scope) -> tuple[int, bytes] | None:
        """What refuses a call before its key and body are read: a body declared too large, a foreign keyless caller."""
        limit = self._max_body_bytes or self._app.max_body_bytes
        declared = content_length(scope)
        if declared is not None and declared > limit:
            return 413, json_problem("BODY_TOO_LARGE", f"the limit is {limit} bytes")
        return None if self._app.require_key else keyless_refusal(scope)

    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        app = self._app
        limit = self._max_body_bytes or app.max_body_bytes
        refusal = self._refusal(scope)
        if refusal is not None:
            await send_json(send, *refusal)
            return
        key_id: str | None = None
        if self._authenticate and app.require_key:
            try:
                token = bearer_token(scope)
                if app.network_storage:
                    # A key is read from the database per request: the event loop does not wait for it.
                    key_id = await anyio.to_thread.run_sync(app.authenticate, token)
                else:
                    key_id = app.authenticate(token)
            except StorageError:
                logger.exception("the key store cannot be read")
                await send_json(send, 503, json_problem("UNAVAILABLE", "the key store cannot be read"))
                return
            if key_id is None:
                await send_json(send, *_UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
                return
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge:
            await send_json(send, 413, json_problem("BODY_TOO_LARGE", f"the limit is {limit} bytes"))
            return
        except ClientGone:
            return
        status, answer = await self._handler(body, key_id)
        await send_json(send, status, answer)


# A decide handed to a thread: the loop and future to answer, the key presented, the body.
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Outcome | None]", "str | None", bytes]


class _DecideThreads:
    """Threads that decide over a network database, each on a database connection it keeps.

    A job is a queue entry, and its answer one callback on the event loop: cheaper than an
    executor's futures on the path every decide takes. Each thread holds its connection
    (`held()`) from one decide to the next instead of taking it from the pool for each.
    """

    def __init__(self, app: PolicyApp, count: int) -> None:
        self._app = app
        self._count = count
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, loop: asyncio.AbstractEventLoop, token: str | None, body: bytes) -> asyncio.Future[Outcome | None]:
        if len(self._threads) < self._count:
            self._start()
        future: asyncio.Future[Outcome | None] = loop.create_future()
        self._jobs.put((loop, future, token, body))
        return future

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self._count:
                thread = threading.Thread(target=self._work, name=f"inherence-decide-{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        app = self._app
        with getattr(app.storage, "held", contextlib.nullcontext)():
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                loop, future, token, body = job
                try:
                    outcome: Outcome | None = app.decide_with_key(token, body)
                except BaseException as exc:  # handed to the request, which answers it
                    _answer_soon(loop, future, None, exc)
                else:
                    _answer_soon(loop, future, outcome, None)

    def close(self) -> None:
        with self._lock:
            threads, self._threads, self._count = self._threads, [], 0
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join(timeout=30)


def _answer_soon(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Outcome | None],
    outcome: Outcome | None,
    error: BaseException | None,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits for the answer
        loop.call_soon_threadsafe(_answer, future, outcome, error)


def _answer(future: asyncio.Future[Outcome | None], outcome: Outcome | None, error: BaseException | None) -> None:
    if future.done():  # the request was cancelled (its client left)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)


class _NetworkDecide(_Endpoint):
    """Decide over a network database: the key is checked in the thread that decides, on its connection.

    One hand-over to a worker thread and one connection per decide, instead of one of each for the
    key check and another for the decide. The key is still read from the database for every call,
    so a key revoked on any server is refused at once. A malformed key is refused before the body
    is read; a well-formed one after (the body is bounded all the same).
    """

    def __init__(self, app: PolicyApp) -> None:
        super().__init__(app, app._decide)
        # As many decides at once as the pool lends connections, a few kept for the log and outcome reports.
        self.threads = max(2, int(getattr(app.storage, "pool_size", 8)) - 2)
        self._workers = _DecideThreads(app, self.threads)
        self._limiter: anyio.CapacityLimiter | None = None

    async def _in_thread(self, token: str | None, body: bytes) -> Outcome | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another event loop than asyncio's: anyio hands the call over
            if self._limiter is None:
                self._limiter = anyio.CapacityLimiter(self.threads)
            return await anyio.to_thread.run_sync(self._app.decide_with_key, token, body, limiter=self._limiter)
        return await self._workers.submit(loop, token, body)

    def close(self) -> None:
        self._workers.close()

    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        app = self._app
        refusal = self._refusal(scope)
        if refusal is not None:
            await send_json(send, *refusal)
            return
        token = bearer_token(scope) if app.require_key else None
        if app.require_key and (token is None or parse_key(token) is None):
            await send_json(send, *_UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
            return
        try:
            body = await read_body(receive, app.max_body_bytes)
        except BodyTooLarge:
            await send_json(send, 413, json_problem("BODY_TOO_LARGE", f"the limit is {app.max_body_bytes} bytes"))
            return
        except ClientGone:
            return
        try:
            outcome = await self._in_thread(token, body)
        except StorageError:
            logger.exception("the key store cannot be read")
            await send_json(send, 503, json_problem("UNAVAILABLE", "the key store cannot be read"))
            return
        if outcome is None:
            await send_json(send, *_UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
            return
        await send_json(send, *outcome)


class PolicyApp:
    """The Policy API as an ASGI app, with the storage and the decision log it owns.

    Close it (`close()`, or the ASGI lifespan shutdown under uvicorn) to flush the decision
    log; an in-process transport sends no lifespan events, so the embedding code closes it.
    """

    def __init__(
        self,
        *,
        storage: Storage,
        evaluator: Evaluator,
        config: Any,
        clock: Callable[[], datetime.datetime],
        require_key: bool,
        max_body_bytes: int,
        dashboard: DashboardOptions | None = None,
        protected_paths: Sequence[str] = (),
        follow_rules: bool = False,
        decision_log_retention: datetime.timedelta | None = None,
        telemetry: Telemetry | None = None,
        owns_telemetry: bool = False,
    ) -> None:
        self.storage = storage
        self.telemetry = telemetry
        self._owns_telemetry = owns_telemetry
        self._protected_paths = tuple(protected_paths)
        config = self._protect(config)
        self.config = config
        self.clock = clock
        self.require_key = require_key
        self.max_body_bytes = max_body_bytes
        # Over a network database a decide mostly waits for round trips: in worker threads, many wait at once.
        self.network_storage = getattr(storage, "dialect", None) == "postgresql"
        self._inline_body_bytes = -1 if self.network_storage else _INLINE_BODY_BYTES
        self.decision_log = DecisionLogWriter(storage, retention=decision_log_retention, clock=clock)
        self.decisions = DecisionService(
            evaluator=evaluator,
            config=config,
            ledger=storage.ledger,
            log=self.decision_log,
            clock=clock,
            approvals=storage.approvals,
            tenants=self._tenant_of,
            telemetry=telemetry,
        )
        self.live_rules: LiveRules | None = None
        if follow_rules and isinstance(storage, SQLStorage):
            # Rule changes made on any server sharing this storage are applied here too.
            self.live_rules = LiveRules(storage, self._apply_shared_rules)
            self.live_rules.start()
        post = ["POST"]
        self._decide_endpoint = _NetworkDecide(self) if self.network_storage else _Endpoint(self, self._decide)
        routes: list[BaseRoute] = [
            Route("/api/proxy/auth/verify", _Endpoint(self, self._verify), methods=post),
            Route("/api/proxy/register", _Endpoint(self, self._register), methods=post),
            Route("/api/proxy/classify", _Endpoint(self, self._classify), methods=post),
            Route(_DECIDE_PATH, self._decide_endpoint, methods=post),
            Route(
                "/api/proxy/outcome",
                _Endpoint(self, self._outcome, max_body_bytes=max(max_body_bytes, _OUTCOME_BODY_BYTES)),
                methods=post,
            ),
            Route("/api/proxy/heartbeat", _Endpoint(self, self._heartbeat), methods=post),
            Route("/api/proxy/health", _health, methods=["GET"]),
        ]
        if dashboard is not None:
            routes.extend(self._dashboard_routes(dashboard))
        self._router = Starlette(routes=routes, lifespan=self._lifespan)

    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        # The hot path skips the router's middleware stack; everything else goes through it.
        if scope["type"] == "http" and scope["path"] == _DECIDE_PATH and scope["method"] == "POST":
            await self._decide_endpoint(scope, receive, send)
        else:
            await self._router(scope, receive, send)

    def replace_config(self, config: RulesConfig, *, source: str = "the dashboard", record: bool = True) -> list[str]:
        """Decide every later call by `config` (live rule changes); what it weakens, each in the admin log.

        `source` says where the change came from (the dashboard, or the rules file it was read from);
        `record=False` leaves the admin log to the server that made the change.
        """
        config = self._protect(config)
        weaker = weakenings(self.config, config) if isinstance(self.config, RulesConfig) else []
        if weaker:
            # Written before the rules change: no call is decided by weaker rules that are not yet on record.
            logger.warning("rules weakened by %s: %s", source, "; ".join(weaker))
            if record and isinstance(self.storage, SQLStorage):
                record_weakening(self.storage, self.clock(), source, weaker)
        self.config = config
        self.decisions.config = config
        return weaker

    def _apply_shared_rules(self, config: RulesConfig) -> None:
        self.replace_config(config, source="a change made on another server", record=False)

    def _protect(self, config: Any) -> Any:
        # The embedding proxy's own files are protected whatever the rules file says.
        if not self._protected_paths or not isinstance(config, RulesConfig):
            return config
        section = config.gate_integrity.model_copy(update={"runtime_paths": self._protected_paths})
        return config.model_copy(update={"gate_integrity": section})

    def _dashboard_routes(self, options: DashboardOptions) -> list[BaseRoute]:
        from inherence_policy_server.dashboard import AdminAccess, Dashboard, admin_api_routes, page_routes

        if not isinstance(self.storage, SQLStorage):
            raise ServerUsageError("the dashboard needs the SQLite or the PostgreSQL storage")
        access = AdminAccess(options.admin_token, allow_remote=options.allow_remote, storage=self.storage)
        board = Dashboard(
            holder=self,
            storage=self.storage,
            access=access,
            config_path=options.config_path,
            clock=self.clock,
            live=self.live_rules,
        )
        return [*admin_api_routes(board), *page_routes(board)]

    def _tenant_of(self, key_id: str | None) -> tuple[str, SessionLedger]:
        """The tenant of a key (the default one without a key) and its ledger."""
        tenant = DEFAULT_TENANT if key_id is None else self.storage.key_tenant(key_id)
        if tenant is None:
            raise StorageError("the key has no tenant on record")
        return tenant, self.storage.tenant_ledger(tenant)

    def authenticate(self, token: str | None) -> str | None:
        """The key id of a good, unrevoked key; None for anything else."""
        if token is None:
            return None
        key_id = parse_key(token)
        record = self.storage.find_key(key_id) if key_id is not None else None
        return record.key_id if verify_secret(token, record) and record is not None else None

    def decide_with_key(self, token: str | None, body: bytes) -> Outcome | None:
        """Check the key, then decide, on one database connection (in a worker thread); None for a bad key.

        A `StorageError` reading the key propagates; one while deciding is a deny (fail closed).
        """
        with getattr(self.storage, "pinned", contextlib.nullcontext)():
            key_id = None
            if self.require_key:
                key_id = self.authenticate(token)
                if key_id is None:
                    return None
            return self.decisions.decide_body(body, key_id)

    def flush(self) -> None:
        """Wait until every decision so far is in the decision log."""
        self.decision_log.flush()

    def close(self) -> None:
        if self.live_rules is not None:
            self.live_rules.close()
        if isinstance(self._decide_endpoint, _NetworkDecide):
            self._decide_endpoint.close()
        self.decision_log.close()
        self.storage.close()
        if self.telemetry is not None and self._owns_telemetry:
            self.telemetry.shutdown()

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: object) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.close()

    async def _verify(self, _body: bytes, _key_id: str | None) -> Outcome:
        return 200, b'{"status":"ok"}'

    async def _register(self, body: bytes, _key_id: str | None) -> Outcome:
        try:
            request = RegisterRequest.model_validate_json(body)
        except pydantic.ValidationError:
            return 422, json_problem("INVALID_REQUEST", 'expected {"upstreams": [...]}')
        return 200, b'{"status":"registered","upstream_count":%d}' % len(request.upstreams)

    async def _classify(self, body: bytes, _key_id: str | None) -> Outcome:
        try:
            request = ClassifyRequest.model_validate_json(body)
        except pydantic.ValidationError:
            return 422, json_problem("INVALID_REQUEST", 'expected {"tools": [...]}')
        answer = ClassifyResponse(classifications=[classify_tool(tool) for tool in request.tools])
        return 200, answer.model_dump_json().encode()

    async def _decide(self, body: bytes, key_id: str | None) -> Outcome:
        if len(body) <= self._inline_body_bytes:
            return self.decisions.decide_body(body, key_id)
        # Searching a large call can take a while: do it in a thread so small calls keep flowing.
        return await anyio.to_thread.run_sync(self.decisions.decide_body, body, key_id)

    async def _outcome(self, body: bytes, key_id: str | None) -> Outcome:
        try:
            report = OutcomeReport.model_validate_json(body)
        except pydantic.ValidationError as exc:
            problems = exc.errors(include_url=False, include_input=False)
            fields = sorted({".".join(str(part) for part in error["loc"]) or "body" for error in problems})
            return 422, json_problem("INVALID_REQUEST", f"not an outcome report: {', '.join(fields)[:200]}")
        try:
            await anyio.to_thread.run_sync(self.decisions.record_outcome, report, key_id, self.clock())
        except StorageError:
            logger.exception("an outcome report could not be stored")
            return 503, json_problem("UNAVAILABLE", "the outcome could not be stored")
        return 202, b'{"accepted":true}'

    async def _heartbeat(self, body: bytes, _key_id: str | None) -> Outcome:
        try:
            Heartbeat.model_validate_json(body)
        except pydantic.ValidationError:
            return 422, json_problem("INVALID_REQUEST", "not a heartbeat")
        return 200, b'{"status":"ok"}'


class _Health:
    """`GET /api/proxy/health`: no key, no storage; answers while the process serves."""

    def __init__(self) -> None:
        self._body = Health(status="ok", version=__version__).model_dump_json().encode()

    async def __call__(self, _scope: Scope, _receive: ASGIReceive, send: ASGISend) -> None:
        await send_json(send, 200, self._body)


_health = _Health()


def create_app(
    *,
    data_dir: pathlib.Path | str | None = None,
    database_url: str | None = None,
    config: RulesConfig | None = None,
    clock: Callable[[], datetime.datetime] = _utc_now,
    require_key: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    evaluator: Evaluator | None = None,
    storage: Storage | None = None,
    dashboard: DashboardOptions | None = None,
    protected_paths: Sequence[str] = (),
    follow_rules: bool = False,
    decision_log_retention: datetime.timedelta | None = None,
    telemetry: Telemetry | None = None,
) -> PolicyApp:
    """The Policy API over the state in `data_dir` (SQLite), or in PostgreSQL at `database_url`.

    `config` is a `RulesConfig` (defaults when None). `require_key=False` is the embedded,
    local mode: no API key is asked for, as when the proxy mounts this app in-process; then a
    call needs a loopback Host on the server's port, a JSON body and no foreign Origin.
    `evaluator` and `storage` replace the six rules and the storage (tests, other backends).
    `dashboard` serves the dashboard and its admin API beside the Policy API.
    `protected_paths` are files and folders of the embedding proxy (its home, the client configs it
    wrapped, its executable) that no tool call may change, besides the rules' own list.
    `follow_rules` applies rule changes made on the dashboard of any server sharing the storage (served
    processes do; it runs a thread). `decision_log_retention` deletes decision log rows older than that,
    in batches, from the log's writer thread. `telemetry` records OpenTelemetry traces and metrics of
    decide; without it, they are exported when the standard `OTEL_*` variables ask (see `_telemetry`).
    """
    owns_telemetry = telemetry is None
    if telemetry is None:
        telemetry = Telemetry.from_environment()
    return PolicyApp(
        storage=storage if storage is not None else open_storage(data_dir=data_dir, database_url=database_url),
        evaluator=evaluator if evaluator is not None else default_evaluator(),
        config=config if config is not None else default_rules_config(),
        clock=clock,
        require_key=require_key,
        max_body_bytes=max_body_bytes,
        dashboard=dashboard,
        protected_paths=protected_paths,
        follow_rules=follow_rules,
        decision_log_retention=decision_log_retention,
        telemetry=telemetry,
        owns_telemetry=owns_telemetry,
    )
