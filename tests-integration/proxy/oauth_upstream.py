"""An OAuth 2.1 authorization server and an MCP server it protects, both real HTTP on 127.0.0.1.

    python oauth_upstream.py [--access-seconds N]

Prints one JSON line (`{"issuer": ..., "mcp": ..., "sse": ...}`) when both listen, and ends when
its stdin closes. The authorization server is the `mcp` SDK's server-side auth routes (metadata,
dynamic client registration, authorize, token with PKCE, revocation) over an in-memory provider
that consents at once, so a login completes by following the authorize redirect. The MCP server
(streamable HTTP at /mcp, SSE at /sse) answers only with a valid bearer token issued for its
own resource URL (RFC 8707), and names its protected resource metadata in each 401.

Test hooks on the authorization server: `GET /test/stats` (grants counted by type, the resource
asked for, registrations, the bearer tokens the MCP server saw, cut short) and `POST /test/revoke`
(`?refresh=1` revokes the refresh tokens too).
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import sys
import threading
import time
from typing import Any

import anyio
import uvicorn
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    ProviderTokenVerifier,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.server.auth.routes import create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SCOPE = "mcp"


class Provider:
    """An authorization server's state, in memory; every authorization request is consented to."""

    def __init__(self, access_seconds: int) -> None:
        self.access_seconds = access_seconds
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.grants: dict[str, int] = {"authorization_code": 0, "refresh_token": 0}
        self.resources: list[str | None] = []
        self.seen_tokens: list[str] = []

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        code = secrets.token_urlsafe(24)
        self.resources.append(params.resource)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [SCOPE],
            expires_at=time.time() + 300,
            client_id=str(client.client_id),
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(self, client: OAuthClientInformationFull, code: str) -> AuthorizationCode | None:
        found = self.codes.get(code)
        return found if found is not None and found.client_id == client.client_id else None

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        access, refresh = f"at-{secrets.token_urlsafe(24)}", f"rt-{secrets.token_urlsafe(24)}"
        expires = int(time.time()) + self.access_seconds
        self.access[access] = AccessToken(
            token=access, client_id=client_id, scopes=scopes, expires_at=expires, resource=resource
        )
        self.refresh[refresh] = RefreshToken(token=refresh, client_id=client_id, scopes=scopes, resource=resource)
        return OAuthToken(
            access_token=access, expires_in=self.access_seconds, scope=" ".join(scopes), refresh_token=refresh
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, code: AuthorizationCode
    ) -> OAuthToken:
        self.codes.pop(code.code, None)
        self.grants["authorization_code"] += 1
        return self._issue(str(client.client_id), code.scopes, code.resource)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        found = self.refresh.get(refresh_token)
        return found if found is not None and found.client_id == client.client_id else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        self.refresh.pop(refresh_token.token, None)
        self.grants["refresh_token"] += 1
        return self._issue(str(client.client_id), scopes or refresh_token.scopes, refresh_token.resource)

    async def load_access_token(self, token: str) -> AccessToken | None:
        self.seen_tokens.append(token[:6])
        found = self.access.get(token)
        if found is None or (found.expires_at is not None and found.expires_at < time.time()):
            return None
        return found

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.access.pop(token.token, None)
        self.refresh.pop(token.token, None)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def build(provider: Provider, issuer: str, resource_base: str, path: str) -> Any:
    server = MCPServer(
        "protected",
        token_verifier=ProviderTokenVerifier(provider),  # type: ignore[arg-type]
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(issuer),
            resource_server_url=AnyHttpUrl(f"{resource_base}{path}"),
            required_scopes=[SCOPE],
            validate_token_resource=True,
        ),
    )

    @server.tool()
    def forecast(city: str) -> str:
        """The weather forecast of a city."""
        return f"sunny in {city}"

    if path == "/sse":
        return server.sse_app()
    return server.streamable_http_app()


def authorization_app(provider: Provider, issuer: str) -> Starlette:
    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "grants": provider.grants,
                "resources": provider.resources,
                "registrations": len(provider.clients),
                "seen_tokens": provider.seen_tokens,
            }
        )

    async def revoke(request: Request) -> JSONResponse:
        provider.access.clear()
        if request.query_params.get("refresh") == "1":
            provider.refresh.clear()
        return JSONResponse({"revoked": True})

    routes = create_auth_routes(
        provider,  # type: ignore[arg-type]
        issuer_url=AnyHttpUrl(issuer),
        client_registration_options=ClientRegistrationOptions(
            enabled=True, valid_scopes=[SCOPE], default_scopes=[SCOPE]
        ),
        revocation_options=RevocationOptions(enabled=True),
    )
    routes.append(Route("/test/stats", stats, methods=["GET"]))
    routes.append(Route("/test/revoke", revoke, methods=["POST"]))
    return Starlette(routes=routes)


async def main(access_seconds: int) -> None:
    provider = Provider(access_seconds)
    sockets = {name: _listening_socket() for name in ("issuer", "mcp", "sse")}
    base = {name: f"http://127.0.0.1:{sock.getsockname()[1]}" for name, sock in sockets.items()}
    apps = {
        "issuer": authorization_app(provider, base["issuer"]),
        "mcp": build(provider, base["issuer"], base["mcp"], "/mcp"),
        "sse": build(provider, base["issuer"], base["sse"], "/sse"),
    }
    servers = {
        name: uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on")) for name, app in apps.items()
    }

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        for server in servers.values():
            server.should_exit = True

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    print(json.dumps({"issuer": base["issuer"], "mcp": f"{base['mcp']}/mcp", "sse": f"{base['sse']}/sse"}), flush=True)
    async with anyio.create_task_group() as tasks:
        for name, server in servers.items():
            tasks.start_soon(server.serve, [sockets[name]])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--access-seconds", type=int, default=3600)
    anyio.run(main, parser.parse_args().access_seconds)
