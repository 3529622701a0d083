"""The embedded path: the proxy's PolicyClient answered by this server in-process."""

from __future__ import annotations

import httpx2
import pytest

from inherence_policy_client import (
    DecideRequest,
    Heartbeat,
    PolicyAuthError,
    PolicyClient,
    ToolDescription,
    UpstreamRegistration,
    Verdict,
)
from inherence_policy_server import create_app, issue_key

from .conftest import SCRIPTED_CONFIG, START, scripted_evaluator

BASE = "http://127.0.0.1"


async def test_policy_client_against_the_embedded_server(local_app) -> None:
    async with PolicyClient(None, base_url=BASE, transport=httpx2.ASGITransport(app=local_app)) as client:
        await client.verify_key()
        assert (await client.health()).status == "ok"
        await client.register([UpstreamRegistration(name="mail", transport="stdio", tool_count=2)])
        tools = [
            ToolDescription(name="search_emails", schema_hash="sha256:1", description="Search the inbox"),
            ToolDescription(name="send_email", schema_hash="sha256:2", description="Send an email"),
        ]
        classified = {item.name: item.category for item in await client.classify(tools)}
        assert classified == {"search_emails": "private_data_read", "send_email": "outbound_send"}

        send = DecideRequest(
            tool_name="send_email",
            classification=classified["send_email"],
            arguments={"to": "someone@example.com", "body": "hello"},
            session_id="session-1",
        )
        assert (await client.decide(send)).decision is Verdict.ALLOW
        read = DecideRequest(
            tool_name="search_emails", classification=classified["search_emails"], arguments={}, session_id="session-1"
        )
        assert (await client.decide(read)).allowed
        # The same send in the same session, after the private read: denied with the rule's clause.
        denied = await client.decide(send)
        assert denied.decision is Verdict.DENY
        assert denied.failed_clauses == ["unauthorized_exfiltration.after_read"]
        # Another session has read nothing.
        assert (await client.decide(send.model_copy(update={"session_id": "session-2"}))).allowed
        heartbeat = Heartbeat(proxy_version="0.2.0", upstream_count=1, tool_count=2, classification_cache_size=2)
        await client.heartbeat(heartbeat)
    local_app.flush()
    decisions = local_app.storage.recent_decisions()
    assert [entry.decision for entry in decisions] == ["allow", "deny", "allow", "allow"]
    assert {entry.session_id for entry in decisions} == {"session-1", "session-2"}


async def test_policy_client_with_a_refused_key_raises_auth_error(tmp_path) -> None:
    app = create_app(data_dir=tmp_path, evaluator=scripted_evaluator, config=SCRIPTED_CONFIG, clock=lambda: START)
    issued = issue_key(START)
    app.storage.add_key(issued.record)
    try:
        transport = httpx2.ASGITransport(app=app)
        async with PolicyClient(issued.secret_key, base_url=BASE, transport=transport) as client:
            await client.verify_key()
        async with PolicyClient("inh_000000000000_" + "z" * 43, base_url=BASE, transport=transport) as client:
            with pytest.raises(PolicyAuthError):
                await client.verify_key()
            with pytest.raises(PolicyAuthError):
                await client.decide(DecideRequest(tool_name="t", classification="shell_exec"))
    finally:
        app.close()
