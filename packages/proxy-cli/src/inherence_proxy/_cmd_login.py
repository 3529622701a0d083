"""`inherence-proxy login UPSTREAM` and `logout UPSTREAM`: OAuth consent for a remote upstream.

The flow itself is the engine's (`inherence_proxy_core.login_upstream`, on the `mcp` SDK's OAuth
client); this opens the browser, prints the address for a machine without one, and says where
the tokens went. Tokens are written to `<home>/tokens/<upstream>.json` (0600), never printed.
"""

from __future__ import annotations

import logging
import webbrowser
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import click

from inherence_proxy._app import Environment, is_verbose, pass_environment, verbose_option
from inherence_proxy._config import UpstreamEntry
from inherence_proxy._errors import EXIT_CODES_HELP, CommandError, ExitCode
from inherence_proxy._output import good

if TYPE_CHECKING:
    from inherence_proxy_core import TokenStore

__all__ = ["login", "logout", "tokens_folder"]


def tokens_folder(env: Environment) -> TokenStore:
    from inherence_proxy_core import TokenStore  # the engine is heavy to import; loaded when needed

    return TokenStore(env.home.root / "tokens")


def _remote_upstream(env: Environment, name: str) -> UpstreamEntry:
    config = env.config()
    for entry in config.upstreams:
        if entry.name == name:
            if entry.transport == "stdio" or not entry.url:
                raise CommandError(f"upstream {name!r} runs as a local command; only HTTP and SSE upstreams log in")
            return entry
    known = ", ".join(e.name for e in config.upstreams if e.transport != "stdio") or "none"
    raise CommandError(
        f"no upstream named {name!r} in {env.home.config_path} (remote upstreams: {known})", ExitCode.CONFIG
    )


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("upstream")
@click.option("--no-browser", is_flag=True, help="Only print the address to open; do not start a browser.")
@click.option(
    "--timeout",
    "timeout_seconds",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the consent in the browser.",
)
@click.option(
    "--client-id",
    help="A client registered beforehand with the authorization server (its secret, if any, "
    "in INHERENCE_OAUTH_CLIENT_SECRET), for servers without dynamic registration.",
)
@click.option(
    "--client-metadata-url",
    help="An HTTPS client ID metadata document to present as the client ID where the server supports them.",
)
@verbose_option
@pass_environment
def login(
    env: Environment,
    upstream: str,
    no_browser: bool,
    timeout_seconds: float,
    client_id: str | None,
    client_metadata_url: str | None,
) -> None:
    """Log in to the remote UPSTREAM that asks for OAuth, so the proxy can reach it.

    Opens the authorization page in your browser (the address is printed too, for a machine
    without one) and waits for the redirect on a one-shot listener on 127.0.0.1. The tokens are
    kept in the proxy home under tokens/ (mode 0600, never in config.json, never logged); a
    running proxy picks them up the next time it connects to that upstream.

    Most servers register the proxy as a client by themselves (dynamic registration); for one
    that does not, give the client you registered with --client-id.

    \b
    Examples:
      inherence-proxy login github
      inherence-proxy login linear --no-browser
      INHERENCE_OAUTH_CLIENT_SECRET=… inherence-proxy login corp --client-id proxy-laptop
    """
    from inherence_proxy_core import LoginError, login_upstream, wants_oauth

    entry = _remote_upstream(env, upstream)
    config = entry.to_gateway()
    if not wants_oauth(config.headers):
        raise CommandError(f"upstream {upstream!r} already sends an Authorization header from config.json")
    env.home.ensure()
    record = tokens_folder(env).for_upstream(config.name, str(config.url))

    async def open_browser(url: str) -> None:
        click.echo(f"Open this address to log in to {upstream}:\n\n  {url}\n", err=True)
        if not no_browser:
            # A browser command may wait for its window; the listener must keep answering meanwhile.
            opened = await anyio.to_thread.run_sync(webbrowser.open, url)
            if not opened:
                click.echo("No browser could be started; open the address above yourself.", err=True)
        click.echo("Waiting for the login to finish in the browser...", err=True)

    async def run() -> None:
        await login_upstream(
            config.name,
            str(config.url),
            config.transport,
            record,
            open_browser=open_browser,
            headers=config.headers,
            deadline=timeout_seconds,
            client_id=client_id,
            client_secret=env.environ.get("INHERENCE_OAUTH_CLIENT_SECRET") if client_id else None,
            client_metadata_url=client_metadata_url,
        )

    if not is_verbose():
        # The SDK logs its flow's failures with a traceback; the one-line error below says it all.
        logging.getLogger("mcp.client.auth").setLevel(logging.CRITICAL)
    try:
        anyio.run(run)
    except LoginError as exc:
        raise CommandError(f"login to {upstream} failed: {exc}") from None
    click.echo(f"{good('logged in')} to {upstream}; tokens kept in {record.path} (mode 0600).")


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("upstream")
@verbose_option
@pass_environment
def logout(env: Environment, upstream: str) -> None:
    """Forget the OAuth tokens kept for UPSTREAM (it then needs `login` again).

    \b
    Examples:
      inherence-proxy logout github
    """
    entry = _remote_upstream(env, upstream)
    if tokens_folder(env).forget(entry.name):
        click.echo(f"Forgot the tokens of {upstream}.")
    else:
        click.echo(f"No tokens were kept for {upstream}.")
