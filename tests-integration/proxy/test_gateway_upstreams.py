"""Real upstream processes through a real gateway process: crashes, server-filesystem, list changes, big arguments."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import anyio
import pytest


def error_of(result: Any) -> str | None:
    if not result.is_error:
        return None
    return json.loads(result.content[0].text).get("error")  # type: ignore[no-any-return]


def starts(path: pathlib.Path) -> int:
    return len(path.read_text().split()) if path.exists() else 0


async def back_again(session: Any, tool: str) -> None:
    """Call `tool` until it answers again (its upstream restarted after a short backoff)."""
    for _ in range(400):
        if error_of(await session.call_tool(tool, {"value": "back?"})) is None:
            return
        await anyio.sleep(0.05)
    pytest.fail(f"{tool} did not come back")


async def test_a_crashing_upstream_restarts_under_the_cap_while_another_keeps_answering(kit, tmp_path) -> None:
    started = tmp_path / "starts"
    upstreams = [kit.recording_upstream(tmp_path, STARTS_FILE=str(started)), kit.recording_upstream(tmp_path, "calm")]
    settings = {"restarts_per_minute": 2, "restart_backoff_initial": 0.05, "ready_wait": 10.0}
    async with kit.through_gateway(tmp_path, upstreams, settings=settings) as session:
        for crash in range(3):
            assert (await session.call_tool("rec__record", {"value": crash})).is_error is False
            assert error_of(await session.call_tool("rec__crash", {})) == "UPSTREAM_UNAVAILABLE"
            assert (await session.call_tool("calm__record", {"value": crash})).structured_content is not None
            if crash < 2:
                await back_again(session, "rec__record")
        # Two restarts within a minute is the cap: the third crash leaves it down for the rest of it,
        # its tools gone from the list, while the other upstream answers every call.
        for value in range(20):
            result = await session.call_tool("calm__record", {"value": value})
            assert result.structured_content == {"arguments": {"value": value}}
        down = error_of(await session.call_tool("rec__record", {"value": 1}))
        assert down in ("UPSTREAM_UNAVAILABLE", "TOOL_NOT_FOUND")
        names = {tool.name for tool in (await session.list_tools()).tools}
    assert starts(started) == 3
    assert "calm__record" in names
    assert "rec__record" not in names


async def test_server_filesystem_through_the_gateway_matches_a_direct_connection(kit, tmp_path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    (root / "a.txt").write_text("alpha\nbeta\n")
    (tmp_path / "secret.txt").write_text("outside")
    command = kit.filesystem(root)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("read_text_file", {"path": str(root / "a.txt")}),
        ("read_text_file", {"path": str(root / "a.txt"), "head": 1}),
        ("list_directory", {"path": str(root)}),
        ("read_text_file", {"path": str(tmp_path / "secret.txt")}),
        ("get_file_info", {"path": str(root / "missing")}),
    ]

    async def run(session: Any, prefix: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        tools = {t.name.removeprefix(prefix): t.model_dump(by_alias=True) for t in (await session.list_tools()).tools}
        results = []
        for name, arguments in calls:
            dumped = (await session.call_tool(prefix + name, arguments)).model_dump(by_alias=True)
            results.append({k: v for k, v in dumped.items() if k != "_meta"})
        return tools, results

    async with kit.session_to(command) as direct:
        direct_tools, direct_results = await run(direct, "")
    upstreams = [{"name": "fs", "command": command}]
    async with kit.through_gateway(tmp_path, upstreams) as proxied:
        proxied_tools, proxied_results = await run(proxied, "fs__")
        written = await proxied.call_tool("fs__write_file", {"path": str(root / "new.txt"), "content": "gamma"})
    assert written.is_error is False
    assert (root / "new.txt").read_text() == "gamma"
    assert set(proxied_tools) == set(direct_tools)
    for name, tool in direct_tools.items():
        assert proxied_tools[name] == {**tool, "name": f"fs__{name}"}, name
    assert proxied_results == direct_results
    assert direct_results[0]["content"][0]["text"] == "alpha\nbeta\n"
    assert direct_results[3]["isError"] is True  # outside the allowed folder: the server's own refusal


async def test_a_list_change_of_a_real_server_reaches_the_client(kit, tmp_path) -> None:
    notices: list[anyio.Event] = [anyio.Event()]

    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/resources/list_changed":
            notices[-1].set()

    upstreams = [{"name": "everything", "command": kit.everything()}]
    async with kit.through_gateway(tmp_path, upstreams, message_handler=on_message) as session:
        before = {r.uri for r in (await session.list_resources()).resources}
        # server-everything registers a session resource for the file it compressed, and says so.
        arguments = {"name": "note.gz", "data": "data:text/plain;base64,aGVsbG8=", "outputType": "resourceLink"}
        notices.append(anyio.Event())
        result = await session.call_tool("everything__gzip-file-as-resource", arguments)
        assert result.is_error is False
        # A notice of the gateway's own start-up may still be on its way; each notice after the
        # call is followed by a fresh list, until the new resource is in it.
        after = before
        for _ in range(5):
            with anyio.fail_after(20):
                await notices[-1].wait()
            notices.append(anyio.Event())
            after = {r.uri for r in (await session.list_resources()).resources}
            if after != before:
                break
    assert after - before == {"demo://resource/session/note.gz"}


@pytest.mark.parametrize("limit", [None, 1_000_000], ids=["forwarded", "refused"])
async def test_a_ten_megabyte_argument_is_forwarded_or_refused_clearly(kit, tmp_path, limit) -> None:
    big = "x" * (10 * 1024 * 1024)
    upstreams = [kit.recording_upstream(tmp_path)]
    settings = {"max_message_bytes": limit} if limit else {}
    async with kit.through_gateway(tmp_path, upstreams, settings=settings) as session:
        if limit is None:
            result = await session.call_tool("rec__record", {"value": big})
            assert result.is_error is False
            assert result.structured_content == {"arguments": {"value": big}}
        else:
            with pytest.raises(Exception, match="larger than 1000000 bytes"):
                await session.call_tool("rec__record", {"value": big})
        # the session keeps serving either way
        after = await session.call_tool("rec__record", {"value": "small"})
        assert after.structured_content == {"arguments": {"value": "small"}}
    record = [json.loads(line) for line in (tmp_path / "rec.jsonl").read_text().splitlines()]
    values = [call["params"]["arguments"]["value"] for call in record]
    assert values == ([big, "small"] if limit is None else ["small"])


async def test_the_first_listing_waits_for_an_upstream_slow_to_start(kit, tmp_path) -> None:
    # A server started through npx or a cold cache can take several seconds to answer its handshake; a
    # client that lists once must still see its tools, with the gateway's default settings.
    upstreams = [kit.recording_upstream(tmp_path, "slow", START_DELAY="8"), kit.recording_upstream(tmp_path, "quick")]
    async with kit.through_gateway(tmp_path, upstreams) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
    assert {"slow__record", "quick__record"} <= names
