"""The rules' configuration: one section per rule plus what the organisation trusts.

The server loads a TOML file into `RulesConfig.model_validate(...)`. Every model forbids
unknown keys, so a typo such as `per_cal_limit_cents` is refused with its field path
instead of being silently ignored and leaving a default in force.

Amounts are in minor units (cents) of whatever currency a call names: the rules hold no
exchange rates, so one threshold applies to every currency.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from inherence_policy_server.rules._api import Mode
from inherence_policy_server.rules._modes import clause_names, effective_mode
from inherence_policy_server.rules._packs import PacksConfig

__all__ = [
    "RULE_NAMES",
    "ConfirmationConfig",
    "CredentialAccessConfig",
    "FinancialDrainConfig",
    "GateIntegrityConfig",
    "IdentityEscalationConfig",
    "LateralPivotConfig",
    "MassDestructionConfig",
    "OrganisationConfig",
    "RulesConfig",
    "UnauthorizedExfiltrationConfig",
]

# Ceilings far above any real limit (ten billion in major units) keep a typo from switching a limit off
# and keep every amount an integer that SQLite and JSON readers hold exactly.
MAX_CENTS = 10**12
MAX_COUNT = 10**9
Cents = Annotated[
    int, Field(ge=0, le=MAX_CENTS, description="an amount in minor units (cents); 0 to 1,000,000,000,000")
]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT, description="a number of transfers; 0 to 1,000,000,000")]
Names = tuple[str, ...]


def _lowered(values: Names) -> Names:
    # Domains and hosts compare case-insensitively and without a trailing root dot.
    return tuple(value.strip().lower().rstrip(".") for value in values if value.strip())


LowerNames = Annotated[Names, AfterValidator(_lowered)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _RuleSection(_Section):
    rule: ClassVar[str]

    mode: Mode = Field(
        default=Mode.ENFORCE,
        description="enforce denies (confirm clauses ask), confirm asks a person, log allows with a log entry, "
        "off skips the rule",
    )
    clauses: dict[str, Mode] = Field(
        default_factory=dict, description="a mode for single clauses, overriding the rule's mode"
    )

    @field_validator("clauses")
    @classmethod
    def _known_clauses(cls, clauses: dict[str, Mode]) -> dict[str, Mode]:
        known = clause_names(cls.rule)
        unknown = sorted(name for name in clauses if name not in known)
        if unknown:
            raise ValueError(f"unknown clause {unknown[0]!r} of {cls.rule}; its clauses are {', '.join(known)}")
        return clauses

    def clause_mode(self, clause: str) -> Mode:
        """The mode of a finding of `<rule>.<clause>` under this section."""
        return effective_mode(self.mode, self.clauses.get(clause.partition(".")[2]), clause)

    @property
    def runs(self) -> bool:
        """False when the rule is off and no clause of it is turned on by itself."""
        return self.mode is not Mode.OFF or any(mode is not Mode.OFF for mode in self.clauses.values())


class OrganisationConfig(_Section):
    """What the organisation trusts: sends to its own domains and hosts are internal."""

    email_domains: LowerNames = Field(default=(), description="own email domains; subdomains included")
    internal_hosts: LowerNames = Field(default=(), description="own host names or domains; subdomains included")
    known_payees: Names = Field(default=(), description="recipients of payments that are never 'new'")
    own_accounts: Names = Field(
        default=(),
        description="the user's own accounts (IBANs, account numbers or names): money moved between them "
        "is no drain, so no payment limit applies to it",
    )
    known_recipients: LowerNames = Field(
        default=(), description="outside addresses that count as internal destinations"
    )
    chat_workspaces: LowerNames = Field(
        default=(),
        description="own chat workspaces: Slack team ids (T0123ABCD) or domains (acme.slack.com), "
        "or the names of upstreams that are the organisation's own chat",
    )


class FinancialDrainConfig(_RuleSection):
    """Money-moving calls: per-call, first-payment and hour/day/week velocity limits per account."""

    rule = "financial_drain"

    per_call_limit_cents: Cents = 100_000
    # Far beyond any ordinary payment: denied whoever the payee, where the limits above only ask a person.
    hard_limit_cents: Cents = 1_000_000
    new_recipient_limit_cents: Cents = 50_000
    hour_limit_cents: Cents = 200_000
    day_limit_cents: Cents = 500_000
    week_limit_cents: Cents = 1_500_000
    hour_count_limit: Count = 10
    day_count_limit: Count = 30
    week_count_limit: Count = 100
    deny_recurring_recipient_change: bool = True

    @model_validator(mode="after")
    def _windows_nest(self) -> FinancialDrainConfig:
        if not self.hour_limit_cents <= self.day_limit_cents <= self.week_limit_cents:
            raise ValueError("hour_limit_cents <= day_limit_cents <= week_limit_cents must hold")
        if not self.hour_count_limit <= self.day_count_limit <= self.week_count_limit:
            raise ValueError("hour_count_limit <= day_count_limit <= week_count_limit must hold")
        return self

    def limits(self) -> dict[str, int]:
        """The mapping `SessionLedger.reserve_transfer` expects."""
        return {
            "hour_cents": self.hour_limit_cents,
            "day_cents": self.day_limit_cents,
            "week_cents": self.week_limit_cents,
            "hour_count": self.hour_count_limit,
            "day_count": self.day_count_limit,
            "week_count": self.week_count_limit,
        }


class CredentialAccessConfig(_RuleSection):
    """Reads, copies, archives and searches of credential material, and commands that print it."""

    rule = "credential_access"

    allowed_paths: Names = Field(
        default=(), description="glob patterns of paths that may be read (after normalisation)"
    )
    allowed_commands: Names = Field(default=(), description="glob patterns of whole commands that may run")


class IdentityEscalationConfig(_RuleSection):
    """Password, MFA, role, ownership, invite and key changes."""

    rule = "identity_escalation"

    allowed_roles: LowerNames = Field(default=(), description="roles that may be granted even if they look privileged")


class MassDestructionConfig(_RuleSection):
    """Destructive shell, SQL and bulk deletes."""

    rule = "mass_destruction"

    bulk_delete_threshold: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 25
    many_items_threshold: Annotated[
        int, Field(ge=1, le=MAX_COUNT, description="a delete listing more items than this asks a person first")
    ] = 10
    allowed_paths: Names = Field(default=(), description="glob patterns of paths that may be deleted recursively")
    allowed_commands: Names = Field(default=(), description="glob patterns of whole commands that may run")


class LateralPivotConfig(_RuleSection):
    """Cloud metadata, cluster and container management endpoints, and /etc."""

    rule = "lateral_pivot"

    allowed_hosts: LowerNames = Field(default=(), description="hosts that may be reached even on management ports")
    allowed_paths: Names = Field(
        default=("/etc/os-release", "/etc/lsb-release", "/etc/timezone", "/etc/localtime", "/etc/hostname"),
        description="glob patterns of paths under /etc that may be read or written",
    )


class UnauthorizedExfiltrationConfig(_RuleSection):
    """What a session read leaving for the outside, sends to exfiltration endpoints, and secrets going out."""

    rule = "unauthorized_exfiltration"

    allowed_hosts: LowerNames = Field(default=(), description="outside hosts that count as internal destinations")
    extra_exfiltration_hosts: LowerNames = Field(
        default=(), description="hosts denied like request catchers, subdomains too"
    )
    scan_secrets: bool = True


# The proxy's home, the user-level MCP config of every client the proxy can wrap, and its executable.
# The proxy adds the exact paths of its home, the configs it wrapped and its executable when it
# embeds the server (`runtime_paths`); these defaults protect a self-hosted server's users too.
DEFAULT_PROTECTED_PATHS: Names = (
    "~/.inherence-proxy",
    "~/library/application support/claude/claude_desktop_config.json",
    "~/.config/claude/claude_desktop_config.json",
    "~/appdata/roaming/claude/claude_desktop_config.json",
    "~/.cursor/mcp.json",
    "~/.codeium/windsurf/mcp_config.json",
    "~/.claude.json",
    "~/.claude/settings.json",
    "~/.codex/config.toml",
    "~/.continue/config.json",
    "~/.continue/config.yaml",
    "~/.continue/mcpservers",
    "~/.gemini/settings.json",
    "~/.config/zed/settings.json",
    "~/library/application support/code/user/mcp.json",
    "~/.config/code/user/mcp.json",
    "~/appdata/roaming/code/user/mcp.json",
    "*/cline_mcp_settings.json",
    "~/appdata/roaming/zed/settings.json",
    "*/code - insiders/user/mcp.json",
    "*/vscodium/user/mcp.json",
    "~/.local/bin/inherence-proxy",
    "~/.local/share/uv/tools/inherence-proxy",
    "~/.local/pipx/venvs/inherence-proxy",
    "*/bin/inherence-proxy",
    "*/bin/inherence-proxy.exe",
    "*/bin/inherence-policy-server",
    # The installed code itself: patched, the gate checks nothing.
    "*/site-packages/inherence_proxy",
    "*/site-packages/inherence_proxy_core",
    "*/site-packages/inherence_policy_server",
    "*/site-packages/inherence_policy_client",
    "*/site-packages/inherence_client_adapters",
)


class GateIntegrityConfig(_RuleSection):
    """The gate's own files, wrapped client configs and executable: no tool call may change them."""

    rule = "gate_integrity"

    protected_paths: Names = Field(
        default=DEFAULT_PROTECTED_PATHS,
        description="glob patterns of files and folders (and everything under them) no tool may change",
    )
    runtime_paths: Names = Field(
        default=(),
        exclude=True,
        description="paths the embedding proxy protects besides: its home, wrapped configs, executable",
    )

    @model_validator(mode="after")
    def _no_confirm(self) -> GateIntegrityConfig:
        if self.mode is Mode.CONFIRM or Mode.CONFIRM in self.clauses.values():
            raise ValueError("gate_integrity has no confirm mode: the agent it guards cannot be asked to approve it")
        return self


class ConfirmationConfig(_Section):
    """How long a person has to grant a call the policy asked about."""

    approval_ttl_seconds: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] = Field(
        default=600, description="seconds a pending or granted approval stays good; 1 to 604800"
    )


class RulesConfig(_Section):
    """The whole configuration of the six rules (one table per rule, `[organisation]`, `[confirmation]`, `[packs]`)."""

    organisation: OrganisationConfig = OrganisationConfig()
    confirmation: ConfirmationConfig = ConfirmationConfig()
    financial_drain: FinancialDrainConfig = FinancialDrainConfig()
    credential_access: CredentialAccessConfig = CredentialAccessConfig()
    identity_escalation: IdentityEscalationConfig = IdentityEscalationConfig()
    mass_destruction: MassDestructionConfig = MassDestructionConfig()
    lateral_pivot: LateralPivotConfig = LateralPivotConfig()
    unauthorized_exfiltration: UnauthorizedExfiltrationConfig = UnauthorizedExfiltrationConfig()
    gate_integrity: GateIntegrityConfig = GateIntegrityConfig()
    packs: PacksConfig = PacksConfig()

    def section_of(self, rule: str) -> _RuleSection:
        section = getattr(self, rule)
        assert isinstance(section, _RuleSection)
        return section

    def mode_of(self, rule: str) -> Mode:
        return self.section_of(rule).mode

    def clause_mode(self, clause: str) -> Mode:
        """The mode of a finding of `<rule>.<clause>`; enforce for a clause of no configured rule."""
        rule = clause.partition(".")[0]
        return self.section_of(rule).clause_mode(clause) if rule in RULE_NAMES else Mode.ENFORCE

    def describe(self) -> str:
        """The effective rules, modes, clause modes and thresholds, one setting a line, for `rules show`."""
        lines: list[str] = []
        for name in RULE_NAMES:
            section = self.section_of(name)
            lines.append(f"{name}: {section.mode.value}")
            lines.extend(_setting_lines(section, skip={"mode", "clauses"}))
            for clause in clause_names(name):
                mode = section.clause_mode(f"{name}.{clause}").value
                origin = "  # set for this clause" if clause in section.clauses else ""
                lines.append(f"  clause {clause} = {mode}{origin}")
        lines.append("organisation:")
        lines.extend(_setting_lines(self.organisation, skip=set()))
        lines.append("confirmation:")
        lines.extend(_setting_lines(self.confirmation, skip=set()))
        lines.append("packs:")
        lines.extend(self.packs.describe())
        return "\n".join(lines)


def _setting_lines(section: BaseModel, skip: set[str]) -> list[str]:
    lines = []
    for field_name, field in type(section).model_fields.items():
        if field_name in skip:
            continue
        value = getattr(section, field_name)
        shown = ", ".join(value) if isinstance(value, tuple) else str(value)
        help_text = f"  # {field.description}" if field.description else ""
        lines.append(f"  {field_name} = {shown or '(none)'}{help_text}")
    return lines


RULE_NAMES: tuple[str, ...] = (
    "financial_drain",
    "credential_access",
    "identity_escalation",
    "mass_destruction",
    "lateral_pivot",
    "unauthorized_exfiltration",
    "gate_integrity",
)
