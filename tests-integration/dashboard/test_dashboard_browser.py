"""The dashboard in headless Chromium against a real server, with decisions made by a real gateway.

Log in with the token, watch a proxied call arrive in the live feed, change a threshold and
see the next decision change, revoke a key and see its next request refused. A screenshot of
each page goes to artifacts/dashboard/.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from playwright.async_api import Page, async_playwright, expect

from inherence_policy_client import DecideRequest, PolicyAuthError, PolicyClient
from inherence_policy_server.rules import FinancialDrainConfig

from .conftest import ADMIN_TOKEN, chromium_or_skip, gateway_session

ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "artifacts" / "dashboard"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


def payment(recipient: str) -> DecideRequest:
    arguments = {"amount": 50, "currency": "usd", "recipient": recipient}
    return DecideRequest(tool_name="send_payment", classification="payment", arguments=arguments, upstream="payments")


async def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_the_dashboard_in_a_real_browser(policy_server, tmp_path) -> None:
    chromium = chromium_or_skip()
    base = policy_server.base_url
    third_party: list[str] = []
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(chromium), headless=True, args=FLAGS
        )
        context.on("request", lambda r: None if r.url.startswith(base) else third_party.append(r.url))
        page = context.pages[0] if context.pages else await context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        page.set_default_timeout(15_000)

        # Every page asks for the token first.
        await page.goto(f"{base}/keys")
        await expect(page).to_have_url(f"{base}/login")
        await shoot(page, "01-login")
        await page.fill("input[name=token]", "not-the-admin-token")
        await page.click("button[type=submit]")
        await expect(page.get_by_role("alert")).to_have_text("That is not the admin token.")
        await page.fill("input[name=token]", ADMIN_TOKEN)
        await page.click("button[type=submit]")
        await expect(page.get_by_role("heading", name="Decisions")).to_be_visible()

        # A key for the proxy, created in the page and shown once.
        await page.goto(f"{base}/keys")
        await page.fill("input[name=label]", "laptop proxy")
        await page.click("text=Create key")
        api_key = (await page.locator("#new-key").inner_text()).strip()
        assert re.fullmatch(r"inh_[0-9a-f]{12}_[A-Za-z0-9_-]+", api_key)
        await shoot(page, "02-key-created")

        # A real call through the gateway shows up in the live feed without a reload.
        await page.goto(f"{base}/")
        async with gateway_session(tmp_path, base, api_key) as session:
            answer = await session.call_tool("notes__record", {"value": "quarterly notes"})
            assert answer.is_error is False, answer.content
            row = page.locator("#feed tbody tr", has_text="quarterly notes")
            await expect(row).to_be_visible()
            await expect(row).to_contain_text("notes")
            await expect(row).to_contain_text("allow")
            await shoot(page, "03-feed")
            stopped = await session.call_tool("notes__record", {"path": "/home/me/.ssh/id_rsa"})
            assert stopped.is_error is True
            assert json.loads(stopped.content[0].text)["error"] == "POLICY_DENIAL"
            await expect(page.locator("#feed tbody tr", has_text="id_rsa")).to_contain_text("credential_access")

            # A threshold changed in the form decides the next call differently.
            async with PolicyClient(api_key, base_url=base) as policy:
                assert (await policy.decide(payment("vendor-a"))).decision == "allow"
                await page.goto(f"{base}/rules")
                field = page.locator("#financial_drain-new_recipient_limit_cents")
                await field.fill("-1")
                await page.click("text=Save financial_drain")
                await expect(page.locator("#financial_drain .error")).to_contain_text("greater than or equal to 0")
                await shoot(page, "04-rules-invalid")
                assert (await policy.decide(payment("vendor-b"))).decision == "allow"
                await field.fill("1000")
                await page.click("text=Save financial_drain")
                default = FinancialDrainConfig().new_recipient_limit_cents
                changed = f"new_recipient_limit_cents: {default} -> 1000"
                await expect(page.get_by_role("status")).to_contain_text(changed)
                await shoot(page, "05-rules-saved")
                denied = await policy.decide(payment("vendor-c"))
                assert denied.decision == "deny"
                assert "new-recipient limit of 10.00" in (denied.reason or "")
            assert "new_recipient_limit_cents = 1000" in policy_server.config_path.read_text()
            assert "# The team's rules." in policy_server.config_path.read_text()

            await page.goto(f"{base}/?decision=deny")
            await expect(page.locator("#feed tbody tr").first).to_contain_text("financial_drain")
            await page.goto(f"{base}/activity")
            await expect(page.locator("svg.chart")).to_contain_text("financial_drain")
            await shoot(page, "06-activity")
            await page.goto(f"{base}/sessions")
            await shoot(page, "07-sessions")
            await page.locator("#feed, table").first.locator("a").first.click()
            await expect(page.locator("#session tr.stopped")).to_contain_text("id_rsa")
            await expect(page.locator("p.summary")).to_contain_text("2 calls")
            await expect(page.locator("p.summary")).to_contain_text("1 stopped")
            await shoot(page, "08-session")

            # A revoked key: the proxy's next call is refused (fail closed) and never reaches the upstream.
            await page.goto(f"{base}/keys")
            await page.locator("tr", has_text="laptop proxy").get_by_role("button", name="Revoke").click()
            await expect(page.locator("tr", has_text="laptop proxy")).not_to_contain_text("Revoke")
            await shoot(page, "09-key-revoked")
            refused = await session.call_tool("notes__record", {"value": "after revoke"})
            assert refused.is_error is True
            assert json.loads(refused.content[0].text)["error"] == "POLICY_GATE_AUTH"
            async with PolicyClient(api_key, base_url=base) as policy:
                with pytest.raises(PolicyAuthError):
                    await policy.decide(payment("vendor-d"))

        await page.goto(f"{base}/audit")
        await expect(page.locator("#audit")).to_contain_text("key.revoke")
        await expect(page.locator("#audit")).to_contain_text("rules.change")
        await shoot(page, "10-admin-log")
        await context.close()
    assert third_party == []
    assert "after revoke" not in (tmp_path / "notes.jsonl").read_text()
