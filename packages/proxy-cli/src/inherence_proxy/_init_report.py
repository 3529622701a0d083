"""The end of `init`: check the policy, discover every upstream, and say what was done and what is next."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anyio
import click

from inherence_client_adapters import ClientAdapter, WrapResult
from inherence_proxy._app import Environment
from inherence_proxy._config import ProxyConfig
from inherence_proxy._discover import discover
from inherence_proxy._home import ProxyHome
from inherence_proxy._output import good, is_terminal, masked_key, problem, render_table, warn
from inherence_proxy._policy import PolicyTarget, open_policy
from inherence_proxy_core import GatewayStatus, login_reason, wants_oauth

__all__ = ["print_summary", "verify_policy"]


async def verify_policy(target: PolicyTarget, home: ProxyHome) -> None:
    """Raise the policy client's error when the key is refused or the service cannot be reached."""
    async with open_policy(target, home) as client:
        if target.embedded:
            await client.health()
        else:
            await client.verify_key()


async def _discover(env: Environment, config: ProxyConfig, target: PolicyTarget, names: Sequence[str]) -> GatewayStatus:
    upstreams = [entry.to_gateway() for entry in config.upstreams if entry.name in names]
    async with open_policy(target, env.home) as client:
        return await discover(upstreams, client, env.home, env.environ, live=is_terminal())


def _categories(tools: Mapping[str, str]) -> str:
    counts: dict[str, int] = {}
    for category in tools.values():
        counts[category] = counts.get(category, 0) + 1
    return ", ".join(f"{n} {c}" for c, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def print_summary(
    env: Environment,
    config: ProxyConfig,
    target: PolicyTarget,
    upstreams_of: Mapping[str, list[str]],
    wrapped: Sequence[tuple[ClientAdapter, WrapResult]],
    *,
    discovery: bool = True,
) -> None:
    """Discover the upstreams of the wrapped clients, then print the two tables and the next step."""
    names = sorted({name for names in upstreams_of.values() for name in names})
    found = anyio.run(_discover, env, config, target, names) if names and discovery else None
    rows = [
        [adapter.title, str(result.path), str(len(result.servers)),
         result.backup.name if result.backup else "(already wrapped)"]
        for adapter, result in wrapped
    ]  # fmt: skip
    plural = "s" if len(wrapped) != 1 else ""
    click.echo(good(f"Wrapped {len(wrapped)} client config{plural}.") + " Backups beside each file.")
    click.echo(render_table(["client", "config file", "servers", "backup"], rows))
    if found is not None:
        owner = {name: client for client, names in upstreams_of.items() for name in names}
        upstream_rows = []
        for upstream in found.upstreams:
            if upstream.state == "ready":
                state = good("ready")
                detail = _categories(upstream.categories)
            else:
                state = problem(upstream.state)
                detail = upstream.reason or ""
            upstream_rows.append([upstream.name, owner.get(upstream.name, ""), str(upstream.tool_count), state, detail])
        click.echo("\nUpstream servers, tools discovered and classified:")
        click.echo(render_table(["upstream", "client", "tools", "state", "categories / error"], upstream_rows))
        logins = [u.name for u in found.upstreams if u.state != "ready" and u.reason == login_reason(u.name)]
        failed = [u.name for u in found.upstreams if u.state != "ready" and u.name not in logins]
        if failed:
            click.echo(warn(f"{len(failed)} upstream(s) did not start; the proxy keeps retrying them: see proxy.log."))
        if logins:
            click.echo(warn(f"{len(logins)} remote upstream(s) need a login (OAuth): {', '.join(logins)}."))
            for name in logins:
                click.echo(f"  inherence-proxy login {name}")
    elif names:
        remote = [e.name for e in config.upstreams if e.name in names and e.url and wants_oauth(e.headers)]
        if remote:
            click.echo(f"\nRemote upstreams with no static Authorization header: {', '.join(remote)}. Any that "
                       "asks for OAuth needs `inherence-proxy login <name>` once (`status` says which).")  # fmt: skip
    click.echo(f"\nPolicy: {target.describe()}; key {masked_key(target.api_key)}")
    click.echo(f"Config: {env.home.config_path}")
    titles = ", ".join(dict.fromkeys(adapter.title for adapter, _ in wrapped))
    click.echo(f"\nNext: restart {titles} so {'they start' if len(wrapped) > 1 else 'it starts'} the proxy; "
               "then `inherence-proxy status` shows it running.")  # fmt: skip
