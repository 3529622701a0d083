"""The Policy API as an OpenAPI 3.1 document, generated from the wire models.

The committed copy, `policy-api.openapi.json` beside this module, is what other
implementations read; a test fails when it is stale. Regenerate it with
`nox -s schema`.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from inherence_policy_client import __version__
from inherence_policy_client._models import (
    ClassifyRequest,
    ClassifyResponse,
    DecideRequest,
    Decision,
    Health,
    Heartbeat,
    OutcomeReport,
    RegisterRequest,
    RegisterResponse,
)

__all__ = ["SCHEMA_PATH", "openapi_document", "render_openapi_document", "write_openapi_document"]

SCHEMA_PATH = pathlib.Path(__file__).with_name("policy-api.openapi.json")

# (method, path, summary, request model, answer model, needs the API key, success status)
_ENDPOINTS: tuple[tuple[str, str, str, type[BaseModel] | None, type[BaseModel] | None, bool, str], ...] = (
    (
        "post",
        "/api/proxy/auth/verify",
        "Check the API key; 200 when good, 401/403 when refused",
        None,
        None,
        True,
        "200",
    ),
    (
        "post",
        "/api/proxy/register",
        "Announce the proxy's upstream servers",
        RegisterRequest,
        RegisterResponse,
        True,
        "200",
    ),
    ("post", "/api/proxy/classify", "Categorise a batch of tools", ClassifyRequest, ClassifyResponse, True, "200"),
    (
        "post",
        "/api/proxy/decide",
        "Decide one call before it reaches its upstream",
        DecideRequest,
        Decision,
        True,
        "200",
    ),
    (
        "post",
        "/api/proxy/outcome",
        "What became of a decided call, or the human's answer to a confirm; 404/405 where unsupported",
        OutcomeReport,
        None,
        True,
        "202",
    ),
    ("post", "/api/proxy/heartbeat", "Liveness report of a running proxy, every 60 s", Heartbeat, None, True, "200"),
    ("get", "/api/proxy/health", "Health of a self-hosted policy server", None, Health, False, "200"),
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of every endpoint, built from the wire models."""
    models = sorted(
        {model for endpoint in _ENDPOINTS for model in endpoint[3:5] if model is not None}, key=lambda m: m.__name__
    )
    _, defs = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, Any] = {}
    for method, path, summary, request, answer, keyed, success in _ENDPOINTS:
        operation: dict[str, Any] = {"summary": summary, "operationId": path.rsplit("/", 1)[-1]}
        if method == "post":
            operation["requestBody"] = {
                "required": True,
                **_json_body(_ref(request) if request else {"type": "object"}),
            }
        ok = {"description": "OK" if success == "200" else "Accepted", **(_json_body(_ref(answer)) if answer else {})}
        operation["responses"] = {success: ok}
        if keyed:
            operation["security"] = [{"bearer": []}]
            operation["responses"]["401"] = {"description": "The API key is missing or refused"}
            operation["responses"]["403"] = {"description": "The API key is refused"}
        paths[path] = {method: operation}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Inherence Policy API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "inh_... API key"}},
        },
    }


def render_openapi_document() -> str:
    """The document as the committed file holds it: sorted keys, two-space indent, final newline."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def write_openapi_document(path: pathlib.Path = SCHEMA_PATH) -> None:
    """Regenerate the committed document (`nox -s schema` calls this)."""
    path.write_text(render_openapi_document(), encoding="utf-8")
