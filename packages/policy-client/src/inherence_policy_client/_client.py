"""The async Policy API client: one keep-alive connection pool, fail-closed error mapping."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx2
import pydantic

from inherence_policy_client import __version__
from inherence_policy_client._errors import PolicyAuthError, PolicyUnreachable, PolicyUsageError
from inherence_policy_client._models import (
    Classification,
    ClassifyRequest,
    ClassifyResponse,
    DecideRequest,
    Decision,
    Health,
    Heartbeat,
    OutcomeReport,
    RegisterRequest,
    RegisterResponse,
    ToolDescription,
    UpstreamRegistration,
)

__all__ = ["DEFAULT_BASE_URL", "PolicyClient", "Timeouts", "is_loopback"]

DEFAULT_BASE_URL = "https://mcp.inherencelabs.com"

logger = logging.getLogger("inherence_policy_client")

_Answer = TypeVar("_Answer", bound=pydantic.BaseModel)


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Per-phase timeouts in seconds, and a `deadline` for a whole call including its one retry."""

    connect: float = 1.5
    read: float = 1.5
    write: float = 1.5
    pool: float = 1.5
    deadline: float = 4.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise PolicyUsageError(f"timeout {field.name!r} must be a positive number of seconds, not {value!r}")

    def for_httpx(self) -> httpx2.Timeout:
        return httpx2.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


def _check_base_url(base_url: str) -> httpx2.URL:
    try:
        url = httpx2.URL(base_url)
    except (httpx2.InvalidURL, TypeError) as exc:
        raise PolicyUsageError(f"policy base URL {base_url!r} is not a URL") from exc
    if url.scheme not in ("https", "http") or not url.host:
        raise PolicyUsageError(f"policy base URL {base_url!r} must be an https:// URL with a host")
    if url.scheme == "http" and not (is_loopback(url.host) or url.host.endswith(".localhost")):
        # The API key travels in a header: plain HTTP is acceptable only on this machine.
        raise PolicyUsageError(
            f"policy base URL {base_url!r} uses http:// on a host that is not loopback; use https://"
        )
    if url.query or url.fragment:
        raise PolicyUsageError(f"policy base URL {base_url!r} must not carry a query or fragment")
    return url


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1); brackets and case do not matter.

    Subdomains of `localhost` are not counted: whether they resolve to this machine depends on
    the resolver, and a server refusing foreign `Host` headers must not rely on that.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PolicyClient:
    """Typed async client for the Policy API of hosted Inherence and inherence-policy-server.

    Use it as an async context manager, or call `aclose()`. One `httpx2.AsyncClient` is kept
    for the client's life so the connection is reused between calls. Pass `transport` to talk
    to an in-process server (`httpx2.ASGITransport`) or a scripted one in tests.

    Every failure is a `PolicyError`: `PolicyAuthError` for a refused key, `PolicyUnreachable`
    when no usable answer arrived. A connect failure is retried once (the request never left);
    nothing is retried after the request was sent.
    """

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeouts: Timeouts | None = None,
        user_agent: str | None = None,
    ) -> None:
        if api_key is not None and (not api_key.strip() or any(c in api_key for c in "\r\n")):
            raise PolicyUsageError("the API key is empty or holds a line break")
        self._base_url = _check_base_url(base_url)
        self._timeouts = timeouts or Timeouts()
        agent = f"inherence-policy-client/{__version__}"
        headers = {"User-Agent": f"{user_agent} {agent}" if user_agent else agent, "Accept": "application/json"}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key}"
        self._has_key = api_key is not None
        self._http = httpx2.AsyncClient(
            base_url=self._base_url,
            headers=headers,
            timeout=self._timeouts.for_httpx(),
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    def __repr__(self) -> str:
        key = "set" if self._has_key else "none"
        return f"PolicyClient(base_url={str(self._base_url)!r}, api_key=<{key}>)"

    @property
    def base_url(self) -> str:
        return str(self._base_url)

    async def __aenter__(self) -> PolicyClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def verify_key(self) -> None:
        """Return when the service accepts the key; raise `PolicyAuthError` when it refuses it."""
        await self._call("POST", "/api/proxy/auth/verify", {})

    async def register(self, upstreams: Sequence[UpstreamRegistration]) -> RegisterResponse:
        path = "/api/proxy/register"
        response = await self._call("POST", path, RegisterRequest(upstreams=list(upstreams)).to_wire())
        return _parse(path, response, RegisterResponse)

    async def classify(self, tools: Sequence[ToolDescription]) -> list[Classification]:
        """Categories for a batch of tools, in the order the service gives them."""
        if not tools:
            return []
        path = "/api/proxy/classify"
        response = await self._call("POST", path, ClassifyRequest(tools=list(tools)).to_wire())
        return _parse(path, response, ClassifyResponse).classifications

    async def decide(self, request: DecideRequest) -> Decision:
        """The decision on one call. Gives it a `request_id` if it has none, the same on a retry."""
        if request.request_id is None:
            request = request.model_copy(update={"request_id": uuid.uuid4().hex})
        path = "/api/proxy/decide"
        return _parse(path, await self._call("POST", path, request.to_wire()), Decision)

    async def report_outcome(self, report: OutcomeReport) -> bool:
        """Tell the server what became of a decided call; False when the server has no such route.

        Sent once: like every call, it is retried only when the connection failed before the
        request left. A 404 or 405 means the server predates outcome reports (hosted Inherence
        may), which is not an error; any other failure raises as `decide` would.
        """
        path = "/api/proxy/outcome"
        try:
            await self._call("POST", path, report.to_wire())
        except PolicyUnreachable as exc:
            if exc.status in (404, 405):
                return False
            raise
        return True

    async def heartbeat(self, heartbeat: Heartbeat) -> None:
        await self._call("POST", "/api/proxy/heartbeat", heartbeat.to_wire())

    async def health(self) -> Health:
        """Health of an inherence-policy-server (no key needed); hosted Inherence may answer 404."""
        path = "/api/proxy/health"
        return _parse(path, await self._call("GET", path, None), Health)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> httpx2.Response:
        """Send one request within the deadline; return a 2xx response or raise."""
        try:
            with anyio.fail_after(self._timeouts.deadline):
                response = await self._request_with_connect_retry(method, path, body)
        except TimeoutError:
            detail = f"no answer within the {self._timeouts.deadline:g} s deadline"
            raise PolicyUnreachable(detail, endpoint=path) from None
        status = response.status_code
        if status in (401, 403):
            raise PolicyAuthError("the API key was refused", endpoint=path, status=status)
        if not 200 <= status < 300:
            raise PolicyUnreachable("no usable answer", endpoint=path, status=status)
        return response

    async def _request_with_connect_retry(self, method: str, path: str, body: dict[str, Any] | None) -> httpx2.Response:
        failure: httpx2.HTTPError | None = None
        for _attempt in range(2):
            try:
                return await self._http.request(method, path, json=body)
            except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
                # The request never left this machine, so sending it again cannot act twice.
                failure = exc
                logger.debug("policy connect for %s failed (%s)", path, type(exc).__name__)
            except httpx2.TimeoutException as exc:
                raise PolicyUnreachable(f"timed out ({type(exc).__name__})", endpoint=path) from None
            except httpx2.HTTPError as exc:
                raise PolicyUnreachable(f"transport failure ({type(exc).__name__})", endpoint=path) from None
        raise PolicyUnreachable(f"cannot connect ({type(failure).__name__})", endpoint=path)


def _parse(path: str, response: httpx2.Response, answer: type[_Answer]) -> _Answer:
    try:
        return answer.model_validate_json(response.content)
    except pydantic.ValidationError as exc:
        kinds = sorted({error["type"] for error in exc.errors(include_input=False, include_url=False)})
        detail = f"malformed answer ({', '.join(kinds)})"
        raise PolicyUnreachable(detail, endpoint=path, status=response.status_code) from None
