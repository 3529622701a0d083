"""The `inherence-proxy` command line: the group, `version`, `serve`, `demo` and `reap`.

`init`, `restore`, `status`, `audit`, `dashboard`, `approvals`, `approve`, `decline`, `login`
and `logout` live in their own modules and are added here.
"""

from __future__ import annotations

import json

import click

from inherence_proxy import __version__
from inherence_proxy._app import Environment, ProxyGroup, is_verbose, pass_environment, verbose_option
from inherence_proxy._errors import EXIT_CODES_HELP, CommandError
from inherence_proxy._output import good, problem, warn
from inherence_proxy._versions import installed_versions

__all__ = ["main"]


@click.group(
    cls=ProxyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES_HELP,
    lazy_commands={
        "init": "inherence_proxy._cmd_init:init",
        "restore": "inherence_proxy._cmd_restore:restore",
        "status": "inherence_proxy._cmd_report:status",
        "audit": "inherence_proxy._cmd_report:audit",
        "dashboard": "inherence_proxy._dashboard:dashboard",
        "approvals": "inherence_proxy._cmd_approvals:approvals",
        "approve": "inherence_proxy._cmd_approvals:approve",
        "decline": "inherence_proxy._cmd_approvals:decline",
        "login": "inherence_proxy._cmd_login:login",
        "logout": "inherence_proxy._cmd_login:logout",
    },
)
@click.version_option(__version__, "-V", "--version", prog_name="inherence-proxy")
@verbose_option
def main() -> None:
    """Gate every MCP tool call of your AI client through a policy, before the tool runs.

    \b
    Examples:
      inherence-proxy demo                 see allow and deny decisions, no account needed
      inherence-proxy init --local         wrap your MCP clients, embedded policy
      inherence-proxy init --api-key inh_… wrap them, hosted Inherence policy
      inherence-proxy status               what is configured and running
      inherence-proxy audit                what still bypasses the gate
      inherence-proxy dashboard            see decisions and tune the rules in a browser
      inherence-proxy approvals            calls held until you approve them
      inherence-proxy approve apr_…        let one held call through, then retry it
      inherence-proxy login github         log in to a remote server that asks for OAuth
      inherence-proxy restore --client all put every client config back

    Set INHERENCE_DEBUG=1 to see the traceback of an error.
    """


@main.command(epilog=EXIT_CODES_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object for scripts.")
@verbose_option
def version(as_json: bool) -> None:
    """Show the version of every installed inherence package and of mcp / fastmcp.

    \b
    Examples:
      inherence-proxy version
      inherence-proxy version --json
    """
    versions = installed_versions()
    if as_json:
        click.echo(json.dumps(versions, indent=2))
        return
    width = max(len(name) for name in versions)
    for name, found in versions.items():
        click.echo(f"{name:<{width}}  {found or 'not installed'}")


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("client", required=False)
@click.option(
    "--http",
    "listen",
    metavar="HOST:PORT",
    help="Serve MCP over streamable HTTP at http://HOST:PORT/mcp instead of stdio.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow --http on an address that is not loopback (anyone who reaches it can call your tools).",
)
@verbose_option
@pass_environment
def serve(env: Environment, client: str | None, listen: str | None, allow_remote: bool) -> None:
    """Run the proxy for CLIENT: what a wrapped MCP client starts. Speaks MCP on stdin/stdout.

    Serves the upstream servers recorded for CLIENT by `init` (all upstreams when CLIENT is
    omitted, as 0.1.x configs start it). One proxy per client: a second one is refused.
    Nothing but protocol is written to stdout; the log is proxy.log in the proxy home
    (INHERENCE_PROXY_HOME, default ~/.inherence-proxy). With no API key (config.json or
    INHERENCE_API_KEY) decisions come from the embedded policy server, in this process.

    \b
    Examples:
      inherence-proxy serve cursor
      inherence-proxy serve claude-desktop --http 127.0.0.1:8765
      INHERENCE_API_KEY=inh_… inherence-proxy serve
    """
    from inherence_policy_client import is_loopback
    from inherence_proxy._logging import proxy_log
    from inherence_proxy._serve import ServeOptions, gateway_settings, parse_listen_address, run_serve

    address = None
    if listen is not None:
        try:
            address = parse_listen_address(listen)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--http") from None
        if not is_loopback(address[0]) and not allow_remote:
            raise click.BadParameter(f"{address[0]} is not a loopback address; add --allow-remote", param_hint="--http")
    if client is not None:
        try:
            env.home.pid_path(client)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="CLIENT") from None
    config = env.config()
    settings = gateway_settings(config, env.environ)
    secret = config.effective_api_key(env.environ)
    with proxy_log(env.home.log_path, secret=secret, verbose=is_verbose()):
        options = ServeOptions(
            home=env.home,
            config=config,
            client=client,
            environ=env.environ,
            http=address,
            allow_remote=allow_remote,
            host=env.host,
            settings=settings,
        )
        run_serve(options)


@main.command(epilog=EXIT_CODES_HELP)
@verbose_option
def demo() -> None:
    """Watch the proxy decide real calls: no account, no network, nothing of yours touched.

    Starts the proxy in front of a small bundled MCP server (whose tools act only inside a
    temporary sandbox), with the embedded policy, and replays a short session of benign and
    dangerous calls, printing each decision with its rule and reason.

    \b
    Examples:
      inherence-proxy demo
      uv run --package inherence-proxy inherence-proxy demo
    """
    from inherence_proxy._demo import DEMO_STEPS, DemoOutcome, run_demo

    click.echo("inherence-proxy demo: a real MCP server behind the proxy; the embedded policy decides each call.")
    click.echo("No account, no network; the server's tools only ever act inside a temporary sandbox.\n")
    width = max(len(step.title) for step in DEMO_STEPS)

    def report(outcome: DemoOutcome) -> None:
        label = f"{'ASK' if outcome.decision == 'confirm' else outcome.decision.upper():<5}"
        mark = (
            good(label)
            if outcome.decision == "allow"
            else warn(label)
            if outcome.decision == "confirm"
            else problem(label)
        )
        shown = json.dumps(outcome.step.arguments).replace("{sandbox}", "<sandbox>")
        call = f"{outcome.step.tool} {shown}"
        click.echo(f"  {mark}  {outcome.step.title:<{width}}  {click.style(call, dim=True)}")
        if outcome.decision == "deny":
            click.echo(f"         {'':<{width}}  rule {outcome.rule}: {outcome.reason}")
        elif outcome.decision == "confirm":
            click.echo(f"         {'':<{width}}  rule {outcome.rule}: {outcome.reason} The person is asked first.")
        elif outcome.decision != "allow":
            click.echo(f"         {'':<{width}}  {outcome.reason}")

    outcomes, received = run_demo(report)
    allowed = sum(1 for outcome in outcomes if outcome.decision == "allow")
    asked = sum(1 for outcome in outcomes if outcome.decision == "confirm")
    click.echo(f"\n{allowed} allowed, {asked} waiting for a person's yes, {len(outcomes) - allowed - asked} denied.")
    click.echo(f"The demo server received {len(received)} calls, all of them allowed ones: {', '.join(received)}.")
    surprises = [outcome for outcome in outcomes if not outcome.as_expected]
    allowed_tools = [outcome.step.tool for outcome in outcomes if outcome.decision == "allow"]
    if surprises or received != allowed_tools:
        titles = "; ".join(f"{o.step.title}: {o.decision}, expected {o.step.expected}" for o in surprises)
        raise CommandError(f"the policy did not decide as a sound policy must: {titles or 'a denied call arrived'}")
    click.echo("\nNext: `inherence-proxy init --local` puts your own MCP clients behind the proxy.")


@main.command(epilog=EXIT_CODES_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the actions as JSON for scripts.")
@verbose_option
@pass_environment
def reap(env: Environment, as_json: bool) -> None:
    """Clean up after proxies that died: stale lock files and orphaned upstream processes.

    A client whose proxy is alive is left entirely alone. Each action is reported.

    \b
    Examples:
      inherence-proxy reap
      inherence-proxy reap --json
    """
    from inherence_proxy_core import reap as reap_home

    actions = reap_home(env.home.root)
    if as_json:
        rows = [
            {"kind": a.kind.value, "client": a.client, "pid": a.pid, "path": str(a.path), "detail": a.detail}
            for a in actions
        ]
        click.echo(json.dumps({"home": str(env.home.root), "actions": rows}, indent=2))
        return
    if not actions:
        click.echo(f"Nothing to clean up in {env.home.root}.")
        return
    for action in actions:
        who = f"client {action.client}" if action.client else "0.1.x proxy"
        pid = f" (pid {action.pid})" if action.pid is not None else ""
        click.echo(f"{action.kind.value:<17} {who}{pid}: {action.detail}")
