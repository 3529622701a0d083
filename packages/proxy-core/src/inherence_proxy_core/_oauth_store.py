"""OAuth tokens of remote upstreams, one file per upstream under `<home>/tokens/` (mode 0600).

A file holds what a login gave for one upstream and nothing else: the upstream's URL (tokens are
only ever sent back to that URL), the tokens with their absolute expiry, the client registration,
and the authorization server and protected resource metadata found at login (so a refresh reaches
the right token endpoint without discovery). Tokens are never in `config.json`, never logged, and
no repr or error of this module carries one.

Every write replaces the whole file atomically (temp file in the folder, fsync, rename), mode 0600
whatever the file was before; the folder is 0700. A file that cannot be read or does not hold what
is expected counts as no login, and the reason is logged without its content.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import re
import tempfile
import time
from typing import Any

from mcp.shared.auth import OAuthClientInformationFull, OAuthMetadata, OAuthToken, ProtectedResourceMetadata
from pydantic import ValidationError

__all__ = ["TokenStore", "UpstreamTokens"]

logger = logging.getLogger("inherence_proxy_core")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FORMAT = 1
# A token file is small; anything larger is not one of ours.
MAX_TOKEN_FILE_BYTES = 256 * 1024


class TokenStore:
    """The `tokens/` folder of a proxy home; `for_upstream` gives one upstream's record."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.folder = folder

    def __repr__(self) -> str:
        return f"TokenStore({str(self.folder)!r})"

    def path(self, upstream: str) -> pathlib.Path:
        if not _NAME.match(upstream):
            raise ValueError(f"upstream name {upstream!r} cannot name a token file")
        return self.folder / f"{upstream}.json"

    def for_upstream(self, upstream: str, url: str) -> UpstreamTokens:
        return UpstreamTokens(self.path(upstream), upstream=upstream, url=url)

    def forget(self, upstream: str) -> bool:
        """Delete an upstream's tokens; True when there were any."""
        try:
            self.path(upstream).unlink()
        except FileNotFoundError:
            return False
        return True


class UpstreamTokens:
    """One upstream's login, as the `mcp` SDK's `TokenStorage` protocol reads and writes it.

    Bound to `url`: a file written for another URL (the upstream was pointed elsewhere since the
    login) is never used, so a token is never sent to a server it was not issued for.
    """

    def __init__(self, path: pathlib.Path, *, upstream: str, url: str) -> None:
        self.path = path
        self.upstream = upstream
        self.url = url

    def __repr__(self) -> str:
        return f"UpstreamTokens(upstream={self.upstream!r}, path={str(self.path)!r})"

    # -- reading -------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read(MAX_TOKEN_FILE_BYTES + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            logger.warning("upstream %s: cannot read its token file %s (%s)", self.upstream, self.path, exc.strerror)
            return {}
        if len(raw) > MAX_TOKEN_FILE_BYTES:
            logger.warning("upstream %s: token file %s is too large; ignored", self.upstream, self.path)
            return {}
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            logger.warning("upstream %s: token file %s is not JSON; ignored", self.upstream, self.path)
            return {}
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            logger.warning("upstream %s: token file %s has an unknown format; ignored", self.upstream, self.path)
            return {}
        if record.get("url") != self.url:
            # Written for another URL: never send those tokens here.
            return {}
        return record

    def _part(self, record: dict[str, Any], key: str, model: Any) -> Any:
        value = record.get(key)
        if value is None:
            return None
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            # The error lists fields, never values (they may be tokens).
            fields = ", ".join(".".join(str(p) for p in error["loc"]) for error in exc.errors())
            logger.warning("upstream %s: token file %s: bad %s (%s); ignored", self.upstream, self.path, key, fields)
            return None

    def has_login(self) -> bool:
        """True when tokens for this URL are stored (they may have expired; a refresh may renew them)."""
        return self._part(self._load(), "tokens", OAuthToken) is not None

    def expires_at(self) -> float | None:
        value = self._load().get("expires_at")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def authorization_server(self) -> OAuthMetadata | None:
        return self._part(self._load(), "authorization_server", OAuthMetadata)  # type: ignore[no-any-return]

    def protected_resource(self) -> ProtectedResourceMetadata | None:
        return self._part(self._load(), "protected_resource", ProtectedResourceMetadata)  # type: ignore[no-any-return]

    async def get_tokens(self) -> OAuthToken | None:
        return self._part(self._load(), "tokens", OAuthToken)  # type: ignore[no-any-return]

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self._part(self._load(), "client", OAuthClientInformationFull)  # type: ignore[no-any-return]

    # -- writing -------------------------------------------------------------------------------

    def _update(self, **parts: Any) -> None:
        record = self._load() or {"format": _FORMAT, "url": self.url}
        record.update(parts)
        _write_private(self.path, json.dumps(record, indent=2, sort_keys=True) + "\n")

    async def set_tokens(self, tokens: OAuthToken) -> None:
        expires_at = time.time() + int(tokens.expires_in) if tokens.expires_in is not None else None
        self._update(tokens=tokens.model_dump(mode="json", exclude_none=True), expires_at=expires_at)

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._update(client=client_info.model_dump(mode="json", exclude_none=True))

    def set_metadata(
        self, authorization_server: OAuthMetadata | None, protected_resource: ProtectedResourceMetadata | None
    ) -> None:
        parts: dict[str, Any] = {}
        if authorization_server is not None:
            parts["authorization_server"] = authorization_server.model_dump(mode="json", exclude_none=True)
        if protected_resource is not None:
            parts["protected_resource"] = protected_resource.model_dump(mode="json", exclude_none=True)
        if parts:
            self._update(**parts)

    def wanted_scope(self) -> str | None:
        """The scope a server asked for beyond what was granted (a 403 `insufficient_scope`), for the next login."""
        value = self._load().get("wanted_scope")
        return value if isinstance(value, str) and value else None

    def set_wanted_scope(self, scope: str | None) -> None:
        self._update(wanted_scope=scope[:2000] if scope else None)

    def expire_now(self) -> None:
        """Mark the stored access token expired, so the next use refreshes it first."""
        if self._load():
            self._update(expires_at=time.time() - 1)


def _write_private(path: pathlib.Path, text: str) -> None:
    """Replace `path` atomically with `text`, mode 0600, in a 0700 folder."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix" and path.parent.stat().st_mode & 0o077:
        path.parent.chmod(0o700)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
