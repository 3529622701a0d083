"""`UpstreamAuth`, what a serving gateway sends to an OAuth-protected upstream, against a scripted server.

The server here is an `httpx2.MockTransport` (a unit test of this package); the real flow, with a
real authorization server and `inherence-proxy login`, is in tests-integration/proxy/test_oauth_upstream.py.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable

import anyio
import httpx2
from mcp.shared.auth import OAuthClientInformationFull, OAuthMetadata, OAuthToken, ProtectedResourceMetadata

from inherence_proxy_core._oauth import LoginNote, UpstreamAuth
from inherence_proxy_core._oauth_store import TokenStore, UpstreamTokens

URL = "https://mcp.example.test/mcp"
TOKEN_URL = "https://auth.example.test/token"
CHALLENGE = {
    "WWW-Authenticate": 'Bearer resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource"'
}


async def logged_in(tmp_path, *, expired: bool = False) -> UpstreamTokens:
    record = TokenStore(tmp_path / "tokens").for_upstream("remote", URL)
    await record.set_tokens(OAuthToken(access_token="old-access", refresh_token="old-refresh", expires_in=3600))
    await record.set_client_info(OAuthClientInformationFull(client_id="proxy", redirect_uris=["http://127.0.0.1:1/cb"]))
    record.set_metadata(
        OAuthMetadata(
            issuer="https://auth.example.test",
            authorization_endpoint="https://auth.example.test/authorize",
            token_endpoint=TOKEN_URL,
        ),
        ProtectedResourceMetadata(resource=URL, authorization_servers=["https://auth.example.test"]),
    )
    if expired:
        record.expire_now()
    return record


class Server:
    """Answers the MCP URL through `mcp` and the token endpoint with fresh tokens; records every request."""

    def __init__(self, mcp: Callable[[httpx2.Request], httpx2.Response], refresh_status: int = 200) -> None:
        self.mcp = mcp
        self.refresh_status = refresh_status
        self.requests: list[httpx2.Request] = []
        self.sent: list[tuple[str, str | None]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        # The flow retries with the same request object: note its header as it was sent.
        self.sent.append((str(request.url), request.headers.get("authorization")))
        if str(request.url) == TOKEN_URL:
            if self.refresh_status != 200:
                return httpx2.Response(self.refresh_status, json={"error": "invalid_grant"})
            return httpx2.Response(200, json={"access_token": "new-access", "token_type": "Bearer", "expires_in": 3600})
        return self.mcp(request)

    def forms(self) -> list[dict[str, str]]:
        return [dict(urllib.parse.parse_qsl(r.content.decode())) for r in self.requests if str(r.url) == TOKEN_URL]

    def bearers(self) -> list[str | None]:
        return [bearer for url, bearer in self.sent if url == URL]


def accepting(token: str) -> Callable[[httpx2.Request], httpx2.Response]:
    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.headers.get("authorization") == f"Bearer {token}":
            return httpx2.Response(200, json={"ok": True})
        return httpx2.Response(401, headers=CHALLENGE)

    return answer


async def post(record: UpstreamTokens, server: Server) -> tuple[httpx2.Response, LoginNote]:
    note = LoginNote()
    auth = UpstreamAuth("remote", URL, record, note)
    async with httpx2.AsyncClient(auth=auth, transport=httpx2.MockTransport(server)) as http:
        response = await http.post(URL, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    return response, note


async def test_no_login_and_no_challenge_adds_nothing(tmp_path) -> None:
    record = TokenStore(tmp_path / "tokens").for_upstream("remote", URL)
    server = Server(lambda request: httpx2.Response(200, json={}))
    response, note = await post(record, server)
    assert response.status_code == 200
    assert server.bearers() == [None]
    assert note.login_reason is None


async def test_a_challenge_without_tokens_asks_for_a_login_and_discovers_nothing(tmp_path) -> None:
    record = TokenStore(tmp_path / "tokens").for_upstream("remote", URL)
    server = Server(lambda request: httpx2.Response(401, headers=CHALLENGE))
    response, note = await post(record, server)
    assert response.status_code == 401
    assert note.login_reason == "run inherence-proxy login remote"
    assert [str(r.url) for r in server.requests] == [URL]  # no metadata, no registration while serving


async def test_a_401_without_a_bearer_challenge_is_only_an_http_error(tmp_path) -> None:
    server = Server(lambda request: httpx2.Response(401))
    response, note = await post(await logged_in(tmp_path), server)
    assert response.status_code == 401
    assert note.login_reason is None


async def test_an_expired_token_is_refreshed_first_at_the_stored_endpoint(tmp_path) -> None:
    record = await logged_in(tmp_path, expired=True)
    server = Server(accepting("new-access"))
    response, note = await post(record, server)
    assert response.status_code == 200
    assert server.bearers() == ["Bearer new-access"]
    (form,) = server.forms()
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == "old-refresh"
    assert form["resource"] == URL
    stored = await record.get_tokens()
    assert stored is not None
    assert stored.access_token == "new-access"
    assert stored.refresh_token == "old-refresh"  # kept when the server does not rotate it
    assert note.login_reason is None


async def test_a_refused_token_is_refreshed_and_the_request_retried_once(tmp_path) -> None:
    server = Server(accepting("new-access"))
    response, note = await post(await logged_in(tmp_path), server)
    assert response.status_code == 200
    assert server.bearers() == ["Bearer old-access", "Bearer new-access"]
    assert note.login_reason is None


async def test_a_refused_refresh_asks_for_a_login(tmp_path) -> None:
    server = Server(accepting("never"), refresh_status=400)
    response, note = await post(await logged_in(tmp_path), server)
    assert response.status_code == 401  # the server's answer, not the token endpoint's
    assert server.bearers() == ["Bearer old-access", None]
    assert note.login_reason == "run inherence-proxy login remote"


async def test_insufficient_scope_keeps_the_wanted_scope_for_the_next_login(tmp_path) -> None:
    record = await logged_in(tmp_path)
    await record.set_tokens(OAuthToken(access_token="old-access", refresh_token="r", expires_in=3600, scope="read"))
    challenge = {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="read write"'}
    server = Server(lambda request: httpx2.Response(403, headers=challenge))
    response, note = await post(record, server)
    assert response.status_code == 403
    assert note.login_reason == "run inherence-proxy login remote"
    assert record.wanted_scope() == "read write"


async def test_tokens_a_login_stored_meanwhile_are_taken_up_when_the_old_ones_are_refused(tmp_path) -> None:
    record = await logged_in(tmp_path)
    note = LoginNote()
    auth = UpstreamAuth("remote", URL, record, note)
    server = Server(accepting("old-access"))
    async with httpx2.AsyncClient(auth=auth, transport=httpx2.MockTransport(server)) as http:
        assert (await http.post(URL, json={})).status_code == 200
        await record.set_tokens(OAuthToken(access_token="from-login", expires_in=3600))
        server.mcp = accepting("from-login")
        assert (await http.post(URL, json={})).status_code == 200
    assert server.bearers() == ["Bearer old-access", "Bearer old-access", "Bearer from-login"]
    assert server.forms() == []
    assert json.loads(record.path.read_text())["tokens"]["access_token"] == "from-login"


async def test_a_refresh_another_proxy_made_first_is_taken_up(tmp_path) -> None:
    record = await logged_in(tmp_path, expired=True)

    class RotatedElsewhere(Server):
        def __call__(self, request: httpx2.Request) -> httpx2.Response:
            if str(request.url) == TOKEN_URL:
                # Another proxy of this machine refreshed a moment ago: our refresh token is spent.
                record._update(tokens={"access_token": "other-proxy", "token_type": "Bearer", "expires_in": 3600})
            return super().__call__(request)

    server = RotatedElsewhere(accepting("other-proxy"), refresh_status=400)
    response, note = await post(record, server)
    assert response.status_code == 200
    assert server.bearers() == [None, "Bearer other-proxy"]
    assert note.login_reason is None


async def test_requests_in_flight_do_not_wait_for_each_other(tmp_path) -> None:
    record = await logged_in(tmp_path)
    both_arrived = anyio.Event()
    arrived: list[str | None] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        arrived.append(request.headers.get("authorization"))
        if len(arrived) == 2:
            both_arrived.set()
        # Answers only once the other request is in flight too: one held up by the other never ends.
        await both_arrived.wait()
        return httpx2.Response(200, json={})

    auth = UpstreamAuth("remote", URL, record, LoginNote())
    async with httpx2.AsyncClient(auth=auth, transport=httpx2.MockTransport(handler)) as http:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(http.post, URL)
                tasks.start_soon(http.post, URL)
    assert arrived == ["Bearer old-access", "Bearer old-access"]
