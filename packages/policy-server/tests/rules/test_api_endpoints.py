"""The endpoint tables as data, and how requests are read from tools and command lines."""

from __future__ import annotations

import pytest

from inherence_policy_server.rules import RULE_NAMES
from inherence_policy_server.rules._api_endpoints import PROVIDERS, match_endpoints
from inherence_policy_server.rules._http_clients import command_requests, quoted_requests
from inherence_policy_server.rules._http_requests import call_requests
from inherence_policy_server.rules._shell import ShellCommand


def test_every_entry_has_a_unique_id_and_names_a_rule_clause() -> None:
    ids = [endpoint.id for provider in PROVIDERS for endpoint in provider.endpoints]
    assert len(ids) == len(set(ids))
    for provider in PROVIDERS:
        for endpoint in provider.endpoints:
            assert endpoint.rule in RULE_NAMES, endpoint.id
            assert endpoint.clause.count(".") == 1, endpoint.id
            # Only credential reads are listed for a reading method: other reads stay allowed.
            if endpoint.method in ("GET", "HEAD"):
                assert endpoint.rule == "credential_access", endpoint.id


@pytest.mark.parametrize(
    ("method", "host", "path", "fields", "expected"),
    [
        ("PUT", "api.github.com", "/orgs/acme/memberships/eve", [("role", "admin")], "github.orgs.memberships.admin"),
        ("PUT", "api.github.com", "/orgs/acme/memberships/eve", [("role", "member")], None),
        ("GET", "api.github.com", "/repos/acme/core", [], None),
        ("DELETE", "api.github.com", "/repos/acme/core", [], "github.repos.delete"),
        ("DELETE", "api.github.com", "/repos/acme/core/labels/x", [], None),
        ("DELETE", "git.acme.internal", "/api/v3/repos/acme/core", [], "github.repos.delete"),
        ("DELETE", "api.example.com", "/repos/acme/core", [], None),
        ("POST", "acme.okta.com", "/api/v1/users/00u1/lifecycle/reset_factors", [], "okta.users.reset_factors"),
        (
            "POST",
            "api.stripe.com",
            "/v1/payment_intents",
            [("confirm", "true")],
            "stripe.payment_intents.create_confirmed",
        ),
        ("POST", "api.stripe.com", "/v1/payment_intents", [], None),
    ],
)
def test_match_endpoints(
    method: str, host: str, path: str, fields: list[tuple[str, str]], expected: str | None
) -> None:
    found = [endpoint.id for _, endpoint in match_endpoints(method, host, path, fields, ())]
    assert found == ([expected] if expected else [])


def test_a_path_without_host_is_placed_by_the_tool_name() -> None:
    assert [e.id for _, e in match_endpoints("DELETE", None, "/repos/a/b", [], {"github", "request"})] == [
        "github.repos.delete"
    ]
    assert match_endpoints("DELETE", None, "/repos/a/b", [], {"http", "request"}) == []


def test_curl_method_follows_its_flags() -> None:
    (get,) = command_requests(ShellCommand(("curl", "-G", "https://api.stripe.com/v1/transfers", "-d", "limit=3")))
    (post,) = command_requests(ShellCommand(("curl", "https://api.stripe.com/v1/transfers", "-d", "amount=5")))
    (put,) = command_requests(ShellCommand(("curl", "-XPUT", "https://h.example/x")))
    assert (get.method, post.method, put.method) == ("GET", "POST", "PUT")
    assert ("limit", "3") in get.fields
    assert ("amount", "5") in post.fields


def test_gh_api_posts_when_given_fields_and_keeps_an_encoded_slash() -> None:
    (request,) = command_requests(ShellCommand(("gh", "api", "orgs/acme/memberships/eve", "-f", "role=admin")))
    assert (request.method, request.host, request.path) == ("POST", "api.github.com", "/orgs/acme/memberships/eve")
    (fetched,) = call_requests({"url": "https://gitlab.com/api/v4/projects/acme%2Fcore", "method": "DELETE"})
    assert fetched.path == "/api/v4/projects/acme%2Fcore"


def test_a_quoted_json_body_keeps_its_structure() -> None:
    (request,) = quoted_requests(
        ['curl -X POST https://api-m.paypal.com/v1/payments/payouts -d \'{"items":[{"amount":{"value":"8.00"}}]}\'']
    )
    assert ("items.0.amount.value", "8.00") in request.fields
