"""Dangerous endpoints of payment, identity, source-hosting and data-store APIs, kept as data.

A call that reaches one of these through a generic HTTP tool or a CLI (curl, httpie, `gh
api`, the Stripe CLI) is judged like the dedicated tool that does the same thing. Each
provider lists its API hosts, the words that name it in a tool or upstream name, and its
endpoints as (id, method, path pattern, clause, conditions on the body). A path pattern is
matched segment by segment, case-folded: `{id}` is one segment, `{many}` one naming many things
(a wildcard, a comma list, `_all`), a trailing `/**` any rest.
Reading methods (GET, HEAD) are never listed: reads stay allowed. The writing methods POST, PUT
and PATCH stand for each other (a server that refuses the wrong one does no harm, a policy that
looks for one misses the others); `*` is any method, for RPC-style APIs whose path names the
action and that take GET as well (Slack's Web API).

Financial entries name the clause reported when the amount cannot be read; otherwise the
financial rule applies its per-call, new-recipient and velocity limits to the amount.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable, Mapping

from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._http_clients import command_requests, quoted_requests
from inherence_policy_server.rules._http_requests import HttpRequest, call_requests
from inherence_policy_server.rules._pack_views import ApiResource, pack_views
from inherence_policy_server.rules._packs import PacksConfig

__all__ = [
    "ANY_PROVIDER",
    "PROVIDERS",
    "ApiEndpoint",
    "ApiMatch",
    "ApiProvider",
    "api_matches",
    "call_http_requests",
    "match_endpoints",
    "match_resources",
    "use_resources",
]

Entry = tuple[str, str, str, str] | tuple[str, str, str, str, Mapping[str, str]]

_PAYMENT = "financial_drain.api_money_movement"
_REFUND = "financial_drain.api_refund"
_PAYEE = "financial_drain.new_recipient"
_PUBLIC = "identity_escalation.public_share"
# An admin API resets or enrols factors of any user it names: not a person changing their own MFA.
_MFA = "identity_escalation.admin_mfa_change"
_PASSWORD = "identity_escalation.password_reset"
_ADMIN = "identity_escalation.admin_grant"
# A role named only by an opaque id (Auth0's `rol_...`): it may be a viewer's or an owner's; a person tells.
_ROLE = "identity_escalation.role_grant"
_OWNER = "identity_escalation.ownership_transfer"
_INVITE = "identity_escalation.outside_invite"
_KEY = "identity_escalation.new_ssh_key"
_DELETE = "mass_destruction.repository_delete"
_SECRET = "credential_access.api_secret_read"
# A data store emptied in one call (every vector, a hundred tickets); a delete by query may reach any number.
_STORE_ALL = "mass_destruction.api_delete_all"
_STORE_QUERY = "mass_destruction.api_bulk_delete"
_MANY_IDS = r"(?:\s*[\w-]+\s*,){24,}.*"

# provider id: (API hosts, naming words, path prefixes, amounts in minor units, endpoints)
_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], bool, tuple[Entry, ...]]] = {
    "stripe": (("api.stripe.com",), ("stripe",), ("",), True, (
        ("stripe.transfers.create", "POST", "/v1/transfers", _PAYMENT),
        ("stripe.payouts.create", "POST", "/v1/payouts", _PAYMENT),
        ("stripe.charges.create", "POST", "/v1/charges", _PAYMENT),
        ("stripe.charges.capture", "POST", "/v1/charges/{id}/capture", _PAYMENT),
        ("stripe.payment_intents.create_confirmed", "POST", "/v1/payment_intents", _PAYMENT,
         {"confirm": r"true|1|yes"}),
        ("stripe.payment_intents.confirm", "POST", "/v1/payment_intents/{id}/confirm", _PAYMENT),
        ("stripe.payment_intents.capture", "POST", "/v1/payment_intents/{id}/capture", _PAYMENT),
        ("stripe.topups.create", "POST", "/v1/topups", _PAYMENT),
        ("stripe.treasury.outbound_payments", "POST", "/v1/treasury/outbound_payments", _PAYMENT),
        ("stripe.treasury.outbound_transfers", "POST", "/v1/treasury/outbound_transfers", _PAYMENT),
        ("stripe.invoices.pay", "POST", "/v1/invoices/{id}/pay", _PAYMENT),
        ("stripe.refunds.create", "POST", "/v1/refunds", _REFUND),
        # A bank account or card attached to the account: payouts can then go to it.
        ("stripe.external_accounts.create", "POST", "/v1/accounts/{id}/external_accounts", _PAYEE),
        ("stripe.accounts.external_account", "POST", "/v1/accounts/{id}", _PAYEE, {"external_account": r".+"}),
        ("stripe.charges.refund", "POST", "/v1/charges/{id}/refund", _REFUND),
    )),
    "paypal": (("api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"),
               ("paypal",), ("",), False, (
        ("paypal.payouts.create", "POST", "/v1/payments/payouts", _PAYMENT),
        ("paypal.orders.capture", "POST", "/v2/checkout/orders/{id}/capture", _PAYMENT),
        ("paypal.authorizations.capture", "POST", "/v2/payments/authorizations/{id}/capture", _PAYMENT),
        ("paypal.payments.create", "POST", "/v1/payments/payment", _PAYMENT),
        ("paypal.captures.refund", "POST", "/v2/payments/captures/{id}/refund", _REFUND),
    )),
    "wise": (("api.wise.com", "api.transferwise.com", "api.sandbox.transferwise.tech"), ("wise", "transferwise"),
             ("",), False, (
        ("wise.transfers.create", "POST", "/v1/transfers", _PAYMENT),
        ("wise.transfers.fund", "POST", "/v3/profiles/{id}/transfers/{id}/payments", _PAYMENT),
        ("wise.batch_groups.fund", "POST", "/v3/profiles/{id}/batch-payments/{id}/payments", _PAYMENT),
    )),
    "bank": (("api.mercury.com", "api.dwolla.com", "production.plaid.com", "development.plaid.com",
              "b2b.revolut.com", "api.coinbase.com"),
             ("mercury", "dwolla", "plaid", "revolut", "coinbase"), ("",), False, (
        ("mercury.transactions.create", "POST", "/api/v1/account/{id}/transactions", _PAYMENT),
        ("dwolla.transfers.create", "POST", "/transfers", _PAYMENT),
        ("plaid.transfer.create", "POST", "/transfer/create", _PAYMENT),
        ("revolut.pay", "POST", "/api/1.0/pay", _PAYMENT),
        ("revolut.transfer", "POST", "/api/1.0/transfer", _PAYMENT),
        ("coinbase.transactions.send", "POST", "/v2/accounts/{id}/transactions", _PAYMENT),
    )),
    "bank_minor_units": (("platform.brexapis.com", "app.moderntreasury.com", "connect.squareup.com",
                          "api.increase.com", "api.column.com"),
                         ("brex", "moderntreasury", "square", "increase", "column"), ("",), True, (
        ("brex.transfers.create", "POST", "/v1/transfers", _PAYMENT),
        ("moderntreasury.payment_orders.create", "POST", "/api/payment_orders", _PAYMENT),
        ("square.payments.create", "POST", "/v2/payments", _PAYMENT),
        ("square.refunds.create", "POST", "/v2/refunds", _REFUND),
        ("increase.ach_transfers.create", "POST", "/ach_transfers", _PAYMENT),
        ("increase.wire_transfers.create", "POST", "/wire_transfers", _PAYMENT),
        ("column.transfers.create", "POST", "/transfers/**", _PAYMENT),
    )),
    "okta": (("*.okta.com", "*.oktapreview.com", "*.okta-emea.com", "*.okta-gov.com"), ("okta",), ("",), False, (
        ("okta.users.reset_factors", "POST", "/api/v1/users/{id}/lifecycle/reset_factors", _MFA),
        ("okta.users.factors.delete", "DELETE", "/api/v1/users/{id}/factors/**", _MFA),
        ("okta.users.factors.enroll", "POST", "/api/v1/users/{id}/factors", _MFA),
        ("okta.users.reset_password", "POST", "/api/v1/users/{id}/lifecycle/reset_password", _PASSWORD),
        ("okta.users.expire_password", "POST", "/api/v1/users/{id}/lifecycle/expire_password**", _PASSWORD),
        ("okta.users.change_password", "POST", "/api/v1/users/{id}/credentials/change_password", _PASSWORD),
        ("okta.users.roles.assign", "POST", "/api/v1/users/{id}/roles", _ADMIN),
        ("okta.groups.roles.assign", "POST", "/api/v1/groups/{id}/roles", _ADMIN),
        ("okta.groups.users.add", "PUT", "/api/v1/groups/{id}/users/{id}", _ROLE),
        ("okta.policies.rules.no_factor", "PUT", "/api/v1/policies/{id}/rules/{id}", _MFA,
         {"requirefactor": r"false|0"}),
    )),
    "auth0": (("*.auth0.com",), ("auth0",), ("",), False, (
        ("auth0.guardian.enrollments.delete", "DELETE", "/api/v2/guardian/enrollments/{id}", _MFA),
        ("auth0.users.multifactor.delete", "DELETE", "/api/v2/users/{id}/multifactor/{id}", _MFA),
        ("auth0.users.multifactor.invalidate", "POST", "/api/v2/users/{id}/multifactor/actions/**", _MFA),
        ("auth0.users.authenticators.delete", "DELETE", "/api/v2/users/{id}/authenticators", _MFA),
        ("auth0.users.authentication_methods.delete", "DELETE", "/api/v2/users/{id}/authentication-methods**", _MFA),
        ("auth0.users.recovery_code", "POST", "/api/v2/users/{id}/recovery-code-regeneration", _MFA),
        ("auth0.tickets.password_change", "POST", "/api/v2/tickets/password-change", _PASSWORD),
        ("auth0.users.password", "PATCH", "/api/v2/users/{id}", _PASSWORD, {"password": r".+"}),
        # The address a user's resets go to, changed by an admin API: the account is whoever reads that mail.
        ("auth0.users.email", "PATCH", "/api/v2/users/{id}", _MFA, {"email": r".+"}),
        ("auth0.users.phone", "PATCH", "/api/v2/users/{id}", _MFA, {"phone_number": r".+"}),
        ("auth0.users.roles.assign", "POST", "/api/v2/users/{id}/roles", _ROLE),
        ("auth0.roles.users.assign", "POST", "/api/v2/roles/{id}/users", _ROLE),
    )),
    "microsoft": (("graph.microsoft.com",), ("graph", "microsoft", "entra", "azuread"), ("/v1.0", "/beta"), False, (
        ("graph.authentication.methods.delete", "DELETE", "/users/{id}/authentication/{id}/{id}", _MFA),
        ("graph.authentication.methods.add", "POST", "/users/{id}/authentication/{id}", _MFA),
        ("graph.authentication.reset_password", "POST",
         "/users/{id}/authentication/methods/{id}/resetpassword", _PASSWORD),
        ("graph.users.password_profile", "PATCH", "/users/{id}", _PASSWORD, {"password": r".+"}),
        ("graph.directory_roles.members.add", "POST", "/directoryroles/{id}/members/**", _ADMIN),
        ("graph.role_assignments.create", "POST", "/rolemanagement/directory/roleassignments", _ADMIN),
        ("graph.app_role_assignments.create", "POST", "/serviceprincipals/{id}/approleassignedto", _ADMIN),
        ("graph.app_role_assignments.user", "POST", "/users/{id}/approleassignments", _ROLE),
        # Consent for every user of the tenant at once is an administrator's grant; one user's is a role.
        ("graph.oauth2_grants.tenant_wide", "POST", "/oauth2permissiongrants", _ADMIN,
         {"consenttype": r"allprincipals"}),
        ("graph.oauth2_grants.create", "POST", "/oauth2permissiongrants", _ROLE),
    )),
    "google": (("admin.googleapis.com", "www.googleapis.com"), ("google", "gsuite", "workspace"), ("",), False, (
        ("google.users.make_admin", "POST", "/admin/directory/v1/users/{id}/makeadmin", _ADMIN),
        ("google.users.2sv.turn_off", "POST", "/admin/directory/v1/users/{id}/twostepverification/turnoff", _MFA),
        ("google.users.verification_codes", "POST", "/admin/directory/v1/users/{id}/verificationcodes/**", _MFA),
        ("google.users.password", "PUT", "/admin/directory/v1/users/{id}", _PASSWORD, {"password": r".+"}),
        ("google.users.password_patch", "PATCH", "/admin/directory/v1/users/{id}", _PASSWORD, {"password": r".+"}),
        ("google.role_assignments.create", "POST", "/admin/directory/v1/customer/{id}/roleassignments", _ADMIN),
        # Drive: the trash emptied deletes every trashed file for good.
        ("google.drive.empty_trash", "DELETE", "/drive/v3/files/trash", _STORE_ALL),
        ("google.drive.empty_trash_v2", "DELETE", "/drive/v2/files/trash", _STORE_ALL),
    )),
    "slack": (("slack.com", "*.slack.com"), ("slack",), ("/api",), False, (
        ("slack.admin.users.set_owner", "*", "/admin.users.setowner", _ADMIN),
        ("slack.admin.users.set_admin", "*", "/admin.users.setadmin", _ADMIN),
        ("slack.admin.users.invite", "*", "/admin.users.invite", _INVITE),
        ("slack.admin.users.assign", "*", "/admin.users.assign", _INVITE),
        ("slack.admin.users.reset_session", "*", "/admin.users.session.reset", _MFA),
        # A private file given a link anyone on the internet can open.
        ("slack.files.shared_public_url", "*", "/files.sharedpublicurl", _PUBLIC),
    )),
    "github": (("api.github.com",), ("github", "gh"), ("", "/api/v3"), False, (
        ("github.orgs.memberships.admin", "PUT", "/orgs/{id}/memberships/{id}", _ADMIN, {"role": r"admin"}),
        ("github.teams.memberships.maintainer", "PUT", "/orgs/{id}/teams/{id}/memberships/{id}", _ADMIN,
         {"role": r"maintainer"}),
        ("github.teams.legacy_memberships.maintainer", "PUT", "/teams/{id}/memberships/{id}", _ADMIN,
         {"role": r"maintainer"}),
        ("github.collaborators.admin", "PUT", "/repos/{id}/{id}/collaborators/{id}", _ADMIN,
         {"permission": r"admin|maintain"}),
        ("github.collaborators.add", "PUT", "/repos/{id}/{id}/collaborators/{id}", _INVITE),
        ("github.repos.transfer", "POST", "/repos/{id}/{id}/transfer", _OWNER),
        ("github.repos.keys.create", "POST", "/repos/{id}/{id}/keys", _KEY),
        ("github.user.keys.create", "POST", "/user/keys", _KEY),
        ("github.repos.delete", "DELETE", "/repos/{id}/{id}", _DELETE),
        ("github.orgs.delete", "DELETE", "/orgs/{id}", _DELETE),
        ("github.app.installation_token", "POST", "/app/installations/{id}/access_tokens", _SECRET),
        ("github.graphql.delete_repository", "POST", "/graphql", _DELETE, {"query": r".*\bdeleteRepository\b.*"}),
    )),
    "gitlab": (("gitlab.com",), ("gitlab", "glab"), ("/api/v4",), False, (
        ("gitlab.projects.members.owner", "POST", "/projects/{id}/members**", _ADMIN, {"access_level": r"40|50"}),
        ("gitlab.projects.members.owner_update", "PUT", "/projects/{id}/members/**", _ADMIN,
         {"access_level": r"40|50"}),
        ("gitlab.groups.members.owner", "POST", "/groups/{id}/members**", _ADMIN, {"access_level": r"40|50"}),
        ("gitlab.groups.members.owner_update", "PUT", "/groups/{id}/members/**", _ADMIN, {"access_level": r"40|50"}),
        ("gitlab.users.admin", "PUT", "/users/{id}", _ADMIN, {"admin": r"true|1"}),
        ("gitlab.projects.transfer", "PUT", "/projects/{id}/transfer", _OWNER),
        ("gitlab.projects.delete", "DELETE", "/projects/{id}", _DELETE),
        ("gitlab.groups.delete", "DELETE", "/groups/{id}", _DELETE),
        ("gitlab.projects.deploy_keys.create", "POST", "/projects/{id}/deploy_keys", _KEY),
        # CI/CD variables come back with their values, masked ones included.
        ("gitlab.projects.variables.read", "GET", "/projects/{id}/variables**", _SECRET),
        ("gitlab.groups.variables.read", "GET", "/groups/{id}/variables**", _SECRET),
        ("gitlab.admin.ci.variables.read", "GET", "/admin/ci/variables**", _SECRET),
    )),
    "gitea": (("codeberg.org", "gitea.com"), ("gitea", "forgejo", "gogs", "codeberg"), ("/api/v1",), False, (
        ("gitea.repos.delete", "DELETE", "/repos/{id}/{id}", _DELETE),
        ("gitea.orgs.delete", "DELETE", "/orgs/{id}", _DELETE),
        ("gitea.repos.transfer", "POST", "/repos/{id}/{id}/transfer", _OWNER),
        ("gitea.collaborators.admin", "PUT", "/repos/{id}/{id}/collaborators/{id}", _ADMIN, {"permission": r"admin"}),
    )),
    "bitbucket": (("api.bitbucket.org",), ("bitbucket",), ("/2.0",), False, (
        ("bitbucket.repositories.delete", "DELETE", "/repositories/{id}/{id}", _DELETE),
    )),
    "pinecone": (("*.pinecone.io",), ("pinecone",), ("",), False, (
        ("pinecone.vectors.delete_all", "POST", "/vectors/delete", _STORE_ALL, {"deleteall": r"true"}),
        ("pinecone.indexes.delete", "DELETE", "/indexes/{id}", _STORE_ALL),
    )),
    "zendesk": (("*.zendesk.com",), ("zendesk",), ("/api/v2",), False, (
        ("zendesk.tickets.destroy_many", "DELETE", "/tickets/destroy_many.json", _STORE_ALL, {"ids": _MANY_IDS}),
        ("zendesk.users.destroy_many", "DELETE", "/users/destroy_many.json", _STORE_ALL, {"ids": _MANY_IDS}),
    )),
    "hubspot": (("api.hubapi.com",), ("hubspot",), ("",), False, (
        ("hubspot.objects.batch_archive", "POST", "/crm/v3/objects/{id}/batch/archive", _STORE_QUERY),
    )),
    "elasticsearch": (("*.es.io", "*.elastic-cloud.com", "*.found.io"), ("elasticsearch", "opensearch"), ("",),
                      False, (
        ("elasticsearch.delete_by_query", "POST", "/{id}/_delete_by_query", _STORE_QUERY),
        ("elasticsearch.indices.delete_many", "DELETE", "/{many}", _STORE_ALL),
        ("elasticsearch.data_streams.delete_many", "DELETE", "/_data_stream/{many}", _STORE_ALL),
    )),
    "kubernetes": ((), ("kubernetes", "k8s", "kube"), ("",), False, (
        ("kubernetes.secrets.read", "GET", "/api/v1/namespaces/{id}/secrets**", _SECRET),
        ("kubernetes.secrets.read_all", "GET", "/api/v1/secrets", _SECRET),
    )),
    "vault": (("vault", "vault.*", "*.vault.*", "*vault*"), ("vault",), ("",), False, (
        ("vault.kv2.read", "GET", "/v1/{id}/data/**", _SECRET),
        ("vault.kv1.read", "GET", "/v1/secret/**", _SECRET),
        # Dynamic credentials: a database's, a cloud's, minted on read.
        ("vault.creds.read", "GET", "/v1/{id}/creds/**", _SECRET),
        ("vault.token.create", "POST", "/v1/auth/token/create**", _SECRET),
    )),
    "azure_key_vault": (("*.vault.azure.net", "*.vault.azure.cn", "*.vault.usgovcloudapi.net",
                         "*.managedhsm.azure.net"), ("keyvault",), ("",), False, (
        ("azure.keyvault.secret.read", "GET", "/secrets/{id}/**", _SECRET),
        ("azure.keyvault.secrets.deleted", "GET", "/deletedsecrets/{id}/**", _SECRET),
    )),
}  # fmt: skip
# Providers also run on hosts of their own; there a path must start with one of these to count.
_ANY_HOST: dict[str, tuple[str, ...]] = {
    "github": ("/api/v3/",),
    "gitlab": ("/api/v4/",),
    "gitea": ("/api/v1/repos/", "/api/v1/orgs/"),
    "kubernetes": ("/api/v1/",),
    "elasticsearch": ("/",),
}


@dataclasses.dataclass(frozen=True)
class ApiEndpoint:
    """One dangerous endpoint: `clause` is `<rule>.<clause>`; `when` are regexes over body field values."""

    id: str
    provider: str
    method: str
    pattern: str
    clause: str
    when: tuple[tuple[str, re.Pattern[str]], ...]
    path: re.Pattern[str]

    @property
    def rule(self) -> str:
        return self.clause.split(".", 1)[0]


@dataclasses.dataclass(frozen=True)
class ApiProvider:
    id: str
    hosts: tuple[str, ...]
    words: frozenset[str]
    minor_units: bool
    endpoints: tuple[ApiEndpoint, ...]


# `{id}` is any one segment; `{many}` one that names many things at once: a wildcard, a list, `_all`.
_SEGMENTS = {"{id}": "[^/]+", "{many}": r"(?:[^/]*(?:\*|%2a|,|%2c)[^/]*|_all)"}


def _compile_path(prefixes: tuple[str, ...], pattern: str) -> re.Pattern[str]:
    parts = []
    for segment in pattern.strip("/").split("/"):
        if segment == "**":
            parts.append(r"(?:/.*)?")
        elif segment.endswith("**"):
            parts.append("/" + re.escape(segment[:-2]) + r"(?:/.*)?")
        else:
            parts.append("/" + _SEGMENTS.get(segment, re.escape(segment)))
    prefix = "|".join(re.escape(item) for item in prefixes)
    return re.compile(rf"^(?:{prefix}){''.join(parts)}/?$")


def _provider(name: str) -> ApiProvider:
    hosts, words, prefixes, minor, entries = _TABLES[name]
    endpoints = []
    for entry in entries:
        identifier, method, pattern, clause = entry[:4]
        when: Mapping[str, str] = entry[4] if len(entry) == 5 else {}
        conditions = tuple(
            (key, re.compile(rf"^(?:{regex})$", re.IGNORECASE | re.DOTALL)) for key, regex in when.items()
        )
        endpoints.append(
            ApiEndpoint(identifier, name, method, pattern, clause, conditions, _compile_path(prefixes, pattern))
        )
    return ApiProvider(name, hosts, frozenset(words), minor, tuple(endpoints))


PROVIDERS: tuple[ApiProvider, ...] = tuple(_provider(name) for name in _TABLES)


def providers_for(host: str | None, words: Iterable[str]) -> list[tuple[ApiProvider, bool]]:
    """Providers a request may reach, by its host or, when it has none, by the words naming the tool.

    The flag says the provider was only guessed from the path's shape on a host of its own
    (GitHub Enterprise, a self-managed GitLab, a cluster's API server, a Vault server).
    """
    if host:
        named = [(provider, False) for provider in PROVIDERS if _host_matches(host, provider.hosts)]
        return named or [(provider, True) for provider in PROVIDERS if provider.id in _ANY_HOST]
    wanted = set(words)
    return [(provider, False) for provider in PROVIDERS if provider.words & wanted]


_WRITING = frozenset({"POST", "PUT", "PATCH"})


def _method_matches(listed: str, method: str) -> bool:
    return listed in ("*", method) or (listed in _WRITING and method in _WRITING)


def _host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(host, pattern) for pattern in patterns)


def match_endpoints(
    method: str, host: str | None, path: str, fields: Iterable[tuple[str, str]], words: Iterable[str]
) -> list[tuple[ApiProvider, ApiEndpoint]]:
    """Every listed endpoint a request reaches; `fields` are (leaf key, value) of its body and query, folded."""
    folded_path = re.sub(r"/{2,}", "/", "/" + path.strip().casefold().lstrip("/"))
    values: dict[str, list[str]] = {}
    for key, value in fields:
        values.setdefault(key.casefold(), []).append(value.strip())
    found = []
    for provider, guessed in providers_for(host, words):
        prefixes = _ANY_HOST.get(provider.id, ())
        if guessed and prefixes and not folded_path.startswith(prefixes):
            continue
        for endpoint in provider.endpoints:
            if not _method_matches(endpoint.method, method.upper()) or not endpoint.path.match(folded_path):
                continue
            if all(any(regex.match(value) for value in values.get(key, ())) for key, regex in endpoint.when):
                found.append((provider, endpoint))
    return found


@dataclasses.dataclass(frozen=True)
class ApiMatch:
    """A request of the call that reaches a listed endpoint."""

    provider: ApiProvider
    endpoint: ApiEndpoint
    request: HttpRequest

    def describe(self) -> str:
        where = self.request.host or "its API"
        return f"{self.request.method} {self.request.path[:80]} on {where} ({self.endpoint.id})"


_NAME_WORD = re.compile(r"[a-z0-9]+")


def api_matches(analysis: CallAnalysis, rule: str) -> list[ApiMatch]:
    """The call's requests (tool arguments and command lines) that reach an endpoint of `rule`."""
    matches = analysis.memo("api_matches", lambda: _all_matches(analysis))
    # Asked by several rules per call, and most calls reach no endpoint at all.
    return [match for match in matches if match.endpoint.rule == rule] if matches else []


def call_http_requests(analysis: CallAnalysis) -> list[HttpRequest]:
    """The HTTP requests a call makes, from its arguments and its command lines (read once per call)."""
    return analysis.memo("http_requests", lambda: _requests(analysis))


def _requests(analysis: CallAnalysis) -> list[HttpRequest]:
    requests = call_requests(analysis.call.arguments)
    for command in analysis.shell.commands:
        requests.extend(command_requests(command))
    if analysis.shell.commands:
        requests.extend(quoted_requests(analysis.command_texts))
    return requests


# What any API does, read from the resource its path names (the `api_resources` pack): for requests
# no provider table lists.
ANY_PROVIDER = ApiProvider("any", (), frozenset(), False, ())
_LOOPBACK = re.compile(r"^(?:localhost|127(?:\.\d{1,3}){3}|\[?::1\]?|0\.0\.0\.0)$")
_EXTENSION = re.compile(r"\.(?:json|xml)$")


def use_resources(analysis: CallAnalysis, packs: PacksConfig) -> None:
    """Judge this call's requests with the `api_resources` of `packs` (the rules config in force)."""
    analysis.memo("api_resources", lambda: pack_views(packs).api_resources)


def match_resources(
    resources: Iterable[ApiResource], method: str, path: str, fields: Iterable[tuple[str, str]]
) -> list[ApiResource]:
    """The resource kinds a request acts on, by its method, the end of its path and its body's keys."""
    folded = re.sub(r"/{2,}", "/", "/" + path.partition("?")[0].strip().casefold().lstrip("/")).replace("-", "_")
    folded = _EXTENSION.sub("", folded.rstrip("/")) or "/"
    keys = {key.casefold() for key, value in fields if value.strip()}
    method = method.upper()
    return [
        resource
        for resource in resources
        if method in resource.methods
        and resource.path.match(folded)
        and (not resource.fields or bool(resource.fields & keys))
    ]


def _resource_matches(analysis: CallAnalysis, request: HttpRequest) -> list[ApiMatch]:
    if request.host and _LOOPBACK.match(request.host):
        return []  # a developer's own service under test
    resources = analysis.memo("api_resources", lambda: pack_views(PacksConfig()).api_resources)
    found = []
    for resource in match_resources(resources, request.method, request.path, request.leaf_fields()):
        endpoint = ApiEndpoint(
            f"any.{resource.id}", ANY_PROVIDER.id, request.method, resource.id, resource.clause, (), resource.path
        )
        found.append(ApiMatch(ANY_PROVIDER, endpoint, request))
    return found


def _all_matches(analysis: CallAnalysis) -> list[ApiMatch]:
    # Read once per call for every rule that asks: the requests are the same whatever the rule.
    call = analysis.call
    requests = call_http_requests(analysis)
    if not requests:
        return []
    naming = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", f"{call.tool_name} {call.upstream or ''}").casefold()
    words = set(_NAME_WORD.findall(naming))
    # One command read two ways gives one request twice: keep the reading with the most fields.
    found: dict[tuple[str, str, str | None, str], ApiMatch] = {}
    for request in requests[:64]:
        listed = [
            ApiMatch(provider, endpoint, request)
            for provider, endpoint in match_endpoints(
                request.method, request.host, request.path, request.leaf_fields(), words
            )
        ]
        # A provider the tables know by its host (or, with no host, by the tool's name) is judged by its table.
        known = request.host is not None and any(not guessed for _, guessed in providers_for(request.host, ()))
        known = known or (request.host is None and bool(providers_for(None, words)))
        for match in listed or ([] if known else _resource_matches(analysis, request)):
            key = (match.endpoint.id, request.method, request.host, request.path)
            if key not in found or len(found[key].request.fields) < len(request.fields):
                found[key] = match
    return list(found.values())
