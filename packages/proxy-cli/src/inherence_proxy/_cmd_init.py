"""`init`: put the MCP clients of this machine behind the proxy.

Order: check the key (nothing is written with a key the service refuses), find the clients,
let the user pick, record the upstreams in config.json, then rewrite each client config
(backing it up first). config.json goes first so a client restarted at any moment finds its
upstreams. Discovery runs last and only reports: a server that fails to start is shown, not fatal.
"""

from __future__ import annotations

import datetime
import pathlib
import sys

import anyio
import click
from pydantic import SecretStr

from inherence_client_adapters import ClientConfigError, ProxyCommand, ServerEntry
from inherence_policy_client import DEFAULT_BASE_URL
from inherence_proxy._app import Environment, pass_environment, verbose_option
from inherence_proxy._config import ProxyConfig, save_config
from inherence_proxy._errors import EXIT_CODES_HELP, CommandError, ExitCode
from inherence_proxy._init_report import print_summary, verify_policy
from inherence_proxy._locations import (
    ClientChoice,
    Found,
    adapter_for,
    detected,
    location_for_path,
    proxy_executable,
)
from inherence_proxy._migrate import ClientServers, migrate
from inherence_proxy._output import is_terminal, masked_key, problem, render_table
from inherence_proxy._policy import PolicyTarget
from inherence_proxy._preview import hide_values, preview_wrap, text_diff

__all__ = ["init"]

Readable = tuple[Found, list[ServerEntry]]


def _target(env: Environment, config: ProxyConfig, *, api_key: str | None, endpoint: str | None, local: bool,
            interactive: bool) -> PolicyTarget:  # fmt: skip
    key = None if local else (api_key or config.effective_api_key(env.environ))
    if key is None and not local and interactive:
        key = (
            click.prompt(
                "Inherence API key (press Enter to use the embedded local policy, no account)",
                default="",
                hide_input=True,
                show_default=False,
            ).strip()
            or None
        )
    if key is None:
        return PolicyTarget(api_key=None, endpoint="embedded")
    return PolicyTarget(api_key=key, endpoint=endpoint or config.effective_endpoint(env.environ) or DEFAULT_BASE_URL)


def _readable(found: list[Found], *, strict: bool) -> list[Readable]:
    """The configs to offer: readable, and holding servers or the proxy entry already (`strict`: all of them)."""
    readable: list[Readable] = []
    for adapter, location in found:
        try:
            servers = adapter.read(location)
            if not servers and not strict and adapter.drift(location).proxy_missing:
                click.echo(f"skipped {adapter.title}: {location.path} defines no MCP servers", err=True)
                continue
        except ClientConfigError as exc:
            if strict:
                raise
            click.echo(f"{problem('skipped')} {adapter.title}: {exc}", err=True)
            continue
        readable.append(((adapter, location), servers))
    return readable


def _pick(readable: list[Readable]) -> list[Readable]:
    rows = [
        [str(number), adapter.title, str(location.path), f"{len(servers)} servers"]
        for number, ((adapter, location), servers) in enumerate(readable, start=1)
    ]
    click.echo("MCP client configs found on this machine:")
    click.echo(render_table(["#", "client", "config file", "servers"], rows))
    while True:
        answer = click.prompt("Wrap which? Numbers separated by commas, or 'all'", default="all").strip().lower()
        if answer == "all":
            return readable
        try:
            numbers = sorted({int(part) for part in answer.replace(" ", ",").split(",") if part})
        except ValueError:
            numbers = []
        if numbers and all(1 <= n <= len(readable) for n in numbers):
            return [readable[n - 1] for n in numbers]
        click.echo(f"Please answer with numbers from 1 to {len(readable)}, or 'all'.")


def _group(chosen: list[Readable]) -> list[ClientServers]:
    by_client: dict[str, tuple[list[str], list[ServerEntry]]] = {}
    for (adapter, location), servers in chosen:
        paths, entries = by_client.setdefault(adapter.name, ([], []))
        paths.append(str(location.path))
        entries.extend(servers)
    return [ClientServers(client, tuple(paths), tuple(entries)) for client, (paths, entries) in by_client.items()]


@click.command(epilog=EXIT_CODES_HELP)
@click.option("--api-key", metavar="KEY", help="Your Inherence API key (inh_…); checked before anything is written.")
@click.option("--endpoint", metavar="URL", help=f"Policy service URL for the key [default: {DEFAULT_BASE_URL}].")
@click.option("--local", is_flag=True, help="Use the embedded policy server: no account, no network.")
@click.option(
    "--client",
    "client_choice",
    type=ClientChoice(),
    help="Wrap only this client (or all found) instead of asking.",
)
@click.option(
    "--config-path",
    type=click.Path(path_type=pathlib.Path, dir_okay=False, exists=True),
    help="Wrap this config file of --client NAME (a file in a place the client is not usually looked for).",
)
@click.option(
    "--project",
    "projects",
    multiple=True,
    type=click.Path(path_type=pathlib.Path, file_okay=False, exists=True),
    help="Also offer this project folder's MCP configs (.mcp.json, .cursor/, .vscode/ ...). Repeatable.",
)
@click.option("-y", "--yes", is_flag=True, help="Ask nothing: no key means the embedded policy; all clients found.")
@click.option("--dry-run", is_flag=True, help="Show the diff of every file that would change; change none.")
@click.option("--no-discovery", is_flag=True, help="Do not start the upstreams to list and classify their tools now.")
@verbose_option
@pass_environment
def init(env: Environment, api_key: str | None, endpoint: str | None, local: bool, client_choice: str | None,
         config_path: pathlib.Path | None, projects: tuple[pathlib.Path, ...], yes: bool, dry_run: bool,
         no_discovery: bool) -> None:  # fmt: skip
    """Put your MCP clients behind the proxy: back up and rewrite their configs.

    Each client's config then starts `inherence-proxy serve <client>` (by absolute path),
    which serves that client's own servers through the policy gate. Backups sit beside
    each file as <name>.bak_inherence.<timestamp>; `restore` puts the originals back.

    \b
    Examples:
      inherence-proxy init                            ask for the key and which clients
      inherence-proxy init --local --yes              embedded policy, every client found
      inherence-proxy init --api-key inh_… --client cursor
      inherence-proxy init --client vscode --config-path ./.vscode/mcp.json
      inherence-proxy init --local --client all --dry-run
    """
    if local and (api_key or endpoint):
        raise click.UsageError("--local excludes --api-key and --endpoint: the embedded policy needs neither")
    if config_path is not None and client_choice in (None, "all"):
        raise click.UsageError("--config-path needs --client NAME: the client whose format the file is in")
    interactive = not yes and is_terminal(sys.stdin) and is_terminal()
    config = env.config()
    target = _target(env, config, api_key=api_key, endpoint=endpoint, local=local, interactive=interactive)
    if not target.embedded or not dry_run:
        anyio.run(verify_policy, target, env.home)
    if config_path is not None and client_choice is not None:
        adapter = adapter_for(client_choice)
        found: list[Found] = [(adapter, location_for_path(adapter, env.host, config_path))]
    else:
        wanted = None if client_choice in (None, "all") else [client_choice]
        found = detected(env.host, wanted, [p.absolute() for p in projects])
    readable = _readable(found, strict=config_path is not None)
    if not readable:
        which = f"{client_choice} " if client_choice not in (None, "all") else ""
        raise CommandError(
            f"no {which}MCP client config found under {env.user_home}; pass --client NAME --config-path FILE",
            ExitCode.NOTHING_TO_DO,
        )
    chosen = _pick(readable) if interactive and client_choice is None and len(readable) > 1 else readable
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    migration = migrate(config, _group(chosen), now=now)
    updated = migration.config
    if not target.embedded:
        key = SecretStr(target.api_key or "")
        updated = updated.model_copy(update={"api_key": key, "hosted_endpoint": target.endpoint})
    elif config.api_key is not None:
        updated = updated.model_copy(update={"api_key": None})
    proxy = ProxyCommand(proxy_executable(env.environ))
    for note in migration.notes:
        click.echo(f"note: {note}", err=True)
    if dry_run:
        _show_dry_run(env, config, updated, chosen, proxy)
        return
    env.home.ensure()
    save_config(env.home.config_path, updated)
    wrapped = [(adapter, adapter.wrap(location, proxy)) for (adapter, location), _servers in chosen]
    print_summary(env, updated, target, migration.upstreams_of, wrapped, discovery=not no_discovery)


def _show_dry_run(env: Environment, before: ProxyConfig, after: ProxyConfig, chosen: list[Readable],
                  proxy: ProxyCommand) -> None:  # fmt: skip
    changed = 0
    for (adapter, location), _servers in chosen:
        diff = preview_wrap(adapter, location, proxy)
        changed += bool(diff)
        click.echo(diff or f"# {location.path}: already wrapped, unchanged\n", nl=False)
    old_text = before.to_json() if env.home.config_path.exists() else ""
    upstreams = [*before.upstreams, *after.upstreams]
    diff = hide_values(
        text_diff(old_text, after.to_json(), env.home.config_path),
        [value for entry in upstreams for value in (*entry.env.values(), *entry.headers.values())],
    )
    for config in (before, after):
        secret = config.api_key.get_secret_value() if config.api_key else None
        if secret:
            diff = diff.replace(secret, masked_key(secret))
    changed += bool(diff)
    click.echo(diff, nl=False)
    click.echo(f"\nDry run: {changed} files would change; none was changed.")
