"""The dashboard in a real Chromium (Debian's, driven by Playwright) against a real gateway and
sandbox: log in, create a session, see its QR, a sandbox phone links it and the page turns
``open`` without a reload, compose a message the phone receives, the phone's reply appears,
mint and revoke an API key, replay a webhook delivery. Screenshots go to ``tests/artifacts/``."""

from __future__ import annotations

import httpx
from dashboard_browser import MS, closed_port, logged_in_page, shot
from dashboard_support import TIMEOUT, new_number
from playwright.async_api import Browser, expect

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


async def test_login_is_required_and_a_wrong_token_is_refused(
    browser: Browser, dash_gateway: GatewayServer
) -> None:
    page = await (await browser.new_context()).new_page()
    page.set_default_timeout(MS)
    await page.goto(dash_gateway.url + "/")
    await page.get_by_label("Admin token").fill("bzadm_wrong")
    await page.keyboard.press("Enter")  # keyboard only
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await shot(page, "login")
    cookies = await page.context.cookies()
    assert not cookies

    # Dark scheme on a phone-sized screen: same page, dark colours, still usable.
    dark = await browser.new_context(color_scheme="dark", viewport={"width": 390, "height": 760})
    page = await dark.new_page()
    page.set_default_timeout(MS)
    await page.goto(dash_gateway.url + "/")
    await page.get_by_label("Admin token").fill(dash_gateway.admin_token.value)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 20, 23)"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing overflows sideways
    await shot(page, "sessions-dark-mobile")
    await dark.close()


async def test_link_compose_reply_keys_and_webhooks_in_chromium(
    browser: Browser, dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    gw = dash_gateway
    number, friend = new_number(), new_number()
    sandbox.sandbox.create_phone(number)
    sandbox.sandbox.create_phone(friend)
    page = await logged_in_page(browser, gw)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "buzpo_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # Create a session (with a webhook nobody answers, for the deliveries page).
    await page.get_by_label("Name", exact=True).fill("Support line")
    await page.get_by_label("Webhook URL (optional)").fill(f"http://127.0.0.1:{closed_port()}/hook")
    await page.get_by_label("DM policy").select_option("open")
    await page.get_by_role("button", name="Create session").click()
    await expect(page.get_by_text("Webhook signing secret (shown once)")).to_be_visible()
    row = page.locator("tr[data-session]")
    await expect(row).to_have_count(1)
    await shot(page, "sessions")

    # Its page shows a QR image, by itself.
    await page.get_by_role("link", name="Support line").click()
    qr = page.get_by_test_id("qr")
    await expect(qr).to_be_visible()
    assert (await qr.get_attribute("src") or "").startswith("data:image/png;base64,")
    await expect(page.get_by_test_id("status")).to_have_text("qr")
    await shot(page, "session-qr")

    await page.evaluate("window.__sameDocument = true")
    sid = page.url.rsplit("/", 1)[-1]
    auth = {"Authorization": f"Bearer {gw.admin_token.value}"}
    async with httpx.AsyncClient(base_url=gw.url, timeout=TIMEOUT, headers=auth) as api:
        # A new QR (here forced by a refresh) replaces the shown one with no reload.
        first = await qr.get_attribute("src")
        state = (await api.post(f"/api/sessions/{sid}/qr?refresh=1")).json()
        await expect(qr).not_to_have_attribute("src", first or "")
        state = (await api.post(f"/api/sessions/{sid}/qr")).json()
        await expect(qr).to_have_attribute("src", state["qr"])

        # A sandbox phone scans it; the page turns open with no reload.
        assert state["status"] == "qr"
        await sandbox.sandbox.link(number, qr=state["qrString"])
        await expect(page.get_by_test_id("status")).to_have_text("open")
        await expect(page.get_by_test_id("linked-number")).to_have_text(f"+{number}")
        assert await page.evaluate("window.__sameDocument") is True

        # Compose: the phone receives it; the message shows with its tick.
        seen = len(sandbox.sandbox.messages(friend))
        await page.get_by_label("To (number)").fill(friend)
        await page.get_by_label("Message", exact=True).fill("Hello from the dashboard")
        await page.get_by_role("button", name="Send").click()
        # (sandbox.wait_until: nested asyncio.timeout()s can swallow the outer one on 3.11)
        await sandbox.sandbox.wait_until(
            lambda: any(
                m.text == "Hello from the dashboard" for m in sandbox.sandbox.messages(friend)
            ),
            TIMEOUT,
        )
        assert len(sandbox.sandbox.messages(friend)) > seen
        out = page.locator("li.msg.out", has_text="Hello from the dashboard")
        await expect(out).to_be_visible()

        # The phone replies; it appears live.
        sandbox.sandbox.send_message(friend, number, "Thanks, got it")
        await expect(page.locator("li.msg.in", has_text="Thanks, got it")).to_be_visible()
        await expect(out.locator("[data-status]")).to_have_attribute("data-status", "delivered")
        # Reply to it from its message (keyboard reachable button).
        await (
            page.locator("li.msg.in", has_text="Thanks, got it")
            .get_by_role("button", name="Reply")
            .click()
        )
        await expect(page.get_by_label("To (number)")).to_have_value(friend)
        await page.keyboard.type("You are welcome")
        await page.get_by_role("button", name="Send").click()
        await expect(page.locator("li.msg.out", has_text="You are welcome")).to_be_visible()
        await sandbox.sandbox.wait_until(
            lambda: any(m.text == "You are welcome" for m in sandbox.sandbox.messages(friend)),
            TIMEOUT,
        )
        await shot(page, "session-open")

        # API keys: mint (shown once, copy button), list, revoke.
        await page.get_by_role("link", name="API keys").click()
        await page.get_by_label("Label", exact=True).fill("ci bot")
        await page.get_by_role("button", name="Mint key").click()
        key = await page.get_by_label("New API key").input_value()
        assert key.startswith("wsk_")
        await expect(page.get_by_role("button", name="Copy")).to_be_visible()
        assert (
            await api.get("/api/v1/messages/m_x", headers={"Authorization": f"Bearer {key}"})
        ).status_code == 404
        await shot(page, "api-keys")
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_role("button", name="Revoke key ci bot").click()
        await expect(page.locator("tr[data-key]").get_by_test_id("status")).to_have_text("revoked")
        assert (
            await api.get("/api/v1/messages/m_x", headers={"Authorization": f"Bearer {key}"})
        ).status_code == 401

    # Webhook deliveries: listed with status and attempts; replay adds a replayed delivery.
    await page.get_by_role("link", name="Webhooks").click()
    rows = page.locator("tr[data-delivery]")
    await expect(rows.first).to_be_visible()
    before = await rows.count()
    await rows.first.get_by_role("button", name="Replay").click()
    await expect(rows).to_have_count(before + 1)
    await expect(page.get_by_text("(replay)").first).to_be_visible()
    await shot(page, "webhooks")

    # Delete with confirmation.
    await page.get_by_role("link", name="Sessions").click()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete session Support line").click()
    await expect(page.locator("tr[data-session]")).to_have_count(0)


async def test_the_page_reconnects_by_itself_after_a_server_restart(
    browser: Browser, dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    gw = dash_gateway
    page = await logged_in_page(browser, gw)
    await page.evaluate("window.__sameDocument = true")
    port = gw.port
    # Stop the server: the stream drops and the page says so.
    await gw.stop()
    await expect(page.locator("#live")).not_to_have_text("live")
    restarted = GatewayServer(gw.settings.with_(port=port), session_options=None)
    async with restarted:
        await expect(page.locator("#live")).to_have_text("live")
        # Live again in the same document: a session linked from elsewhere (its QR is a
        # pushed session event) shows up with no reload.
        async with httpx.AsyncClient(
            base_url=restarted.url,
            timeout=TIMEOUT,
            headers={"Authorization": f"Bearer {restarted.admin_token.value}"},
        ) as api:
            sid = (await api.post("/api/sessions", json={"name": "After restart"})).json()["id"]
            await api.post(f"/api/sessions/{sid}/qr")
        await expect(page.locator(f"tr[data-session='{sid}']")).to_be_visible()
        assert await page.evaluate("window.__sameDocument") is True
        await page.context.close()
