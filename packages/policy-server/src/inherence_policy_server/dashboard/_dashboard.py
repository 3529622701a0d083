"""The dashboard's state and its changes, shared by the pages and the JSON admin API.

Every change (a rule setting, a key created or revoked, a login) goes into the admin audit
log. Rule changes are serialised by one lock: validate, save the file, then swap the config
the decide path reads.
"""

from __future__ import annotations

import datetime
import logging
import pathlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from inherence_policy_server._approvals import Approval
from inherence_policy_server._errors import UnknownKeyError
from inherence_policy_server._keys import ApiKeyRecord, IssuedKey, issue_key
from inherence_policy_server._live_rules import LiveRules
from inherence_policy_server._storage import DEFAULT_TENANT, SQLStorage
from inherence_policy_server.dashboard._access import AdminAccess
from inherence_policy_server.dashboard._settings import SettingsRejected, apply_changes, save_section
from inherence_policy_server.dashboard._store import DashboardStore
from inherence_policy_server.rules import RulesConfig

__all__ = ["Dashboard", "RulesHolder", "approval_json", "key_json"]

logger = logging.getLogger("inherence_policy_server")


class RulesHolder(Protocol):
    """What the dashboard changes: the running server's rules config."""

    @property
    def config(self) -> Any: ...

    def replace_config(self, config: RulesConfig) -> object: ...


class Dashboard:
    """Access, queries and changes of one dashboard over one server."""

    def __init__(
        self,
        *,
        holder: RulesHolder,
        storage: SQLStorage,
        access: AdminAccess,
        config_path: pathlib.Path | None,
        clock: Callable[[], datetime.datetime],
        live: LiveRules | None = None,
    ) -> None:
        self.holder = holder
        self.live = live
        self.store = DashboardStore(storage)
        self.access = access
        self.config_path = config_path
        self.clock = clock
        self._change_lock = threading.Lock()

    @property
    def rules(self) -> RulesConfig:
        config = self.holder.config
        if not isinstance(config, RulesConfig):
            raise SettingsRejected({"": "this server's evaluator takes no rules config"})
        return config

    def change_rules(self, section: str, changes: Mapping[str, Any], *, form: bool = False) -> list[str]:
        """Apply and save a change; the changed settings, or `SettingsRejected` with nothing changed."""
        with self._change_lock:
            updated, changed = apply_changes(self.rules, section, changes, form=form)
            if not changed:
                return []
            if self.config_path is not None:
                try:
                    save_section(self.config_path, updated, section)
                except (OSError, ValueError) as exc:
                    raise SettingsRejected({"": f"cannot write the config file: {exc}"}) from None
            self.holder.replace_config(updated)
            if self.live is not None:
                # Every other server (and worker) on this storage applies it within 2 s.
                self.live.publish(updated, self.clock())
        self.audit("rules.change", section, "; ".join(changed))
        return changed

    def create_key(self, label: str, tenant: str = DEFAULT_TENANT) -> IssuedKey:
        issued = issue_key(self.clock(), label.strip(), tenant)
        self.store.storage.add_key(issued.record)
        self.audit("key.create", issued.record.key_id, f"label {label.strip()!r}, tenant {tenant}")
        return issued

    def list_keys(self, tenant: str = DEFAULT_TENANT) -> list[ApiKeyRecord]:
        return self.store.storage.list_keys(tenant)

    def revoke_key(self, key_id: str, tenant: str = DEFAULT_TENANT) -> None:
        """Revoke a key of `tenant`; `UnknownKeyError` when the tenant has none with that id."""
        record = self.store.storage.find_key(key_id)
        if record is None or record.tenant != tenant:
            raise UnknownKeyError(key_id)
        self.store.storage.revoke_key(key_id, self.clock())
        self.audit("key.revoke", key_id, f"tenant {tenant}")

    def tenant_names(self) -> list[str]:
        """The tenants that have keys, and the default one."""
        return sorted({DEFAULT_TENANT, *(record.tenant for record in self.store.storage.list_keys())})

    def pending_approvals(self, tenant: str = DEFAULT_TENANT) -> list[Approval]:
        return self.store.storage.approvals.for_tenant(tenant).pending(self.clock())

    def recent_approvals(self, limit: int = 50, tenant: str = DEFAULT_TENANT) -> list[Approval]:
        return self.store.storage.approvals.for_tenant(tenant).recent(self.clock(), limit)

    def answer_approval(self, approval_id: str, *, grant: bool, tenant: str = DEFAULT_TENANT) -> Approval:
        """Grant or refuse one call of `tenant` asked about; `ApprovalNotFound` / `ApprovalExpired` as they raise.

        The approvals write the admin log themselves, whoever answers.
        """
        approvals = self.store.storage.approvals.for_tenant(tenant)
        answer = approvals.approve if grant else approvals.decline
        approval = answer(approval_id, self.clock())
        logger.info("admin %s %s", "approved" if grant else "declined", approval_id)
        return approval

    def audit(self, action: str, target: str, detail: str) -> None:
        self.store.log_event(self.clock(), action, target, detail)
        logger.info("admin %s %s %s", action, target, detail)


def key_json(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "prefix": record.prefix,
        "label": record.label,
        "created_at": record.created_at.isoformat(),
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
        "active": record.active,
        "tenant": record.tenant,
    }


def approval_json(approval: Approval) -> dict[str, Any]:
    return {
        "id": approval.id,
        "state": approval.state,
        "session_id": approval.session_id,
        "upstream": approval.upstream,
        "tool_name": approval.tool_name,
        "rule": approval.rule,
        "clauses": list(approval.clauses),
        "reason": approval.reason,
        "summary": approval.summary,
        "created_at": approval.created_at.isoformat(),
        "expires_at": approval.expires_at.isoformat(),
    }
