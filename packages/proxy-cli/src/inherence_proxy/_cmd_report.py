"""`status` and `audit`: what is configured, running and gated on this machine, and what is not."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import click

from inherence_proxy._app import Environment, pass_environment, verbose_option
from inherence_proxy._errors import EXIT_CODES_HELP, CommandError, ExitCode
from inherence_proxy._output import good, problem, render_table, warn
from inherence_proxy._report import audit_facts, status_facts

__all__ = ["audit", "status"]


def _short(text: str | None, limit: int = 80) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _state_text(state: str | None) -> str:
    """An upstream's state as last seen: `ready`, or `down (failed)` and the like, or `-` when never seen."""
    if not state:
        return "-"
    return good(state) if state in ("ready", "stopped") else problem(f"down ({state})")


def _drift_text(client: dict[str, Any]) -> str:
    if client.get("error"):
        return problem(_short(client["error"]))
    problems = []
    if client["bypassing"]:
        problems.append(f"bypassing: {', '.join(client['bypassing'])}")
    if client.get("proxy_executable_missing"):
        problems.append("proxy executable missing")
    if client.get("proxy_arguments_unexpected"):
        problems.append("proxy arguments changed")
    if not client["wrapped"]:
        problems.append("not wrapped")
    return problem("; ".join(problems)) if problems else good("none")


@click.command(epilog=EXIT_CODES_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object for scripts.")
@verbose_option
@pass_environment
def status(env: Environment, as_json: bool) -> None:
    """Show the configuration, the policy's health, the upstreams and the running proxies.

    \b
    Examples:
      inherence-proxy status
      inherence-proxy status --json | jq .policy
    """
    facts = status_facts(env)
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    policy = facts["policy"]
    click.echo(f"config      {facts['config_path']}{'' if facts['config_exists'] else ' (missing: run init)'}")
    click.echo(f"policy      {policy['endpoint']}")
    click.echo(f"key         {policy['key'] or '(none)'}")
    latency = f", {policy['latency_ms']} ms" if policy["latency_ms"] is not None else ""
    health = good(f"{policy['detail']}{latency}") if policy["healthy"] else problem(policy["detail"])
    click.echo(f"health      {health}")
    for weakening in policy.get("rule_weakenings", []):
        when, source, detail = weakening["at"], weakening["source"], weakening["detail"]
        click.echo(f"warning     {warn('rules weakened')} {when} by {source}: {detail}")
    cached, pulls = facts["classification_cache_size"], facts["rug_pulls"]
    click.echo(f"classified  {cached} tools in the cache; {pulls} rug pulls seen")
    approvals = facts["approvals"]
    if approvals["error"]:
        click.echo(f"approvals   {problem(_short(approvals['error']))}")
    elif approvals["pending"] is None:
        click.echo("approvals   given on the policy server's dashboard")
    else:
        waiting = approvals["pending"]
        hint = " (`inherence-proxy approvals` lists them)" if waiting else ""
        click.echo(f"approvals   {warn(f'{waiting} waiting') if waiting else '0 waiting'}{hint}")
    rows = [
        [u["name"], ",".join(u["clients"]), u["transport"], _state_text(u.get("state")),
         "-" if u["tool_count"] is None else str(u["tool_count"]),
         u["last_discovery"] or "never", problem(_short(u["last_error"], 60)) if u["last_error"] else ""]
        for u in facts["upstreams"]
    ]  # fmt: skip
    click.echo("\nUpstreams:")
    header = ["upstream", "client", "transport", "state", "tools", "last discovery", "last error"]
    click.echo(render_table(header, rows)
               if rows else "  none configured (run `inherence-proxy init`)")  # fmt: skip
    for upstream in facts["upstreams"]:
        if upstream.get("login") == "needed":
            click.echo(
                f"  {warn('needs a login')}: {upstream['name']} (run `inherence-proxy login {upstream['name']}`)"
            )
    click.echo("\nProxies:")
    proxies = [
        [p["client"], good(f"running (pid {p['pid']})") if p["running"] else
         good("served by the default proxy (0.1.x entry)") if p["served_by_default"] else "not running",
         warn("stale lock file: `inherence-proxy reap` removes it") if p["stale_lock_files"] else ""]
        for p in facts["proxies"]
    ]  # fmt: skip
    click.echo(render_table(["client", "proxy", ""], proxies) if proxies else "  none")
    click.echo("\nClient configs:")
    clients = [[c["client"], c["config_path"], _drift_text(c)] for c in facts["clients"]]
    click.echo(render_table(["client", "config file", "drift"], clients) if clients else "  none wrapped")


@click.command(epilog=EXIT_CODES_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object for scripts.")
@click.option("--strict", is_flag=True, help="Also fail (exit 7) when agents with built-in tools are found.")
@click.option(
    "--project",
    "projects",
    multiple=True,
    type=click.Path(path_type=pathlib.Path, file_okay=False, exists=True),
    help="Also check this project folder's MCP configs (.mcp.json, .cursor/, .vscode/ ...). Repeatable.",
)
@verbose_option
@pass_environment
def audit(env: Environment, as_json: bool, strict: bool, projects: tuple[pathlib.Path, ...]) -> None:
    """Find what reaches tools without passing the gate. Exit 7 when something bypasses it.

    Checks every MCP client config on this machine (wrapped or not, servers beside the proxy
    entry), and lists agents whose built-in tools (shell, file edits, web) never traverse
    MCP, so no proxy can gate them.

    \b
    Examples:
      inherence-proxy audit
      inherence-proxy audit --json
      inherence-proxy audit --strict || echo "something is ungated"
      inherence-proxy audit --project .
    """
    facts = audit_facts(env, [p.absolute() for p in projects])
    bypass = facts["bypassing_clients"] > 0 or (strict and bool(facts["agent_surfaces"]))
    if as_json:
        click.echo(json.dumps({**facts, "bypass": bypass}, indent=2))
    else:
        rows = [
            [c["title"], c["scope"], c["config_path"],
             "error" if c["wrapped"] is None else good("yes") if c["wrapped"] else problem("no"), _drift_text(c)]
            for c in facts["clients"]
        ]  # fmt: skip
        click.echo("MCP client configs:")
        header = ["client", "scope", "config file", "wrapped", "drift"]
        click.echo(render_table(header, rows) if rows else "  none found")
        click.echo("\nAgent tool surfaces the gate cannot see (built-in tools, not MCP):")
        surfaces = [[s["agent"], s["evidence"], ", ".join(s["built_in_tools"])] for s in facts["agent_surfaces"]]
        click.echo(render_table(["agent", "found", "built-in tools"], surfaces) if surfaces else "  none found")
    if bypass:
        what = f"{facts['bypassing_clients']} client configs have servers that bypass the gate"
        if strict and facts["agent_surfaces"]:
            what += f"; {len(facts['agent_surfaces'])} agents have built-in tools"
        raise CommandError(f"{what} (run `inherence-proxy init` to wrap them)", ExitCode.BYPASS)
