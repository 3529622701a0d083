"""The policy service a command talks to: hosted (or self-hosted) with a key, or embedded without one.

Embedded means inherence-policy-server's decisions called in this process as Python calls
(`EmbeddedPolicy`): no daemon, no port, no HTTP, state in `<home>/policy`. It is what a user
gets with no API key, and what `demo` uses. With a key, `PolicyClient` speaks the Policy API over HTTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import pathlib
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from inherence_policy_client import (
    DEFAULT_BASE_URL,
    Classification,
    DecideRequest,
    Decision,
    Health,
    Heartbeat,
    OutcomeReport,
    PolicyClient,
    PolicyError,
    PolicyUnreachable,
    RegisterResponse,
    ToolDescription,
    UpstreamRegistration,
)
from inherence_proxy import __version__
from inherence_proxy._config import ProxyConfig
from inherence_proxy._home import ProxyHome

__all__ = ["PolicyHealth", "PolicyService", "PolicyTarget", "open_policy", "probe_health"]

USER_AGENT = f"inherence-proxy/{__version__}"
RULES_POLL_SECONDS = 2.0

logger = logging.getLogger("inherence_proxy")


@dataclasses.dataclass(frozen=True)
class PolicyTarget:
    """Where decisions come from. `api_key` None means the embedded policy server."""

    api_key: str | None
    endpoint: str

    @classmethod
    def of(cls, config: ProxyConfig, environ: Mapping[str, str]) -> PolicyTarget:
        key = config.effective_api_key(environ)
        if key is None:
            return cls(api_key=None, endpoint="embedded")
        return cls(api_key=key, endpoint=config.effective_endpoint(environ) or DEFAULT_BASE_URL)

    @property
    def embedded(self) -> bool:
        return self.api_key is None

    def describe(self) -> str:
        return "embedded local policy (in-process, no network)" if self.embedded else self.endpoint


class PolicyService(Protocol):
    """What the commands use of a policy service: `PolicyClient` (over HTTP) and `EmbeddedPolicy` are both one."""

    async def decide(self, request: DecideRequest) -> Decision: ...

    async def classify(self, tools: Sequence[ToolDescription]) -> list[Classification]: ...

    async def report_outcome(self, report: OutcomeReport) -> bool: ...

    async def health(self) -> Health: ...

    async def verify_key(self) -> None: ...

    async def register(self, upstreams: Sequence[UpstreamRegistration]) -> RegisterResponse: ...

    async def heartbeat(self, heartbeat: Heartbeat) -> None: ...


@contextlib.asynccontextmanager
async def open_policy(
    target: PolicyTarget,
    home: ProxyHome,
    *,
    rules_poll: float = RULES_POLL_SECONDS,
    protected_paths: Sequence[str] = (),
) -> AsyncIterator[PolicyService]:
    """The policy service of `target`, closed (and the embedded policy's log flushed) on exit.

    With a key, a `PolicyClient` of the endpoint; without one, the embedded policy in this process.

    The embedded server follows `<home>/rules.toml`: a change saved by `inherence-proxy dashboard`
    (or by hand) applies to this process within `rules_poll` seconds, without a restart; a change
    that weakens the rules is logged as a warning and written to the policy's admin log.
    `protected_paths` (the gate's own files, see `gate_paths`) are kept from every tool call,
    whatever the rules file says.
    """
    if not target.embedded:
        async with PolicyClient(target.api_key, base_url=target.endpoint, user_agent=USER_AGENT) as client:
            yield client
        return
    # Imported here: a proxy with a hosted key never needs the server, and it is heavy to import.
    from inherence_policy_server import load_rules_config, open_embedded_policy

    home.ensure()
    # The file's stamp is taken before it is read: a change made meanwhile is one the follower sees.
    loaded = _stamp(home.rules_path)
    rules = load_rules_config(home.rules_path) if home.rules_path.is_file() else None
    policy = open_embedded_policy(home.policy_data_dir, rules, [str(home.root), *protected_paths])
    async with policy:  # closing flushes the decision log, shielded from cancellation
        # A thread, not a task: a task group here would wrap every error of the caller's body.
        with _RulesFollower(policy, home.rules_path, rules_poll, loaded):
            yield policy


def _stamp(path: pathlib.Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


class _RulesFollower:
    """Reloads the rules when their file changes; a file that does not load leaves the rules in force."""

    def __init__(self, policy: Any, path: pathlib.Path, interval: float, loaded: tuple[int, int] | None) -> None:
        self._policy = policy
        self._path = path
        self._interval = interval
        self._loaded = loaded
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inherence-rules-follower", daemon=True)

    def __enter__(self) -> _RulesFollower:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from inherence_policy_server import PolicyServerError, default_rules_config, load_rules_config

        seen = self._loaded
        while not self._stop.wait(self._interval):
            current = _stamp(self._path)
            if current == seen:
                continue
            try:
                rules = load_rules_config(self._path) if current is not None else default_rules_config()
            except PolicyServerError as exc:
                seen = current  # a broken file is reported once, not at every poll
                logger.warning("rules not reloaded, the previous rules stay in force: %s", exc)
                continue
            try:
                # One attribute store in the server: a decision in flight sees the old rules or the new.
                weaker = self._policy.replace_config(rules, source=str(self._path))
            except Exception:
                # The new rules are not in force (a weakening could not be put on record): try again.
                logger.exception("rules not reloaded, the previous rules stay in force; retrying")
                continue
            seen = current
            logger.info("rules reloaded from %s", self._path)
            for sentence in weaker:
                logger.warning("the reloaded rules are weaker: %s", sentence)


@dataclasses.dataclass(frozen=True)
class PolicyHealth:
    """What `status` says of the policy service: `ok`, how long the probe took, and why not."""

    ok: bool
    latency_ms: float | None
    detail: str


async def probe_health(client: PolicyService, *, embedded: bool) -> PolicyHealth:
    """Verify the key (the hosted service has no health route) or ask the local server's health."""
    started = time.perf_counter()
    try:
        if embedded:
            health = await client.health()
            detail = f"ok (inherence-policy-server {health.version or '?'})"
        else:
            await client.verify_key()
            detail = "ok (key accepted)"
    except PolicyUnreachable as exc:
        return PolicyHealth(False, None, f"unreachable: {exc}")
    except PolicyError as exc:
        return PolicyHealth(False, None, str(exc))
    return PolicyHealth(True, round((time.perf_counter() - started) * 1000, 1), detail)
