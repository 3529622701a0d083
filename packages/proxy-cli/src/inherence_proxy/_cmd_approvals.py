"""`approvals`, `approve` and `decline`: the calls the embedded policy holds until a person agrees.

When the policy answers `confirm` to a client that cannot ask its user, the call is held as a
pending approval. `approve <id>` lets the identical call in the same session through once;
`decline <id>` refuses it. With an API key the approvals live on that policy server and are
given on its dashboard.
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

import click

from inherence_proxy._app import Environment, pass_environment, verbose_option
from inherence_proxy._approvals import embedded_approvals, now
from inherence_proxy._errors import EXIT_CODES_HELP, CommandError
from inherence_proxy._output import good, problem, render_table
from inherence_proxy._policy import PolicyTarget

if TYPE_CHECKING:
    from inherence_policy_server import Approval

__all__ = ["approvals", "approve", "decline"]


def _embedded_only(env: Environment) -> None:
    target = PolicyTarget.of(env.config(), env.environ)
    if not target.embedded:
        raise CommandError(
            f"this proxy's decisions come from {target.endpoint}: its approvals are given on that server's "
            "dashboard (the Approvals page); these commands manage the embedded policy's approvals"
        )


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _tool(approval: Approval) -> str:
    upstream = approval.upstream or "?"
    tool = approval.tool_name or "?"
    prefix = f"{upstream}__"
    return f"{upstream}/{tool[len(prefix) :] if tool.startswith(prefix) else tool}"


def _arguments(approval: Approval, limit: int = 100) -> str:
    """The arguments that matter, as the policy masked them, on one bounded line."""
    parts = []
    for name, value in approval.summary.items():
        shown = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
        parts.append(f"{name}: {' '.join(shown.split())}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _facts(approval: Approval, moment: datetime.datetime) -> dict[str, Any]:
    return {
        "id": approval.id,
        "upstream": approval.upstream,
        "tool_name": approval.tool_name,
        "rule": approval.rule,
        "reason": approval.reason,
        "summary": approval.summary,
        "session_id": approval.session_id,
        "created_at": approval.created_at.isoformat(),
        "expires_at": approval.expires_at.isoformat(),
        "age_seconds": int((moment - approval.created_at).total_seconds()),
        "expires_in_seconds": int((approval.expires_at - moment).total_seconds()),
        "state": approval.state,
    }


@click.command(epilog=EXIT_CODES_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for scripts.")
@verbose_option
@pass_environment
def approvals(env: Environment, as_json: bool) -> None:
    """List the calls waiting for your approval (embedded policy).

    Each was held because the policy wants a person to agree (a first payment to a new payee,
    a password change, an outside invite...) and the client could not ask you itself.

    \b
    Examples:
      inherence-proxy approvals
      inherence-proxy approve apr_3kq9…   then retry the same call in the client
      inherence-proxy decline apr_3kq9…
    """
    _embedded_only(env)
    moment = now()
    waiting: list[Approval] = []
    if env.home.policy_data_dir.is_dir():  # no policy state yet: nothing can be waiting, and nothing is created
        with embedded_approvals(env) as store:
            waiting = list(store.pending(moment))
    if as_json:
        click.echo(json.dumps([_facts(a, moment) for a in waiting], indent=2))
        return
    if not waiting:
        click.echo("No approvals are waiting.")
        return
    rows = [
        [a.id, _span((moment - a.created_at).total_seconds()), _span((a.expires_at - moment).total_seconds()), _tool(a),
         a.rule or "", _arguments(a)]
        for a in waiting
    ]  # fmt: skip
    click.echo(render_table(["id", "age", "expires in", "call", "rule", "arguments"], rows))
    click.echo("\n`inherence-proxy approve <id>` lets that exact call through once; retry it in the client.")


def _settle(env: Environment, approval_id: str, *, grant: bool) -> Approval:
    from inherence_policy_server import ApprovalExpired, ApprovalNotFound

    _embedded_only(env)
    if not env.home.policy_data_dir.is_dir():
        raise CommandError(f"no approval {approval_id!r} is waiting (run `inherence-proxy approvals` to see them)")
    with embedded_approvals(env) as store:
        try:
            return store.approve(approval_id, now()) if grant else store.decline(approval_id, now())
        except ApprovalNotFound:
            raise CommandError(
                f"no approval {approval_id!r} is waiting (run `inherence-proxy approvals` to see them)"
            ) from None
        except ApprovalExpired as exc:
            state = {"used": "was used already", "declined": "was declined"}.get(exc.state, "has expired")
            raise CommandError(
                f"approval {approval_id!r} {state}; retry the call in the client to be asked again"
            ) from None


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("approval_id", metavar="ID")
@verbose_option
@pass_environment
def approve(env: Environment, approval_id: str) -> None:
    """Let the held call ID through once: retry the same call in the client.

    \b
    Examples:
      inherence-proxy approvals
      inherence-proxy approve apr_3kq9…
    """
    approval = _settle(env, approval_id, grant=True)
    expires = _span((approval.expires_at - now()).total_seconds())
    click.echo(f"{good('approved')} {approval.id}: {_tool(approval)} ({_arguments(approval) or 'no arguments'}).")
    click.echo(f"Retry the same call in the client within {expires}; it goes through once.")


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("approval_id", metavar="ID")
@verbose_option
@pass_environment
def decline(env: Environment, approval_id: str) -> None:
    """Refuse the held call ID: a retry is held again.

    \b
    Examples:
      inherence-proxy decline apr_3kq9…
    """
    approval = _settle(env, approval_id, grant=False)
    click.echo(f"{problem('declined')} {approval.id}: {_tool(approval)} ({_arguments(approval) or 'no arguments'}).")
