"""The client under test for the conformance suite's client scenarios: `client_driver.py MODE URL`.

The suite starts a scenario's server (and, for `auth/*`, its authorization server), then runs this
with the server's URL appended; `MCP_CONFORMANCE_SCENARIO` names the scenario and
`MCP_CONFORMANCE_CONTEXT` carries what it hands the client (pre-registered credentials).

MODE `direct`: the `mcp` SDK's own client connects to URL itself, with the SDK's OAuth client
(`OAuthClientProvider`), its consent given by following the authorize redirect with httpx.

MODE `proxy`: URL becomes the one upstream of a fresh proxy home (config.json, `tool_names`
"upstream", the embedded policy). For an `auth/*` scenario `inherence-proxy login` runs first, its
browser a headless one (`BROWSER`, following the authorize redirect), with the pre-registered
client or the client ID metadata document URL the scenario expects. Then `inherence-proxy serve`
is started over stdio and the same SDK client drives it as the scenario expects.

Either way the client does the same: initialize, list the tools, and call the scenario's tool.
Exits 1 when that fails (the suite records it; its checks decide the verdict).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp_types import ElicitRequestFormParams, ElicitResult

HERE = pathlib.Path(__file__).resolve().parent
PROXY = pathlib.Path(sys.executable).parent / "inherence-proxy"
BROWSER = HERE.parent / "proxy" / "headless_browser.py"
# The client ID metadata document URL the suite's CIMD scenario expects a client to present.
CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"
REDIRECT_URI = "http://127.0.0.1:3030/callback"
SCENARIO_SECONDS = 75.0
# The tool each scenario's server offers for the client to call (auth scenarios: `test-tool`).
TOOLS = {
    "tools_call": ("add_numbers", {"a": 5, "b": 3}),
    "elicitation-sep1034-client-defaults": ("test_client_elicitation_defaults", {}),
    "sse-retry": ("test_reconnection", {}),
}


def scenario_context() -> dict[str, Any]:
    raw = os.environ.get("MCP_CONFORMANCE_CONTEXT")
    value = json.loads(raw) if raw else {}
    return value if isinstance(value, dict) else {}


async def accept_with_defaults(context: Any, params: Any) -> ElicitResult:
    """Accept an elicitation form with each field's default: what a person pressing OK would send."""
    content: dict[str, Any] = {}
    if isinstance(params, ElicitRequestFormParams):
        properties = params.requested_schema.get("properties", {}) if isinstance(params.requested_schema, dict) else {}
        for name, schema in properties.items():
            if isinstance(schema, dict) and "default" in schema:
                content[name] = schema["default"]
    return ElicitResult(action="accept", content=content)


async def drive(
    session: ClientSession, scenario: str, login_again: Callable[[], Awaitable[None]] | None = None
) -> None:
    """What the scenario expects of a client: initialize, list the tools, call its tool.

    `login_again` is what a person does when a call through the proxy fails because the server
    wants more (a scope step-up): `inherence-proxy login` once more, then the same call again.
    """
    await session.initialize()
    listed = await session.list_tools()
    names = [tool.name for tool in listed.tools]
    if scenario == "initialize":
        return
    name, arguments = TOOLS.get(scenario, ("test-tool", {}))
    if name not in names and names:
        name = names[0]
    result = await session.call_tool(name, arguments)
    if result.is_error and login_again is not None:
        await login_again()
        result = await session.call_tool(name, arguments)
    if result.is_error:
        text = "".join(getattr(item, "text", "") for item in result.content)
        raise RuntimeError(f"{name} failed: {text[:300]}")


# -- direct: the SDK's own client --------------------------------------------------------------


class MemoryStorage:
    def __init__(self, client: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client = client

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class HeadlessConsent:
    """Follows the authorize URL with httpx and keeps the code from the redirect it answers with."""

    def __init__(self) -> None:
        self.result: AuthorizationCodeResult | None = None

    async def redirect(self, url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=10.0) as http:
            answer = await http.get(url)
        query = parse_qs(urlsplit(answer.headers.get("location", "")).query)
        if "code" not in query:
            raise RuntimeError(f"the authorization server answered {answer.status_code} without a code")
        self.result = AuthorizationCodeResult(
            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
        )

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


def direct_auth(url: str) -> OAuthClientProvider:
    context = scenario_context()
    preregistered = None
    if "client_id" in context and "client_secret" in context:
        preregistered = OAuthClientInformationFull(
            client_id=context["client_id"],
            client_secret=context["client_secret"],
            redirect_uris=[REDIRECT_URI],
            token_endpoint_auth_method="client_secret_basic",
        )
    consent = HeadlessConsent()
    metadata = OAuthClientMetadata.model_validate(
        {
            "client_name": "conformance-direct",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }
    )
    return OAuthClientProvider(
        server_url=url,
        client_metadata=metadata,
        storage=MemoryStorage(preregistered),
        redirect_handler=consent.redirect,
        callback_handler=consent.callback,
        client_metadata_url=CLIENT_METADATA_URL,
    )


@contextlib.asynccontextmanager
async def direct_session(url: str) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(auth=direct_auth(url), timeout=10.0) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, elicitation_callback=accept_with_defaults) as session,
    ):
        yield session


# -- proxy: the same client, through inherence-proxy serve --------------------------------------


def _browser_launcher(folder: pathlib.Path) -> pathlib.Path:
    launcher = folder / "headless-browser"
    launcher.write_text(f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(BROWSER)!r}, run_name='__main__')\n")
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    return launcher


def proxy_environment(folder: pathlib.Path, url: str) -> dict[str, str]:
    home = folder / "proxy-home"
    home.mkdir()
    upstream = {"name": "conformance", "transport": "http", "url": url}
    (home / "config.json").write_text(json.dumps({"upstreams": [upstream], "tool_names": "upstream"}))
    env = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TMPDIR") if name in os.environ}
    env.update(HOME=str(folder), INHERENCE_PROXY_HOME=str(home), BROWSER=str(_browser_launcher(folder)))
    return env


def login(env: dict[str, str]) -> None:
    """`inherence-proxy login conformance`, as a user with the scenario's client would run it."""
    context = scenario_context()
    argv = [str(PROXY), "login", "conformance", "--timeout", "15", "--client-metadata-url", CLIENT_METADATA_URL]
    login_env = dict(env)
    if "client_id" in context and "client_secret" in context:
        argv += ["--client-id", context["client_id"]]
        login_env["INHERENCE_OAUTH_CLIENT_SECRET"] = context["client_secret"]
    done = subprocess.run(argv, env=login_env, capture_output=True, text=True, timeout=30, check=False)
    # A refused login is what some scenarios expect (a resource that does not match); serve goes on.
    print(f"login exited {done.returncode}: {done.stdout.strip()} {done.stderr.strip()[-500:]}", file=sys.stderr)


async def through_proxy(url: str, scenario: str) -> None:
    with tempfile.TemporaryDirectory(prefix="conformance-client-") as folder:
        env = proxy_environment(pathlib.Path(folder), url)
        login_again = None
        if scenario.startswith("auth/"):
            await anyio.to_thread.run_sync(login, env)

            async def login_again() -> None:
                await anyio.to_thread.run_sync(login, env)

        params = StdioServerParameters(command=str(PROXY), args=["serve"], env=env)
        async with (
            stdio_client(params, errlog=sys.stderr) as (read, write),
            ClientSession(read, write, elicitation_callback=accept_with_defaults) as session,
        ):
            await drive(session, scenario, login_again)


async def main(mode: str, url: str) -> int:
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    try:
        with anyio.fail_after(SCENARIO_SECONDS):
            if mode == "direct":
                async with direct_session(url) as session:
                    await drive(session, scenario)
            else:
                await through_proxy(url, scenario)
    except Exception as exc:
        print(f"{mode} {scenario}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("direct", "proxy"):
        print("usage: client_driver.py direct|proxy URL", file=sys.stderr)
        sys.exit(2)
    sys.exit(anyio.run(main, sys.argv[1], sys.argv[2]))
