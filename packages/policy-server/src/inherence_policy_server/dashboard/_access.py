"""Who may use the dashboard: peers on loopback (by default) holding the admin token.

Pages: the login form takes the token and opens a session (an HttpOnly, SameSite=Strict
cookie); each session has its own CSRF token, which every form carries and every change
checks, along with the Origin header when the browser sends one. The JSON API takes the token
as `Authorization: Bearer <token>`; a logged-in page may call it too, with the CSRF token in
the `X-CSRF-Token` header for any change.

Given the storage, login sessions are kept there (only a SHA-256 of each session id), so a
login made through one worker or server is good on every other sharing the storage.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time

from starlette.requests import Request

from inherence_policy_server._local_callers import loopback_host
from inherence_policy_server._storage import SQLStorage

__all__ = ["SESSION_COOKIE", "TENANT_COOKIE", "AdminAccess", "Caller", "new_admin_token"]

SESSION_COOKIE = "inherence_admin"
# The tenant a logged-in person chose to look at (`?tenant=` on any page); a view setting, not a secret.
TENANT_COOKIE = "inherence_tenant"
_MAX_SESSIONS = 256


def new_admin_token() -> str:
    """A fresh random admin token."""
    return secrets.token_urlsafe(24)


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host in ("localhost", "testclient"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass(frozen=True)
class Caller:
    """Someone the dashboard let in: by bearer token, or by a login session and its CSRF token."""

    by_bearer: bool
    csrf: str = ""


class AdminAccess:
    """The admin token, the open login sessions and the peer check."""

    def __init__(self, token: str, *, allow_remote: bool = False, storage: SQLStorage | None = None) -> None:
        if len(token) < 16:
            raise ValueError("the admin token must be at least 16 characters")
        self._token = token.encode()
        self.allow_remote = allow_remote
        self._sessions: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._storage = storage

    def token_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self._token)

    def peer_allowed(self, request: Request) -> bool:
        """A loopback peer naming a loopback host (a rebound DNS name is a web page's); anyone with allow_remote."""
        if self.allow_remote:
            return True
        peer = request.client.host if request.client else None
        return _is_loopback(peer) and loopback_host(request.scope, check_port=False)

    def open_session(self) -> str:
        """A new session id (for the cookie); the oldest session is dropped past the limit."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        if self._storage is not None:
            with self._storage.write() as db:
                db.execute(
                    "INSERT INTO admin_sessions (digest, csrf, created_at) VALUES (?, ?, ?)",
                    (_digest(session_id), csrf, time.time()),
                )
                db.execute(
                    "DELETE FROM admin_sessions WHERE digest NOT IN"
                    " (SELECT digest FROM admin_sessions ORDER BY created_at DESC LIMIT ?)",
                    (_MAX_SESSIONS,),
                )
            return session_id
        with self._lock:
            self._sessions[session_id] = csrf
            while len(self._sessions) > _MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session_id

    def close_session(self, session_id: str | None) -> None:
        if self._storage is not None:
            with self._storage.write() as db:
                db.execute("DELETE FROM admin_sessions WHERE digest = ?", (_digest(session_id or ""),))
            return
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _csrf_of(self, session_id: str) -> str | None:
        if not session_id:
            return None
        if self._storage is not None:
            rows = self._storage.read("SELECT csrf FROM admin_sessions WHERE digest = ?", (_digest(session_id),))
            return str(rows[0][0]) if rows else None
        with self._lock:
            return self._sessions.get(session_id)

    def caller(self, request: Request) -> Caller | None:
        """Who is asking, or None when neither the bearer token nor the session cookie is good."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            return Caller(by_bearer=True) if scheme.lower() == "bearer" and self.token_matches(token.strip()) else None
        csrf = self._csrf_of(request.cookies.get(SESSION_COOKIE, "")[:256])
        return Caller(by_bearer=False, csrf=csrf) if csrf is not None else None

    def change_allowed(self, request: Request, caller: Caller, presented_csrf: str | None) -> bool:
        """May this caller change something? A bearer caller may; a session needs its CSRF token."""
        if caller.by_bearer:
            return True
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return False
        return presented_csrf is not None and hmac.compare_digest(presented_csrf.encode(), caller.csrf.encode())


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()
