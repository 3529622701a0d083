"""The embedded policy's approvals, as the commands and `status` read them."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from typing import TYPE_CHECKING

from inherence_proxy._app import Environment
from inherence_proxy._policy import PolicyTarget

if TYPE_CHECKING:
    from inherence_policy_server import Approvals

__all__ = ["embedded_approvals", "now", "pending_count"]


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@contextlib.contextmanager
def embedded_approvals(env: Environment) -> Iterator[Approvals]:
    """The approvals store in `<home>/policy`, closed on exit."""
    # Imported here: the server is heavy, and most commands never need it.
    from inherence_policy_server import open_approvals

    with open_approvals(env.home.policy_data_dir) as store:
        yield store


def pending_count(env: Environment) -> int | None:
    """How many approvals wait in the embedded policy; None with an API key (they live on that server)."""
    if not PolicyTarget.of(env.config(), env.environ).embedded:
        return None
    if not env.home.policy_data_dir.is_dir():
        return 0  # no policy state yet: nothing can wait, and reading must not create any
    with embedded_approvals(env) as store:
        return len(store.pending(now()))
