"""OAuth for remote upstreams, on the `mcp` SDK's authorization client (`mcp.client.auth`).

Two ways to use one upstream's login (`UpstreamTokens`):

* `UpstreamAuth`, what a serving gateway attaches to an HTTP or SSE upstream with no static
  `Authorization` header. It sends the stored access token, refreshes it before it expires (and
  once more on a 401, then retries the request once), and never asks a person: a 401 (or a 403
  `insufficient_scope`) carrying a Bearer challenge that a refresh cannot answer leaves the
  answer as it is and notes the reason `run inherence-proxy login <name>`, which the upstream is
  then down with. With nothing stored and no challenge it adds nothing.
* `login_upstream`, what `inherence-proxy login <name>` runs: the SDK's complete flow (protected
  resource metadata, RFC 9728; authorization server metadata, RFC 8414 / OpenID; dynamic client
  registration, RFC 7591, or a client ID metadata document; PKCE S256; the `resource` parameter,
  RFC 8707), with the consent page opened in a browser and the redirect caught by a one-shot
  listener on 127.0.0.1. The tokens, the registration and the metadata go to the token store.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.utils import extract_scope_from_www_auth, union_scopes
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from pydantic import AnyUrl

from inherence_proxy_core._errors import GatewayError
from inherence_proxy_core._oauth_store import UpstreamTokens

if TYPE_CHECKING:
    import httpx2

__all__ = ["LoginError", "UpstreamAuth", "login_reason", "login_upstream", "wants_oauth"]

logger = logging.getLogger("inherence_proxy_core")

CLIENT_NAME = "inherence-proxy"
# Refresh this long before the access token expires (at most a quarter of its lifetime).
REFRESH_MARGIN = 60.0
_MAX_CALLBACK_REQUEST = 16 * 1024


def login_reason(name: str) -> str:
    return f"run inherence-proxy login {name}"


def wants_oauth(headers: Mapping[str, str]) -> bool:
    """An upstream gets OAuth unless its config already authenticates it with a static header."""
    return not any(key.lower() == "authorization" for key in headers)


def _client_metadata(redirect_uri: str) -> OAuthClientMetadata:
    return OAuthClientMetadata.model_validate(
        {
            "client_name": CLIENT_NAME,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }
    )


def _bearer_challenge(response: httpx2.Response) -> bool:
    """A 401, or a 403 `insufficient_scope`, that asks for an OAuth bearer token."""
    challenge = response.headers.get("www-authenticate", "")
    if not challenge.lower().lstrip().startswith("bearer"):
        return False
    return response.status_code == 401 or (response.status_code == 403 and "insufficient_scope" in challenge)


class LoginNote:
    """Where `UpstreamAuth` says the upstream needs a person to log in again.

    `refused` is set when the server refused the tokens outright (a 401 no refresh could answer):
    a connection that was serving ends then, so the upstream shows as down with the reason.
    """

    def __init__(self) -> None:
        self.login_reason: str | None = None
        self.refused = anyio.Event()


class UpstreamAuth(OAuthClientProvider):
    """Stored tokens for one upstream, refreshed in time; never an interactive step (see the module)."""

    def __init__(self, name: str, url: str, tokens: UpstreamTokens, note: LoginNote) -> None:
        super().__init__(server_url=url, client_metadata=_client_metadata("http://127.0.0.1/callback"), storage=tokens)
        self._name = name
        self._tokens = tokens
        self._note = note
        # Access tokens this connection read or obtained itself: one in the store that is not among
        # them was put there by a login (or another proxy's refresh) since.
        self._known: set[str] = set()

    def __repr__(self) -> str:
        return f"UpstreamAuth(upstream={self._name!r})"

    def _remember_current(self) -> None:
        if self.context.current_tokens is not None and len(self._known) < 64:
            self._known.add(self.context.current_tokens.access_token)

    async def _initialize(self) -> None:
        await super()._initialize()
        self._remember_current()
        # What login found, so a refresh reaches the right token endpoint with the right resource.
        self.context.oauth_metadata = self._tokens.authorization_server()
        self.context.protected_resource_metadata = self._tokens.protected_resource()
        self.context.token_expiry_time = self._tokens.expires_at()

    def _expiring(self) -> bool:
        expiry = self.context.token_expiry_time
        if expiry is None:
            return False
        lifetime = self.context.current_tokens.expires_in if self.context.current_tokens else None
        margin = min(REFRESH_MARGIN, (lifetime or 0) / 4)
        return time.time() >= expiry - margin

    async def _refresh(self) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        """Yields the refresh request; afterwards `self._refreshed` says whether it worked."""
        response = yield await self._refresh_token()
        self._refreshed = await self._handle_refresh_response(response)
        self._remember_current()
        if self._refreshed:
            logger.info("upstream %s: access token refreshed", self._name)
        else:
            logger.warning("upstream %s: the token refresh was refused (HTTP %s)", self._name, response.status_code)

    async def _auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        # The lock guards the token state only, never a request in flight: calls to one upstream
        # run side by side, and a long one holds up no other.
        async with self.context.lock:
            if not self._initialized:
                await self._initialize()
            self.context.protocol_version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
            if self.context.current_tokens is not None and self._expiring() and self.context.can_refresh_token():
                refresh = self._refresh()
                response = yield await refresh.__anext__()
                with contextlib.suppress(StopAsyncIteration):
                    await refresh.asend(response)
            sent = self._bearer(request)
        response = yield request
        if not _bearer_challenge(response):
            self._note.login_reason = None
            return
        async with self.context.lock:
            current = self.context.current_tokens.access_token if self.context.current_tokens else None
            if current is not None and current != sent:
                retry = True  # another request renewed the token meanwhile
            elif await self._reload_if_logged_in_again():
                retry = True  # `inherence-proxy login` (or another proxy) stored newer tokens
            elif response.status_code == 401 and current is not None and self.context.can_refresh_token():
                # The token was refused before its time (revoked, rotated): one refresh, one retry.
                refresh = self._refresh()
                refresh_response = yield await refresh.__anext__()
                with contextlib.suppress(StopAsyncIteration):
                    await refresh.asend(refresh_response)
                # Retried even when the refresh failed: the caller must get the server's answer,
                # not the token endpoint's.
                retry = True
            else:
                retry = False
            if retry:
                self._bearer(request)
        if retry:
            response = yield request
            if not _bearer_challenge(response):
                self._note.login_reason = None
                return
        if response.status_code == 403:
            self._want_scope(response)
        else:
            self._note.refused.set()
        self._note.login_reason = login_reason(self._name)
        logger.warning("upstream %s: the server asks for a login (HTTP %s)", self._name, response.status_code)

    def _bearer(self, request: httpx2.Request) -> str | None:
        """Put the current access token on `request` (or none); the token sent."""
        tokens = self.context.current_tokens
        if tokens is None or not tokens.access_token:
            request.headers.pop("Authorization", None)
            return None
        self._add_auth_header(request)
        return tokens.access_token

    async def _reload_if_logged_in_again(self) -> bool:
        """Take the stored tokens when a login (or another proxy's refresh) replaced them; True when it did."""
        stored = await self._tokens.get_tokens()
        if stored is None or stored.access_token in self._known:
            return False
        self._initialized = False
        await self._initialize()
        return True

    def _want_scope(self, response: httpx2.Response) -> None:
        """Keep the scope a 403 `insufficient_scope` asked for, so the next login asks for it too."""
        challenged = extract_scope_from_www_auth(response)
        granted = self.context.current_tokens.scope if self.context.current_tokens else None
        wanted = union_scopes(granted, challenged)
        if wanted:
            self._tokens.set_wanted_scope(wanted)


# -- inherence-proxy login ---------------------------------------------------------------------


class LoginError(GatewayError):
    """A login did not complete; the message says why, never with a token or a code."""


class _LoginAuth(OAuthClientProvider):
    """The SDK's complete flow, starting from no tokens; the metadata it found is kept with them."""

    def __init__(
        self, tokens: UpstreamTokens, preregistered: OAuthClientInformationFull | None, **options: Any
    ) -> None:
        super().__init__(storage=tokens, **options)
        self._tokens = tokens
        self._preregistered = preregistered

    def __repr__(self) -> str:
        return f"_LoginAuth(upstream={self._tokens.upstream!r})"

    async def _initialize(self) -> None:
        self.context.current_tokens = None
        self._initialized = True
        if self._preregistered is not None:
            self.context.client_info = self._preregistered
            await self._tokens.set_client_info(self._preregistered)
            return
        # A registration is reused only when it names this listener's redirect URI.
        client = await self._tokens.get_client_info()
        wanted = [str(uri) for uri in self.context.client_metadata.redirect_uris or []]
        if client is not None and [str(uri) for uri in client.redirect_uris or []] == wanted:
            self.context.client_info = client

    async def _perform_authorization_code_grant(self) -> tuple[str, str]:
        # A scope a server asked for while the proxy served (step-up) is asked for now as well.
        wanted = self._tokens.wanted_scope()
        if wanted:
            self.context.client_metadata.scope = union_scopes(self.context.client_metadata.scope, wanted)
        return await super()._perform_authorization_code_grant()

    async def _handle_token_response(self, response: httpx2.Response) -> None:
        await super()._handle_token_response(response)
        self._tokens.set_metadata(self.context.oauth_metadata, self.context.protected_resource_metadata)
        if self._tokens.wanted_scope():
            self._tokens.set_wanted_scope(None)


class _CallbackListener:
    """A one-shot HTTP listener on 127.0.0.1 that catches the authorization redirect."""

    def __init__(self) -> None:
        self.port = 0
        self._result: AuthorizationCodeResult | None = None
        self._error: str | None = None
        self._done = anyio.Event()
        self.path = f"/callback/{secrets.token_urlsafe(8)}"

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def serve(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        await listener.serve(self._handle)

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            with anyio.move_on_after(10):
                while b"\r\n\r\n" not in data and len(data) < _MAX_CALLBACK_REQUEST:
                    try:
                        data += await stream.receive(4096)
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        break
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != "GET" or urlsplit(parts[1]).path != self.path:
                await _answer(stream, 404, "Not found.")
                return
            query = {key: values[0] for key, values in parse_qs(urlsplit(parts[1]).query).items()}
            if "error" in query:
                self._error = query["error"][:200]
                await _answer(stream, 200, "The login was refused. You can close this tab.")
            elif "code" in query:
                self._result = AuthorizationCodeResult(
                    code=query["code"], state=query.get("state"), iss=query.get("iss")
                )
                await _answer(stream, 200, "inherence-proxy is logged in. You can close this tab.")
            else:
                await _answer(stream, 400, "No authorization code in this address.")
                return
            self._done.set()

    async def wait(self) -> AuthorizationCodeResult:
        await self._done.wait()
        if self._result is None:
            raise LoginError(f"the authorization server refused the login ({self._error})")
        return self._result


async def _answer(stream: anyio.abc.SocketStream, status: int, text: str) -> None:
    body = f"<!doctype html><title>inherence-proxy</title><p>{text}</p>".encode()
    head = (
        f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
        f"Content-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        await stream.send(head.encode() + body)


@contextlib.asynccontextmanager
async def _listening() -> AsyncIterator[_CallbackListener]:
    callback = _CallbackListener()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    callback.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(callback.serve, listener)
        try:
            yield callback
        finally:
            tasks.cancel_scope.cancel()


_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": CLIENT_NAME, "version": "login"},
    },
}


async def login_upstream(
    name: str,
    url: str,
    transport: str,
    tokens: UpstreamTokens,
    *,
    open_browser: Callable[[str], Awaitable[None]],
    headers: Mapping[str, str] | None = None,
    deadline: float = 300.0,
    client_id: str | None = None,
    client_secret: str | None = None,
    client_metadata_url: str | None = None,
) -> None:
    """Log in to one upstream: consent in a browser, tokens stored. Raises `LoginError`.

    `open_browser` is given the authorization URL (it should also show it, for a machine with no
    browser). `deadline` (seconds) bounds the whole login, the person's consent included.
    `client_id` (and `client_secret`, sent with HTTP Basic) is a client registered beforehand
    with the authorization server, for one that offers no dynamic registration;
    `client_metadata_url` is an HTTPS client ID metadata document, used as the client ID where
    the authorization server supports them (dynamic registration otherwise).
    """
    failure: LoginError | None = None
    status = 0
    # Failures are carried out of the listener's task group, which would wrap them in a group.
    async with _listening() as callback:
        try:
            preregistered = None
            if client_id:
                preregistered = OAuthClientInformationFull(
                    client_id=client_id,
                    client_secret=client_secret or None,
                    redirect_uris=[AnyUrl(callback.redirect_uri)],
                    token_endpoint_auth_method="client_secret_basic" if client_secret else "none",
                    grant_types=["authorization_code", "refresh_token"],
                )
            try:
                auth = _LoginAuth(
                    tokens,
                    preregistered,
                    server_url=url,
                    client_metadata=_client_metadata(callback.redirect_uri),
                    redirect_handler=open_browser,
                    callback_handler=callback.wait,
                    client_metadata_url=client_metadata_url,
                )
            except ValueError as exc:
                raise LoginError(str(exc)) from None
            status = await _authorize(name, url, transport, auth, headers, deadline)
        except LoginError as exc:
            failure = exc
    if failure is not None:
        raise failure
    if status >= 400:
        raise LoginError(f"the upstream still answers HTTP {status} after the login")
    if not tokens.has_login():
        raise LoginError("the upstream did not ask for a login; nothing was stored")


async def _authorize(
    name: str,
    url: str,
    transport: str,
    auth: _LoginAuth,
    headers: Mapping[str, str] | None,
    deadline: float,
) -> int:
    """One request to the upstream that the SDK's flow authorizes; the final HTTP status."""
    import httpx2

    request_headers = {**dict(headers or {}), "MCP-Protocol-Version": "2025-11-25"}
    try:
        with anyio.fail_after(deadline):
            async with httpx2.AsyncClient(auth=auth, headers=request_headers, timeout=30.0) as http:
                if transport == "sse":
                    async with http.stream("GET", url, headers={"Accept": "text/event-stream"}) as answer:
                        return int(answer.status_code)
                return await _initialize_and_list(http, url)
    except TimeoutError:
        raise LoginError(f"no login within {deadline:g} s") from None
    except LoginError:
        raise
    except httpx2.HTTPError as exc:
        raise LoginError(f"could not reach {url}: {type(exc).__name__}") from None
    except Exception as exc:
        # The SDK's flow errors (discovery, registration, token exchange) name what failed.
        logger.debug("login to %s failed", name, exc_info=True)
        raise LoginError(_short(str(exc)) or type(exc).__name__) from None


async def _initialize_and_list(http: httpx2.AsyncClient, url: str) -> int:
    """initialize, initialized, tools/list: a server may ask for a login at any of them. The last status."""
    headers = {"Accept": "application/json, text/event-stream"}
    status = 0
    session: str | None = None
    messages = (
        _INITIALIZE,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    )
    for message in messages:
        async with http.stream("POST", url, json=message, headers=headers) as answer:
            status = int(answer.status_code)
            if message is _INITIALIZE:
                session = answer.headers.get("mcp-session-id")
                if session is not None:
                    headers["mcp-session-id"] = session
        if status >= 400:
            return status
    if session is not None:
        with contextlib.suppress(Exception):
            await http.delete(url, headers={"mcp-session-id": session})
    return status


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"
