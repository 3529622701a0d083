import json

from inherence_policy_client import openapi_document
from inherence_policy_client._schema import SCHEMA_PATH, render_openapi_document


def test_committed_openapi_document_is_current() -> None:
    committed = SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == render_openapi_document(), "stale policy-api.openapi.json: run `nox -s schema` and commit"


def test_document_describes_every_hosted_endpoint() -> None:
    document = openapi_document()
    assert set(document["paths"]) == {
        "/api/proxy/auth/verify",
        "/api/proxy/register",
        "/api/proxy/classify",
        "/api/proxy/decide",
        "/api/proxy/outcome",
        "/api/proxy/heartbeat",
        "/api/proxy/health",
    }
    decide = document["paths"]["/api/proxy/decide"]["post"]
    assert decide["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DecideRequest"
    }
    verdicts = document["components"]["schemas"]["Verdict"]["enum"]
    assert verdicts == ["allow", "deny", "allow_with_log", "confirm"]
    outcome = document["paths"]["/api/proxy/outcome"]["post"]
    assert set(outcome["responses"]) == {"202", "401", "403"}
    report = document["components"]["schemas"]["OutcomeReport"]["properties"]
    assert report["content_text"]["maxLength"] == 256 * 1024
    assert "approval_id" in document["components"]["schemas"]["Decision"]["properties"]
    assert "confirmable" in document["components"]["schemas"]["DecideRequest"]["properties"]
    assert "security" not in document["paths"]["/api/proxy/health"]["get"]
    json.dumps(document)
