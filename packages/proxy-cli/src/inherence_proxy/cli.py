"""The `inherence-proxy` command line."""

from __future__ import annotations

import json

import click

from inherence_proxy import __version__
from inherence_proxy._versions import installed_versions


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="inherence-proxy")
def main() -> None:
    """Gate every MCP tool call of your AI client through a policy, before the tool runs.

    \b
    Examples:
      inherence-proxy version
      inherence-proxy version --json
    """


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object for scripts.")
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
