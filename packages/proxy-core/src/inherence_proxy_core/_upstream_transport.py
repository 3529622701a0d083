"""How an upstream is reached: a process on stdio, or the `mcp` SDK's streamable HTTP or SSE client.

Every way gives a `Channel`. Over HTTP the answers are bounded like any other input (a JSON body
over `max_message_bytes` fails its own request), and the last HTTP error status is noted in an
`HttpNote`, because the SDK turns a 401 or a 503 into a bare "Server returned an error response"
and the user needs to know which it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from inherence_proxy_core._channel import Channel, LineChannel, SdkChannel
from inherence_proxy_core._config import GatewaySettings, UpstreamConfig
from inherence_proxy_core._oauth import LoginNote, UpstreamAuth, wants_oauth
from inherence_proxy_core._oauth_store import TokenStore
from inherence_proxy_core._proc_registry import ProcessRegistry
from inherence_proxy_core._spawn import start_upstream_process

if TYPE_CHECKING:
    import httpx2

__all__ = ["HttpNote", "open_upstream_channel"]


class HttpNote(LoginNote):
    """The last HTTP error status an upstream answered with, as `HTTP 401 Unauthorized`.

    `login_reason` is set when the upstream asks for an OAuth login that stored tokens cannot give.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last_error: str | None = None

    async def on_response(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self.last_error = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()


def _bounded_client(
    config: UpstreamConfig, settings: GatewaySettings, note: HttpNote, timeout: httpx2.Timeout, **options: Any
) -> httpx2.AsyncClient:
    import httpx2

    class _BoundedBody(httpx2.AsyncByteStream):
        def __init__(self, stream: httpx2.AsyncByteStream) -> None:
            self._stream = stream

        async def __aiter__(self) -> AsyncIterator[bytes]:
            seen = 0
            async for chunk in self._stream:
                seen += len(chunk)
                if seen > settings.max_message_bytes:
                    # A StreamError is what the SDK turns into an error answer to that one request.
                    raise httpx2.StreamError(f"answer larger than {settings.max_message_bytes} bytes")
                yield chunk

        async def aclose(self) -> None:
            await self._stream.aclose()

    class _BoundedTransport(httpx2.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            response = await super().handle_async_request(request)
            if response.headers.get("content-type", "").lower().startswith("application/json"):
                assert isinstance(response.stream, httpx2.AsyncByteStream)
                response.stream = _BoundedBody(response.stream)
            return response

    headers = {**dict(config.headers), **(options.pop("headers", None) or {})}
    return httpx2.AsyncClient(
        headers=headers,
        timeout=timeout,
        transport=_BoundedTransport(),
        event_hooks={"response": [note.on_response]},
        **options,
    )


@contextlib.asynccontextmanager
async def open_upstream_channel(
    config: UpstreamConfig,
    settings: GatewaySettings,
    *,
    environ: Mapping[str, str],
    registry: ProcessRegistry | None,
    note: HttpNote,
    tokens: TokenStore | None = None,
) -> AsyncIterator[Channel]:
    if config.transport == "stdio":
        with anyio.fail_after(settings.initialize_timeout):
            process = await start_upstream_process(
                config.command, name=config.name, env=config.env, parent_env=environ, cwd=config.cwd, registry=registry
            )
        try:
            yield LineChannel(process.stdout, process.stdin, max_message_bytes=settings.max_message_bytes)
        finally:
            await process.terminate(settings.shutdown_grace)
        return
    import httpx2

    timeout = httpx2.Timeout(settings.initialize_timeout, read=settings.call_timeout)
    auth = None
    if tokens is not None and config.url and wants_oauth(config.headers):
        auth = UpstreamAuth(config.name, config.url, tokens.for_upstream(config.name, config.url), note)
    if config.transport == "http":
        from mcp.client.streamable_http import streamable_http_client

        async with (
            _bounded_client(config, settings, note, timeout, auth=auth) as http,
            streamable_http_client(
                str(config.url), http_client=http, max_sse_event_size=settings.max_message_bytes
            ) as (read, write),
        ):
            yield SdkChannel(read, write, server_side=False)
        return
    from mcp.client.sse import sse_client

    def factory(
        headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None, auth: httpx2.Auth | None = None
    ) -> httpx2.AsyncClient:
        return _bounded_client(config, settings, note, timeout or httpx2.Timeout(None), headers=headers, auth=auth)

    async with sse_client(
        str(config.url),
        headers=dict(config.headers),
        timeout=settings.initialize_timeout,
        sse_read_timeout=settings.call_timeout,
        httpx_client_factory=factory,
        auth=auth,
    ) as (read, write):
        yield SdkChannel(read, write, server_side=False)
