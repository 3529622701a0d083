"""`restore`: put the original client configs back, byte for byte, from the pristine backups.

Which files: those config.json records as wrapped, and any detected config with a backup
beside it (a file wrapped by 0.1.x, or by an `init` whose config.json was since lost). Every
file is tried; the exit code is that of the worst failure.
"""

from __future__ import annotations

import click

from inherence_client_adapters import ClientConfigError, RestoreResult, list_backups
from inherence_proxy._app import Environment, pass_environment, verbose_option
from inherence_proxy._config import save_config
from inherence_proxy._errors import EXIT_CODES_HELP, CommandError, ExitCode, translate
from inherence_proxy._locations import ClientChoice, Found, detected, recorded
from inherence_proxy._migrate import forget_clients
from inherence_proxy._output import good, problem
from inherence_proxy._preview import preview_restore

__all__ = ["restore"]


def restorable(env: Environment, clients: list[str] | None) -> list[Found]:
    """Wrapped files of `clients` (all when None): recorded ones first, then detected ones with backups."""
    seen: set[str] = set()
    found: list[Found] = []
    for adapter, location in [*recorded(env.config(), env.host, clients), *detected(env.host, clients)]:
        key = str(location.path.absolute())
        if key in seen or not location.path.exists() or not list_backups(location.path):
            continue
        seen.add(key)
        found.append((adapter, location))
    return found


@click.command(epilog=EXIT_CODES_HELP)
@click.option(
    "--client",
    "client_choice",
    type=ClientChoice(),
    default="all",
    show_default=True,
    help="Restore only this client's configs.",
)
@click.option(
    "--force", is_flag=True, help="Restore even a file edited after wrapping (the edits are kept as a backup)."
)
@click.option("--dry-run", is_flag=True, help="Show the diff of every file that would change; change none.")
@verbose_option
@pass_environment
def restore(env: Environment, client_choice: str, force: bool, dry_run: bool) -> None:
    """Put wrapped client configs back exactly as they were before `init`.

    Refuses (exit 8) a file edited since it was wrapped, listing what would be lost, unless
    --force, which first keeps the edited file as one more backup.

    \b
    Examples:
      inherence-proxy restore
      inherence-proxy restore --client cursor --dry-run
      inherence-proxy restore --client claude-desktop --force
    """
    clients = None if client_choice == "all" else [client_choice]
    found = restorable(env, clients)
    if not found:
        if clients is not None:
            raise CommandError(f"no wrapped config of {client_choice} found", ExitCode.NOTHING_TO_DO)
        click.echo("No wrapped client config found: nothing to restore.")
        return
    worst: CommandError | None = None
    done: list[str] = []
    for adapter, location in found:
        try:
            if dry_run:
                diff = preview_restore(adapter, location, force=force)
                click.echo(diff or f"# {location.path}: already as it was, unchanged\n", nl=False)
                continue
            result = adapter.restore(location, force=force)
        except ClientConfigError as exc:
            error = translate(exc) or CommandError(str(exc))
            click.echo(f"{problem('not restored')} {adapter.title}: {error.message}", err=True)
            if worst is None or error.exit_code > worst.exit_code:
                worst = error
            continue
        _report(adapter.title, result)
        done.append(adapter.name)
    if dry_run:
        click.echo("\nDry run: no file was changed.")
    elif done:
        remaining = [a.name for a, _ in found if a.name not in done]
        finished = [name for name in dict.fromkeys(done) if name not in remaining]
        config = env.config()
        updated = forget_clients(config, finished)
        if updated is not config:
            save_config(env.home.config_path, updated)
        click.echo("Restart the restored clients so they start their servers directly again.")
    if worst is not None:
        failed = len(found) - len(done)
        raise CommandError(f"{failed} of {len(found)} configs not restored (see above)", ExitCode(worst.exit_code))


def _report(title: str, result: RestoreResult) -> None:
    if not result.changed:
        click.echo(f"{good('unchanged')} {title}: {result.path} is already the original")
        return
    origin = result.restored_from.name if result.restored_from else "backup"
    click.echo(f"{good('restored')} {title}: {result.path} from {origin}")
    if result.saved is not None:
        click.echo(f"          the edited file was kept as {result.saved.name}")
