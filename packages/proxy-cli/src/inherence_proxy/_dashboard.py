"""`inherence-proxy dashboard`: the policy dashboard over the embedded policy's data dir.

It serves on 127.0.0.1 only, with a fresh admin token (or INHERENCE_POLICY_ADMIN_TOKEN),
and opens the browser once the port is listening. Rule changes are saved to `rules.toml`
in the proxy home, which the embedded policy reads when a proxy starts.
"""

from __future__ import annotations

import webbrowser

import click

from inherence_proxy._app import Environment, pass_environment, verbose_option
from inherence_proxy._errors import EXIT_CODES_HELP

__all__ = ["dashboard"]

DEFAULT_PORT = 8790


@click.command(epilog=EXIT_CODES_HELP)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option("--no-browser", is_flag=True, help="Print the address and token only; open no browser.")
@verbose_option
@pass_environment
def dashboard(env: Environment, port: int, no_browser: bool) -> None:
    """See every decision of the embedded policy and tune its rules in your browser.

    Serves the dashboard on 127.0.0.1 over the embedded policy's state (the proxy home's
    policy folder), prints its address and admin token, and opens the browser. Rule changes
    are saved to rules.toml in the proxy home; running proxies pick them up within seconds.
    Ctrl-C stops it.

    \b
    Examples:
      inherence-proxy dashboard
      inherence-proxy dashboard --port 0 --no-browser
      INHERENCE_POLICY_ADMIN_TOKEN=… inherence-proxy dashboard
    """
    from inherence_policy_server.dashboard import new_admin_token, serve_dashboard

    token = env.environ.get("INHERENCE_POLICY_ADMIN_TOKEN", "").strip()
    if token and len(token) < 16:
        raise click.BadParameter("must be at least 16 characters", param_hint="INHERENCE_POLICY_ADMIN_TOKEN")
    token = token or new_admin_token()
    env.home.ensure()

    def ready(url: str) -> None:
        click.echo(f"Dashboard:   {url}")
        click.echo(f"Admin token: {token}")
        click.echo(f"Rules file:  {env.home.rules_path}")
        click.echo("Ctrl-C stops it.", err=True)
        if not no_browser:
            webbrowser.open(url)

    serve_dashboard(
        data_dir=env.home.policy_data_dir,
        config_path=env.home.rules_path,
        admin_token=token,
        on_ready=ready,
        port=port,
    )
