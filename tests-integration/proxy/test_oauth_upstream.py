"""A remote upstream behind OAuth 2.1, end to end with real parts.

A real authorization server and the MCP server it protects run on 127.0.0.1
(`oauth_upstream.py`); `inherence-proxy login` is the installed command, its browser a headless
one that follows the authorize redirect (`headless_browser.py`); `serve` is driven by the `mcp`
SDK's client over stdio. Beside the protected upstream sits a local one that must keep serving.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from inherence_proxy_core import TokenStore

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX browser launcher and file modes"),
    # Each test starts several real processes (servers, `login`, `serve`): generous on a busy machine.
    pytest.mark.timeout(300),
]

HERE = pathlib.Path(__file__).parent
EXECUTABLE = pathlib.Path(sys.executable).parent / "inherence-proxy"
LOGIN_REASON = "run inherence-proxy login weather"


@contextlib.contextmanager
def oauth_upstream(*args: str) -> Iterator[dict[str, str]]:
    """The authorization server and its MCP server (`oauth_upstream.py`), ended when the test ends."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "oauth_upstream.py"), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def install_headless_browser(folder: pathlib.Path) -> pathlib.Path:
    """An executable launcher of `headless_browser.py` with this Python (`BROWSER` takes one path)."""
    launcher = folder / "headless-browser"
    script = str(HERE / "headless_browser.py")
    launcher.write_text(f"#!{sys.executable}\nimport runpy\nrunpy.run_path({script!r}, run_name='__main__')\n")
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    return launcher


class Proxy:
    """One proxy home with a protected upstream `weather` and a local upstream `local`."""

    def __init__(self, root: pathlib.Path, urls: dict[str, str], transport: str = "http") -> None:
        self.root = root
        self.urls = urls
        self.home = root / "home"
        self.proxy_home = self.home / ".inherence-proxy"
        self.proxy_home.mkdir(parents=True)
        sandbox = root / "sandbox"
        sandbox.mkdir()
        (sandbox / "notes.txt").write_text("standup at ten\n")
        self.url = urls["mcp"] if transport == "http" else urls["sse"]
        local = {
            "name": "local",
            "command": [sys.executable, "-m", "inherence_proxy._demo_server"],
            "env": {"DEMO_SANDBOX": str(sandbox)},
        }
        remote = {"name": "weather", "transport": transport, "url": self.url}
        (self.proxy_home / "config.json").write_text(json.dumps({"upstreams": [local, remote]}))
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
        self.env = {name: os.environ[name] for name in keep if name in os.environ}
        self.env.update(
            HOME=str(self.home),
            BROWSER=str(install_headless_browser(root)),
            HEADLESS_BROWSER_LOG=str(root / "browser.log"),
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EXECUTABLE), *args], env=self.env, capture_output=True, text=True, timeout=90, check=False
        )

    @property
    def token_path(self) -> pathlib.Path:
        return self.proxy_home / "tokens" / "weather.json"

    def tokens(self) -> Any:
        return TokenStore(self.proxy_home / "tokens").for_upstream("weather", self.url)

    @contextlib.asynccontextmanager
    async def session(self, message_handler: Any = None) -> AsyncIterator[ClientSession]:
        params = StdioServerParameters(command=str(EXECUTABLE), args=["serve"], env=self.env)
        with (self.root / "serve.stderr").open("a") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write, message_handler=message_handler) as session,
            ):
                with anyio.fail_after(60):
                    await session.initialize()
                    yield session

    def stats(self) -> dict[str, Any]:
        return httpx2.get(f"{self.urls['issuer']}/test/stats", timeout=10).json()  # type: ignore[no-any-return]

    def revoke(self, *, refresh: bool) -> None:
        httpx2.post(f"{self.urls['issuer']}/test/revoke", params={"refresh": "1" if refresh else "0"}, timeout=10)

    def secrets_in(self, text: str) -> list[str]:
        record = json.loads(self.token_path.read_text())
        values = [record["tokens"]["access_token"], record["tokens"].get("refresh_token", "")]
        return [value for value in values if value and value in text]


def text_of(result: Any) -> str:
    return "".join(getattr(item, "text", "") for item in result.content)


async def call_weather(session: ClientSession) -> Any:
    return await session.call_tool("weather__forecast", {"city": "Paris"})


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_down_until_login_then_serving(tmp_path: pathlib.Path, transport: str) -> None:
    with oauth_upstream() as urls:
        proxy = Proxy(tmp_path, urls, transport)
        async with proxy.session() as session:
            refused = await call_weather(session)
            local = await session.call_tool("local__read_file", {"path": "notes.txt"})
        assert refused.is_error is True
        assert json.loads(text_of(refused)) == {
            "error": "UPSTREAM_UNAVAILABLE",
            "upstream": "weather",
            "reason": LOGIN_REASON,
        }
        assert text_of(local) == "standup at ten\n"
        status = proxy.cli("status")
        assert "needs a login: weather (run `inherence-proxy login weather`)" in status.stdout, status.stdout

        login = proxy.cli("login", "weather")
        assert login.returncode == 0, login.stderr
        assert "logged in to weather" in login.stdout
        assert "/authorize?" in login.stderr  # the address is printed for a machine with no browser
        assert stat.S_IMODE(proxy.token_path.stat().st_mode) == 0o600
        assert proxy.secrets_in(login.stdout + login.stderr) == []
        assert "access_token" not in (proxy.proxy_home / "config.json").read_text()
        assert (tmp_path / "browser.log").read_text().startswith("200 127.0.0.1:")
        stats = proxy.stats()
        assert stats["grants"] == {"authorization_code": 1, "refresh_token": 0}
        assert stats["resources"] == [proxy.url]  # RFC 8707: the token is asked for this resource
        assert stats["registrations"] == 1  # dynamic client registration

        async with proxy.session() as session:
            answer = await call_weather(session)
        assert text_of(answer) == "sunny in Paris"
        assert json.loads(proxy.cli("status", "--json").stdout)["upstreams"][1]["login"] == "logged in"
        log = (proxy.proxy_home / "proxy.log").read_text()
        assert proxy.secrets_in(log) == []


async def test_an_expired_token_is_refreshed_before_use(tmp_path: pathlib.Path) -> None:
    with oauth_upstream() as urls:
        proxy = Proxy(tmp_path, urls)
        assert proxy.cli("login", "weather").returncode == 0
        first = json.loads(proxy.token_path.read_text())["tokens"]["access_token"]
        proxy.tokens().expire_now()
        async with proxy.session() as session:
            answer = await call_weather(session)
        assert text_of(answer) == "sunny in Paris"
        assert proxy.stats()["grants"] == {"authorization_code": 1, "refresh_token": 1}
        record = json.loads(proxy.token_path.read_text())
        assert record["tokens"]["access_token"] != first
        assert stat.S_IMODE(proxy.token_path.stat().st_mode) == 0o600
        logout = proxy.cli("logout", "weather")
        assert logout.stdout.strip() == "Forgot the tokens of weather."
        assert not proxy.token_path.exists()


async def test_a_refused_token_is_refreshed_and_the_request_retried_once(tmp_path: pathlib.Path) -> None:
    with oauth_upstream() as urls:
        proxy = Proxy(tmp_path, urls)
        assert proxy.cli("login", "weather").returncode == 0
        async with proxy.session() as session:
            assert text_of(await call_weather(session)) == "sunny in Paris"
            proxy.revoke(refresh=False)  # the access token dies before its time, mid-session
            answer = await call_weather(session)
        assert text_of(answer) == "sunny in Paris"
        assert proxy.stats()["grants"] == {"authorization_code": 1, "refresh_token": 1}


async def test_a_refused_refresh_means_login_again_and_the_others_serve_on(tmp_path: pathlib.Path) -> None:
    with oauth_upstream() as urls:
        proxy = Proxy(tmp_path, urls)
        assert proxy.cli("login", "weather").returncode == 0
        proxy.revoke(refresh=True)
        async with proxy.session() as session:
            refused = await call_weather(session)
            local = await session.call_tool("local__read_file", {"path": "notes.txt"})
        assert json.loads(text_of(refused))["reason"] == LOGIN_REASON
        assert text_of(local) == "standup at ten\n"
        assert proxy.stats()["grants"]["authorization_code"] == 1


class LoginWarning:
    """Waits for the client's warning that `weather` is down because it needs a login."""

    def __init__(self) -> None:
        self.seen = anyio.Event()

    async def __call__(self, message: Any) -> None:
        params = getattr(getattr(message, "root", message), "params", None)
        data = getattr(params, "data", None)
        if isinstance(data, dict) and data.get("upstream") == "weather" and data.get("reason") == LOGIN_REASON:
            self.seen.set()


async def test_tokens_refused_while_serving_take_the_upstream_down_until_login(tmp_path: pathlib.Path) -> None:
    with oauth_upstream() as urls:
        proxy = Proxy(tmp_path, urls)
        assert proxy.cli("login", "weather").returncode == 0
        warning = LoginWarning()
        async with proxy.session(warning) as session:
            assert text_of(await call_weather(session)) == "sunny in Paris"
            proxy.revoke(refresh=True)  # the server forgets this login while the proxy serves
            failed = await call_weather(session)
            with anyio.fail_after(30):
                await warning.seen.wait()
            refused = await call_weather(session)
            local = await session.call_tool("local__read_file", {"path": "notes.txt"})
        assert failed.is_error is True
        assert json.loads(text_of(refused)) == {
            "error": "UPSTREAM_UNAVAILABLE",
            "upstream": "weather",
            "reason": LOGIN_REASON,
        }
        assert text_of(local) == "standup at ten\n"


def test_login_names_what_it_cannot_do(tmp_path: pathlib.Path) -> None:
    proxy = Proxy(tmp_path, {"mcp": "http://127.0.0.1:9/mcp", "sse": "http://127.0.0.1:9/sse", "issuer": ""})
    unknown = proxy.cli("login", "nope")
    assert unknown.returncode == 3
    assert "no upstream named 'nope'" in unknown.stderr
    local = proxy.cli("login", "local")
    assert local.returncode == 1
    assert "runs as a local command" in local.stderr
    assert proxy.cli("logout", "weather").stdout.strip() == "No tokens were kept for weather."
    unreachable = proxy.cli("login", "weather", "--no-browser", "--timeout", "20")
    assert unreachable.returncode == 1
    assert "login to weather failed: could not reach" in unreachable.stderr


async def test_init_migrates_a_remote_oauth_server_and_says_it_needs_a_login(tmp_path: pathlib.Path) -> None:
    with oauth_upstream() as urls:
        proxy = Proxy(tmp_path, urls)
        (proxy.proxy_home / "config.json").unlink()
        cursor = proxy.home / ".cursor" / "mcp.json"
        cursor.parent.mkdir(parents=True)
        cursor.write_text(json.dumps({"mcpServers": {"weather": {"url": urls["mcp"]}}}))
        init = proxy.cli("init", "--yes", "--local", "--client", "cursor")
        assert init.returncode == 0, init.stderr
        assert "1 remote upstream(s) need a login (OAuth): weather." in init.stdout, init.stdout
        assert "inherence-proxy login weather" in init.stdout
        upstreams = json.loads((proxy.proxy_home / "config.json").read_text())["upstreams"]
        assert upstreams == [{"name": "weather", "transport": "http", "url": urls["mcp"], "headers": {}}]
        assert proxy.cli("login", "weather").returncode == 0
        entry = json.loads(cursor.read_text())["mcpServers"]["inherence"]
        params = StdioServerParameters(command=entry["command"], args=entry["args"], env=proxy.env)
        with (tmp_path / "cursor.stderr").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                with anyio.fail_after(60):
                    await session.initialize()
                    answer = await call_weather(session)
        assert text_of(answer) == "sunny in Paris"
