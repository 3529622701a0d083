"""The facts `status` and `audit` report, gathered as plain JSON-ready dicts.

Rendering is the commands' business; here is only what is true: read from config.json,
discovery.json, classifications.json (rug pulls too), the lock files, the client configs and the policy.
"""

from __future__ import annotations

import pathlib
import tempfile
from collections.abc import Sequence
from typing import Any

import anyio

from inherence_client_adapters import ClientAdapter, ClientConfigError, ConfigLocation, ProxyCommand
from inherence_proxy._app import Environment
from inherence_proxy._approvals import pending_count
from inherence_proxy._cmd_login import tokens_folder
from inherence_proxy._config import ProxyConfig, UpstreamEntry
from inherence_proxy._discovery import load_discovery
from inherence_proxy._home import ProxyHome
from inherence_proxy._locations import Found, canonical_client, detected, proxy_executable, recorded
from inherence_proxy._output import masked_key
from inherence_proxy._policy import PolicyTarget, open_policy, probe_health
from inherence_proxy._surfaces import find_surfaces
from inherence_proxy_core import DEFAULT_CLIENT, ClassificationCache, RugPull, lock_holder, login_reason, wants_oauth

__all__ = ["audit_facts", "drift_of", "status_facts"]


async def _policy_facts(env: Environment, target: PolicyTarget) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "mode": "embedded" if target.embedded else "remote",
        "endpoint": target.describe(),
        "key": masked_key(target.api_key) if target.api_key else None,
    }
    try:
        if target.embedded and not env.home.policy_data_dir.is_dir():
            # Probe an empty embedded server: `status` writes nothing into a home that has none yet.
            with tempfile.TemporaryDirectory(prefix="inherence-status-") as folder:
                async with open_policy(target, ProxyHome(pathlib.Path(folder))) as client:
                    health = await probe_health(client, embedded=True)
        else:
            async with open_policy(target, env.home) as client:
                health = await probe_health(client, embedded=target.embedded)
    except Exception as exc:  # a broken policy is a fact to show, not a reason for status to fail
        facts.update(healthy=False, latency_ms=None, detail=f"{type(exc).__name__}: {exc}")
        return facts
    facts.update(healthy=health.ok, latency_ms=health.latency_ms, detail=health.detail)
    facts["rule_weakenings"] = _rule_weakenings(env) if target.embedded else []
    return facts


def _rule_weakenings(env: Environment) -> list[dict[str, str]]:
    """The newest changes that made the embedded policy let more through (dashboard or rules.toml)."""
    from inherence_policy_server import recent_rule_weakenings

    try:
        found = recent_rule_weakenings(env.home.policy_data_dir, limit=5)
    except Exception as exc:  # the warnings are a fact to show, never a reason for status to fail
        return [{"at": "", "source": "policy data", "detail": f"cannot be read ({type(exc).__name__})"}]
    return [{"at": entry.at, "source": entry.source, "detail": entry.detail} for entry in found]


def drift_of(adapter: ClientAdapter, location: ConfigLocation, proxy: ProxyCommand) -> dict[str, Any]:
    """One client config file as `audit` and `status` show it."""
    facts: dict[str, Any] = {"client": adapter.name, "title": adapter.title, "scope": location.scope,
                             "config_path": str(location.path)}  # fmt: skip
    try:
        report = adapter.drift(location, proxy)
    except ClientConfigError as exc:
        facts.update(wrapped=None, bypassing=[], error=str(exc))
        return facts
    # The entry 0.1.x wrote, `serve` alone, still works: it serves every upstream.
    legacy = report.proxy_arguments_unexpected and report.proxy_arguments == ("serve",)
    unexpected = report.proxy_arguments_unexpected and not legacy
    facts.update(
        wrapped=not report.proxy_missing,
        bypassing=list(report.bypassing),
        proxy_executable_missing=report.proxy_executable_missing,
        proxy_arguments_unexpected=unexpected,
        serves_every_upstream=legacy,
        clean=not (report.bypassing or report.proxy_missing or report.proxy_executable_missing or unexpected),
        error=None,
    )
    return facts


def _proxies(env: Environment, config: ProxyConfig) -> list[dict[str, Any]]:
    clients = {canonical_client(c.name) for c in config.migrated_clients}
    root = env.home.root
    if root.is_dir():
        for path in root.glob("proxy*.pid"):
            client = env.home.client_of_pid_file(path)
            if client is not None:
                clients.add(client)
    rows = []
    for client in sorted(clients):
        holder = lock_holder(root, client)
        paths = [env.home.pid_path(client)] + ([env.home.legacy_pid_path] if client == DEFAULT_CLIENT else [])
        stale = [str(p) for p in paths if p.exists() and holder is None]
        rows.append({"client": client, "running": holder is not None, "pid": holder, "stale_lock_files": stale})
    return rows


def _rug_pull(pull: RugPull) -> dict[str, str]:
    return {
        "tool": pull.tool,
        "previous_fingerprint": pull.previous_fingerprint,
        "fingerprint": pull.fingerprint,
        "detected_at": pull.detected_at.isoformat(),
    }


def _upstreams(env: Environment, config: ProxyConfig, pulls: Sequence[RugPull]) -> list[dict[str, Any]]:
    discovered = load_discovery(env.home.discovery_path)
    owners: dict[str, list[str]] = {}
    for client in config.migrated_clients:
        for name in client.upstream_names:
            owners.setdefault(name, []).append(canonical_client(client.name))
    rows = []
    for upstream in config.upstreams:
        seen = discovered.get(upstream.name, {})
        rows.append({
            "name": upstream.name,
            "transport": upstream.transport,
            "clients": owners.get(upstream.name, []),
            "state": seen.get("state"),
            "tool_count": seen.get("tool_count"),
            "last_discovery": seen.get("last_discovery"),
            "last_error": seen.get("last_error"),
            "login": login_state(env, upstream, seen.get("last_error")),
            "rug_pulls": [_rug_pull(p) for p in pulls if p.upstream == upstream.name],
        })  # fmt: skip
    return rows


def login_state(env: Environment, upstream: UpstreamEntry, last_error: str | None) -> str | None:
    """`"logged in"`, `"needed"` (run `login`), or None for an upstream that takes no OAuth login."""
    if upstream.transport == "stdio" or not upstream.url:
        return None
    if not wants_oauth(upstream.headers):
        return None
    if last_error is not None and last_error.startswith(login_reason(upstream.name)):
        return "needed"
    if tokens_folder(env).for_upstream(upstream.name, upstream.url).has_login():
        return "logged in"
    if last_error is not None and "HTTP 401" in last_error:
        return "needed"
    return None


def status_facts(env: Environment) -> dict[str, Any]:
    config = env.config()
    target = PolicyTarget.of(config, env.environ)
    cache = ClassificationCache(env.home.classifications_path)
    cache.load()
    proxy = ProxyCommand(proxy_executable(env.environ))
    upstreams = _upstreams(env, config, cache.rug_pulls())
    clients = [drift_of(a, loc, proxy) for a, loc in recorded(config, env.host)]
    proxies = _proxies(env, config)
    default = next((p for p in proxies if p["client"] == DEFAULT_CLIENT and p["running"]), None)
    legacy = {c["client"] for c in clients if c.get("serves_every_upstream")}
    for row in proxies:
        # A 0.1.x entry starts `serve` without a client: the `default` proxy is the one serving it.
        row["served_by_default"] = row["client"] in legacy and default is not None
    return {
        "home": str(env.home.root),
        "config_path": str(env.home.config_path),
        "config_exists": env.home.config_path.is_file(),
        "policy": anyio.run(_policy_facts, env, target),
        "upstreams": upstreams,
        "classification_cache_size": len(cache),
        "rug_pulls": sum(len(u["rug_pulls"]) for u in upstreams),
        "proxies": proxies,
        "clients": clients,
        "approvals": _approval_facts(env),
    }


def _approval_facts(env: Environment) -> dict[str, Any]:
    try:
        return {"pending": pending_count(env), "error": None}
    except Exception as exc:  # unreadable approvals are a fact to show, not a reason for status to fail
        return {"pending": None, "error": f"{type(exc).__name__}: {exc}"}


def _unique(found: Sequence[Found]) -> list[Found]:
    seen: set[str] = set()
    unique = []
    for adapter, location in found:
        key = str(location.path.absolute())
        if key not in seen:
            seen.add(key)
            unique.append((adapter, location))
    return unique


def audit_facts(env: Environment, projects: Sequence[pathlib.Path] = ()) -> dict[str, Any]:
    config = env.config()
    proxy = ProxyCommand(proxy_executable(env.environ))
    found = _unique([*detected(env.host, None, projects), *recorded(config, env.host)])
    clients = [drift_of(a, loc, proxy) for a, loc in found]
    surfaces = [
        {"agent": f.surface.agent, "evidence": f.evidence, "built_in_tools": list(f.surface.built_in_tools)}
        for f in find_surfaces(env.host)
    ]
    bypassing = [c for c in clients if c["bypassing"]]
    return {"clients": clients, "agent_surfaces": surfaces, "bypassing_clients": len(bypassing)}
