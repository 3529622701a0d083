"""The OAuth token store: one private file per upstream, bound to its URL, never showing a token."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys

import pytest
from mcp.shared.auth import OAuthClientInformationFull, OAuthMetadata, OAuthToken, ProtectedResourceMetadata

from inherence_proxy_core._oauth_store import MAX_TOKEN_FILE_BYTES, TokenStore

URL = "https://mcp.example.test/mcp"
ACCESS = "at-5ecret-access-value"
REFRESH = "rt-5ecret-refresh-value"
CLIENT_SECRET = "cs-5ecret-client-value"

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def tokens(expires_in: int | None = 3600) -> OAuthToken:
    return OAuthToken(access_token=ACCESS, refresh_token=REFRESH, expires_in=expires_in, scope="read")


async def test_tokens_and_client_round_trip(tmp_path) -> None:
    store = TokenStore(tmp_path / "tokens")
    record = store.for_upstream("remote", URL)
    assert await record.get_tokens() is None
    assert not record.has_login()
    await record.set_tokens(tokens())
    client = OAuthClientInformationFull(
        client_id="cid", client_secret=CLIENT_SECRET, redirect_uris=["http://127.0.0.1:1/cb"]
    )
    await record.set_client_info(client)
    again = store.for_upstream("remote", URL)
    assert again.has_login()
    assert (await again.get_tokens()) == tokens()
    loaded_client = await again.get_client_info()
    assert loaded_client is not None
    assert loaded_client.client_secret == CLIENT_SECRET
    expiry = again.expires_at()
    assert expiry is not None
    again.expire_now()
    assert (again.expires_at() or 0) < expiry


async def test_metadata_is_kept_for_refreshes(tmp_path) -> None:
    record = TokenStore(tmp_path / "tokens").for_upstream("remote", URL)
    server = OAuthMetadata(
        issuer="https://auth.example.test",
        authorization_endpoint="https://auth.example.test/authorize",
        token_endpoint="https://auth.example.test/token",
    )
    resource = ProtectedResourceMetadata(resource=URL, authorization_servers=["https://auth.example.test"])
    record.set_metadata(server, resource)
    assert record.authorization_server() == server
    assert record.protected_resource() == resource


@posix_only
async def test_file_is_private_and_written_whole(tmp_path) -> None:
    folder = tmp_path / "tokens"
    store = TokenStore(folder)
    path = store.path("remote")
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    path.write_text("{}")
    os.chmod(path, 0o644)
    await store.for_upstream("remote", URL).set_tokens(tokens())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["remote.json"]
    assert json.loads(path.read_text())["tokens"]["access_token"] == ACCESS


async def test_tokens_written_for_another_url_are_never_used(tmp_path) -> None:
    store = TokenStore(tmp_path / "tokens")
    await store.for_upstream("remote", URL).set_tokens(tokens())
    moved = store.for_upstream("remote", "https://elsewhere.example.test/mcp")
    assert await moved.get_tokens() is None
    assert not moved.has_login()


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"format": 99, "url": "' + URL.encode() + b'"}',
        b'{"format": 1, "url": "' + URL.encode() + b'", "tokens": {"refresh_token": "' + REFRESH.encode() + b'"}}',
        b"x" * (MAX_TOKEN_FILE_BYTES + 10),
    ],
    ids=["not-json", "not-object", "unknown-format", "no-access-token", "too-large"],
)
async def test_a_bad_file_is_no_login_and_its_content_is_not_logged(tmp_path, caplog, content: bytes) -> None:
    store = TokenStore(tmp_path / "tokens")
    store.path("remote").parent.mkdir()
    store.path("remote").write_bytes(content)
    caplog.set_level(logging.DEBUG)
    record = store.for_upstream("remote", URL)
    assert await record.get_tokens() is None
    assert not record.has_login()
    assert REFRESH not in caplog.text
    assert "remote" in caplog.text


async def test_no_repr_shows_a_secret(tmp_path) -> None:
    store = TokenStore(tmp_path / "tokens")
    record = store.for_upstream("remote", URL)
    await record.set_tokens(tokens())
    shown = repr(store) + repr(record) + str(record)
    assert ACCESS not in shown
    assert REFRESH not in shown


def test_forget_and_bad_names(tmp_path) -> None:
    store = TokenStore(tmp_path / "tokens")
    assert store.forget("remote") is False
    with pytest.raises(ValueError, match="cannot name a token file"):
        store.path("../escape")
