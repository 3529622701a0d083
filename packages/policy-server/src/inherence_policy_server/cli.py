"""The `inherence-policy-server` command: serve the Policy API, manage keys, show the rules."""

from __future__ import annotations

import datetime
import ipaddress
import pathlib

import click

from inherence_policy_server import __version__, _serving
from inherence_policy_server._app import DashboardOptions
from inherence_policy_server._errors import PolicyServerError
from inherence_policy_server._keys import issue_key
from inherence_policy_server._rules import default_rules_config, load_rules_config
from inherence_policy_server._storage import DEFAULT_TENANT, SQLStorage, check_tenant, open_storage
from inherence_policy_server.dashboard import new_admin_token
from inherence_policy_server.rules import RulesConfig

__all__ = ["main"]

_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    envvar="INHERENCE_POLICY_DATA_DIR",
    help="Folder of the server's state (SQLite); created if missing. Env: INHERENCE_POLICY_DATA_DIR.",
)
_DATABASE_URL = click.option(
    "--database-url",
    default=None,
    envvar="INHERENCE_POLICY_DATABASE_URL",
    help="State in PostgreSQL instead of a data dir (postgresql://user:password@host:port/database), shared by"
    " servers on several machines; run `db upgrade` first. Env: INHERENCE_POLICY_DATABASE_URL.",
)
_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="Rules config (TOML). Without it the documented defaults apply.",
)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _load_config(config_path: pathlib.Path | None) -> RulesConfig:
    try:
        return default_rules_config() if config_path is None else load_rules_config(config_path)
    except PolicyServerError as exc:
        raise click.ClickException(str(exc)) from None


def _state_choice(data_dir: pathlib.Path | None, database_url: str | None) -> None:
    if data_dir is not None and database_url:
        raise click.ClickException("give --data-dir (SQLite) or --database-url (PostgreSQL), not both")
    if data_dir is None and not database_url:
        raise click.ClickException("missing --data-dir (SQLite) or --database-url (PostgreSQL)")


def _open_storage(data_dir: pathlib.Path | None, database_url: str | None) -> SQLStorage:
    _state_choice(data_dir, database_url)
    try:
        return open_storage(data_dir=data_dir, database_url=database_url)
    except PolicyServerError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="inherence-policy-server")
def main() -> None:
    """Self-hosted Inherence Policy API: the six-rule catastrophe shield."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@_DATA_DIR
@_DATABASE_URL
@_CONFIG
@click.option("--allow-remote", is_flag=True, help="Allow listening on an address that is not loopback.")
@click.option(
    "--no-auth",
    is_flag=True,
    help="Ask for no API key (loopback only; for a single local user). Only JSON calls naming a loopback Host"
    " and this port, from no other origin, are answered.",
)
@click.option("--access-log", is_flag=True, help="Log every request line (never headers or bodies).")
@click.option(
    "--admin-token",
    envvar="INHERENCE_POLICY_ADMIN_TOKEN",
    default=None,
    help="Token for the dashboard and /api/admin (16+ characters). Default: a new one, printed at start."
    " Env: INHERENCE_POLICY_ADMIN_TOKEN.",
)
@click.option("--no-dashboard", is_flag=True, help="Serve only the Policy API, no dashboard at /.")
@click.option(
    "--dashboard-allow-remote", is_flag=True, help="Let the dashboard answer clients that are not on loopback."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes; they share the data dir (velocity limits hold across them).",
)
@click.option(
    "--keep-decisions-days",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 36500),
    envvar="INHERENCE_POLICY_KEEP_DECISIONS_DAYS",
    help="Delete decision log rows older than this many days (in batches, off the request path); 0 keeps all."
    " Env: INHERENCE_POLICY_KEEP_DECISIONS_DAYS.",
)
def serve(
    host: str,
    port: int,
    data_dir: pathlib.Path | None,
    database_url: str | None,
    config_path: pathlib.Path | None,
    allow_remote: bool,
    no_auth: bool,
    access_log: bool,
    admin_token: str | None,
    no_dashboard: bool,
    dashboard_allow_remote: bool,
    workers: int,
    keep_decisions_days: float,
) -> None:
    """Serve the Policy API over HTTP, and the dashboard at / (loopback clients, admin token).

    \b
    Examples:
      inherence-policy-server serve --data-dir ./state --config rules.toml
      INHERENCE_POLICY_ADMIN_TOKEN=... inherence-policy-server serve --data-dir ./state
      inherence-policy-server serve --data-dir ./state --workers 4
      inherence-policy-server serve --database-url postgresql://policy@db.internal/policy --allow-remote \\
          --host 0.0.0.0 --no-dashboard
    """
    if not _is_loopback(host):
        if not allow_remote:
            raise click.ClickException(f"{host} is not a loopback address; pass --allow-remote to listen on it")
        if no_auth:
            raise click.ClickException("--no-auth is only allowed on a loopback address")
    _load_config(config_path)  # a bad config fails here, once, before any worker starts
    storage = _open_storage(data_dir, database_url)
    try:
        if not no_auth and not storage.has_active_keys():
            click.echo("warning: no API key exists yet, so every call is refused; run `keys create`", err=True)
    finally:
        storage.close()
    dashboard = _dashboard_options(host, port, admin_token, config_path, no_dashboard, dashboard_allow_remote)
    try:
        _serving.run(
            host=host,
            port=port,
            data_dir=data_dir,
            database_url=database_url,
            config_path=config_path,
            require_key=not no_auth,
            workers=workers,
            access_log=access_log,
            dashboard=dashboard,
            keep_decisions_days=keep_decisions_days,
        )
    except PolicyServerError as exc:
        raise click.ClickException(str(exc)) from None


def _dashboard_options(
    host: str, port: int, token: str | None, config_path: pathlib.Path | None, off: bool, allow_remote: bool
) -> DashboardOptions | None:
    if off:
        click.echo("dashboard: off (--no-dashboard)", err=True)
        return None
    if token is not None and len(token) < 16:
        raise click.ClickException("the admin token must be at least 16 characters")
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"dashboard: http://{shown_host}:{port}/", err=True)
    if token is None:
        token = new_admin_token()
        click.echo(f"admin token: {token}", err=True)
    if config_path is None:
        click.echo("dashboard: no --config, so rule changes last until the server stops", err=True)
    return DashboardOptions(admin_token=token, config_path=config_path, allow_remote=allow_remote)


@main.group()
def keys() -> None:
    """Create, list and revoke API keys (stored hashed; a key is shown once)."""


@keys.command("create")
@_DATA_DIR
@_DATABASE_URL
@click.option("--label", default="", help="A note to tell keys apart, e.g. the team or machine.")
@click.option(
    "--tenant",
    default=DEFAULT_TENANT,
    show_default=True,
    help="The organisation the key belongs to: its calls share sessions, velocity windows, approvals and"
    " the decision log with the tenant's other keys, and with no other tenant's.",
)
def keys_create(data_dir: pathlib.Path | None, database_url: str | None, label: str, tenant: str) -> None:
    """Create a key and print it once."""
    try:
        check_tenant(tenant)
    except PolicyServerError as exc:
        raise click.BadParameter(str(exc), param_hint="--tenant") from None
    storage = _open_storage(data_dir, database_url)
    try:
        issued = issue_key(_now(), label, tenant)
        storage.add_key(issued.record)
    finally:
        storage.close()
    click.echo(issued.secret_key)
    click.echo(f"key id {issued.record.key_id}: store the key now, it cannot be shown again", err=True)


@keys.command("list")
@_DATA_DIR
@_DATABASE_URL
def keys_list(data_dir: pathlib.Path | None, database_url: str | None) -> None:
    """List keys: id, prefix, created, revoked (never the key)."""
    storage = _open_storage(data_dir, database_url)
    try:
        records = storage.list_keys()
    finally:
        storage.close()
    if not records:
        click.echo("no API keys")
        return
    width = max(8, *(len(record.tenant) + 2 for record in records))
    click.echo(f"{'ID':<14}{'PREFIX':<27}{'CREATED':<22}{'REVOKED':<22}{'TENANT':<{width}}LABEL")
    for record in records:
        created = record.created_at.strftime("%Y-%m-%d %H:%M:%S")
        revoked = record.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if record.revoked_at else "-"
        click.echo(
            f"{record.key_id:<14}{record.prefix + '...':<27}{created:<22}{revoked:<22}{record.tenant:<{width}}"
            f"{record.label}"
        )


@keys.command("revoke")
@_DATA_DIR
@_DATABASE_URL
@click.argument("key_id")
def keys_revoke(data_dir: pathlib.Path | None, database_url: str | None, key_id: str) -> None:
    """Revoke the key with KEY_ID (as `keys list` shows it)."""
    storage = _open_storage(data_dir, database_url)
    try:
        storage.revoke_key(key_id, _now())
    except PolicyServerError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        storage.close()
    click.echo(f"revoked {key_id}")


@main.group()
def db() -> None:
    """The PostgreSQL schema (a data dir's SQLite file is kept up to date on open); moving state between backends."""


@db.command("upgrade")
@click.option(
    "--database-url",
    required=True,
    envvar="INHERENCE_POLICY_DATABASE_URL",
    help="postgresql://user:password@host:port/database. Env: INHERENCE_POLICY_DATABASE_URL.",
)
def db_upgrade(database_url: str) -> None:
    """Create or migrate the schema; run it once before the first `serve`, and after each release that asks for it.

    Safe to run again, and from several machines at once (they take turns).
    """
    from inherence_policy_server._postgres import describe_url, upgrade_database

    try:
        where = describe_url(database_url)
        before, after = upgrade_database(database_url)
    except PolicyServerError as exc:
        raise click.ClickException(str(exc)) from None
    if before == after:
        click.echo(f"the database {where} is at schema version {after}: nothing to do")
    else:
        click.echo(f"the database {where} upgraded from schema version {before} to {after}")


@db.command("export")
@_DATA_DIR
@_DATABASE_URL
@click.option(
    "--output",
    "-o",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="The file to write (JSON Lines, mode 0600; replaced only once complete).",
)
def db_export(data_dir: pathlib.Path | None, database_url: str | None, output: pathlib.Path) -> None:
    """Write the whole state (keys, sessions, velocity, approvals, decision log, ...) to a file.

    \b
    Examples:
      inherence-policy-server db export --data-dir ./state -o policy-export.jsonl
      inherence-policy-server db import --database-url postgresql://policy@db/policy -i policy-export.jsonl
    """
    from inherence_policy_server._db_copy import export_state

    storage = _open_storage(data_dir, database_url)
    try:
        counts = export_state(storage, output)
    except OSError as exc:
        raise click.ClickException(f"{output}: cannot write: {exc.strerror}") from None
    except PolicyServerError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        storage.close()
    click.echo(f"exported {sum(counts.values())} rows to {output} ({_counted(counts)})")


@db.command("import")
@_DATA_DIR
@_DATABASE_URL
@click.option(
    "--input",
    "-i",
    "source",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=pathlib.Path),
    help="A file written by `db export`.",
)
def db_import(data_dir: pathlib.Path | None, database_url: str | None, source: pathlib.Path) -> None:
    """Load a `db export` file into a new, empty data dir or database (upgraded first); all or nothing."""
    from inherence_policy_server._db_copy import import_state

    storage = _open_storage(data_dir, database_url)
    try:
        counts = import_state(storage, source)
    except PolicyServerError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        storage.close()
    click.echo(f"imported {sum(counts.values())} rows from {source} ({_counted(counts)})")


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {count}" for table, count in counts.items() if count) or "no rows"


@main.group()
def rules() -> None:
    """Inspect the rules."""


@rules.command("show")
@_CONFIG
def rules_show(config_path: pathlib.Path | None) -> None:
    """Print the effective rules, their modes and thresholds."""
    config = _load_config(config_path)
    source = str(config_path) if config_path else "built-in defaults"
    click.echo(f"# effective rules ({source})")
    click.echo(config.describe())
