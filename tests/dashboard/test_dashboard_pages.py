"""The dashboard's newer pages and controls in Debian's Chromium against a real gateway and
sandbox: link by pairing code, approve a pairing request that arrived live, compose with an
attachment (thumbnails both ways), reconnect state, sessions and webhook deliveries changing
live from elsewhere. Screenshots go to ``tests/artifacts/``."""

from __future__ import annotations

from dashboard_browser import (
    closed_port,
    logged_in_page,
    shot,
    tab_stops_without_focus_ring,
    unlabelled_controls,
)
from dashboard_support import TIMEOUT, admin_client, link_session, new_number, png
from playwright.async_api import Browser, expect

from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.sandbox import SandboxServer


async def test_link_with_a_pairing_code_turns_open_without_reload(
    browser: Browser, dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    number = new_number()
    sandbox.sandbox.create_phone(number)
    page = await logged_in_page(browser, dash_gateway)
    await page.get_by_label("Name", exact=True).fill("By code")
    await page.get_by_role("button", name="Create session").click()
    await page.get_by_role("link", name="By code").click()
    await page.evaluate("window.__sameDocument = true")
    await expect(page.get_by_test_id("qr")).to_be_visible()  # the page started linking

    await page.get_by_label("Phone number (international)").fill(f"+{number}")
    await page.keyboard.press("Enter")  # the form submits from the keyboard
    code_el = page.get_by_test_id("pairing-code")
    await expect(code_el).to_be_visible()
    code = await code_el.get_attribute("data-code") or ""
    assert len(code) == 8, code
    await expect(code_el).to_have_text(f"{code[:4]}-{code[4:]}")
    await shot(page, "session-pairing-code")

    await sandbox.sandbox.link(number, code=code)
    await expect(page.get_by_test_id("status")).to_have_text("open")
    await expect(page.get_by_test_id("linked-number")).to_have_text(f"+{number}")
    await expect(code_el).to_be_hidden()  # the linking form goes away once linked
    assert await page.evaluate("window.__sameDocument") is True


async def test_a_pairing_request_appears_live_and_is_approved(
    browser: Browser, dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    stranger = new_number()
    sandbox.sandbox.create_phone(stranger)
    async with admin_client(dash_gateway) as api:
        sid, number = await link_session(api, dash_gateway, sandbox, dmPolicy="pairing")
        page = await logged_in_page(browser, dash_gateway)
        await page.get_by_role("link", name="Pairing requests").click()
        await expect(page.get_by_text("No pending requests.")).to_be_visible()
        await page.evaluate("window.__sameDocument = true")

        # A stranger writes: held, a code goes back, and the request shows up by itself.
        sandbox.sandbox.send_message(stranger, number, "hello, may I?")
        row = page.locator("tr[data-pairing]")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text(f"+{stranger}")
        [pending] = (await api.get(f"/api/sessions/{sid}/pairing")).json()
        await expect(row.locator("code")).to_have_text(pending["code"])
        assert pending["heldMessages"] == 1
        await shot(page, "pairing-requests")

        await page.get_by_role("button", name=f"Approve +{stranger}").click()
        await expect(row).to_have_count(0)
        await expect(page.get_by_role("status").filter(has_text="Approved")).to_contain_text(
            "1 held message(s) delivered"
        )
        assert (await api.get(f"/api/sessions/{sid}/pairing")).json() == []
        msgs = (await api.get(f"/api/sessions/{sid}/messages")).json()
        assert [(m["text"], m["held"]) for m in msgs if m["direction"] == "in"] == [
            ("hello, may I?", False)
        ]

        # Approved elsewhere (another tab, a script): the row goes away here too.
        other = new_number()
        sandbox.sandbox.create_phone(other)
        sandbox.sandbox.send_message(other, number, "me too")
        await expect(row).to_have_count(1)
        [pending] = (await api.get(f"/api/sessions/{sid}/pairing")).json()
        approved = await api.post(f"/api/sessions/{sid}/pairing/{pending['code']}/approve")
        assert approved.status_code == 200
        await expect(row).to_have_count(0)
        assert await page.evaluate("window.__sameDocument") is True


async def test_compose_with_an_attachment_shows_thumbnails_both_ways(
    browser: Browser, dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    async with admin_client(dash_gateway) as api:
        sid, number = await link_session(api, dash_gateway, sandbox)  # no webhook URL
    page = await logged_in_page(browser, dash_gateway)
    await page.goto(f"{dash_gateway.url}/#/session/{sid}")
    await expect(page.get_by_test_id("status")).to_have_text("open")

    # A plain text first: with no webhook, its tick still moves on by itself.
    await page.get_by_label("To (number)").fill(friend)
    await page.get_by_label("Message", exact=True).fill("Text first")
    await page.get_by_role("button", name="Send").click()
    text_tick = page.locator("li.msg.out", has_text="Text first").locator("[data-status]")
    await expect(text_tick).to_have_attribute("data-status", "delivered")

    # Then an image with a caption.
    await page.get_by_label("Attachment (optional)").set_input_files(
        {"name": "chart.png", "mimeType": "image/png", "buffer": png(160, 120)}
    )
    await page.get_by_label("Message", exact=True).fill("Our chart")
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("li.msg.out", has_text="Our chart")).to_be_visible()
    await sandbox.sandbox.wait_until(
        lambda: any(m.media is not None for m in sandbox.sandbox.messages(friend)), TIMEOUT
    )
    [got] = [m for m in sandbox.sandbox.messages(friend) if m.media is not None]
    assert got.media is not None and got.media.media_type == "image"
    assert got.media.caption == "Our chart"
    out = page.locator("li.msg.out", has_text="Our chart")
    out_thumb = out.get_by_test_id("thumbnail")
    await expect(out_thumb).to_be_visible()
    await expect(out.locator("[data-status]")).to_have_attribute("data-status", "delivered")
    assert await out_thumb.evaluate("img => img.naturalWidth") > 0
    assert await page.get_by_label("Attachment (optional)").input_value() == ""

    # The phone answers with a photo: it appears with its preview.
    sandbox.sandbox.send_media(friend, number, png(90, 90, (20, 120, 220)), "image", caption="Mine")
    in_thumb = page.locator("li.msg.in", has_text="Mine").get_by_test_id("thumbnail")
    await expect(in_thumb).to_be_visible()
    assert await in_thumb.evaluate("img => img.naturalWidth") > 0
    await shot(page, "session-media")


async def test_the_session_page_shows_reconnecting_then_open(
    browser: Browser, dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    async with admin_client(dash_gateway) as api:
        sid, _ = await link_session(api, dash_gateway, sandbox)
    jid = dash_gateway.services.sessions.client(sid).me.jid  # type: ignore[union-attr]
    page = await logged_in_page(browser, dash_gateway)
    await page.goto(f"{dash_gateway.url}/#/session/{sid}")
    await expect(page.get_by_test_id("status")).to_have_text("open")

    sandbox.sandbox.arm_fault("stream_error", jid=jid, code=503)
    log = page.get_by_test_id("connection-log")
    await expect(log).to_contain_text("closed (503")
    await expect(log).to_contain_text("reconnecting")
    await expect(page.get_by_test_id("status")).to_have_text("open")
    await expect(log.locator("li").first).to_contain_text("open")
    await shot(page, "session-reconnect")

    # A drop too: the same story.
    sandbox.sandbox.arm_fault("drop", jid=jid)
    await expect(log.locator("li", has_text="closed")).to_have_count(2)
    await expect(page.get_by_test_id("status")).to_have_text("open")


async def test_sessions_and_deliveries_change_live_from_elsewhere(
    browser: Browser, dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    page = await logged_in_page(browser, dash_gateway)
    await page.evaluate("window.__sameDocument = true")
    rows = page.locator("tr[data-session]")
    async with admin_client(dash_gateway) as api:
        # Another tab (here the REST API) creates and deletes a session.
        sid = (await api.post("/api/sessions", json={"name": "From elsewhere"})).json()["id"]
        await expect(page.locator(f"tr[data-session='{sid}']")).to_contain_text("From elsewhere")
        await api.delete(f"/api/sessions/{sid}")
        await expect(rows).to_have_count(0)

        # The deliveries page follows each attempt of a webhook nobody answers.
        await page.get_by_role("link", name="Webhooks").click()
        await expect(page.get_by_text("No session has a webhook URL.")).to_be_visible()
        hook = f"http://127.0.0.1:{closed_port()}/hook"
        linked, _ = await link_session(api, dash_gateway, sandbox, webhookUrl=hook)
        delivery = page.locator("tr[data-delivery]").first
        await expect(delivery).to_be_visible()
        attempts = delivery.locator("td").nth(2)
        await expect(attempts).not_to_have_text("0")
        event_id = await delivery.get_attribute("data-delivery")
        rows_now = (await api.get(f"/api/sessions/{linked}/webhooks/deliveries")).json()
        assert any(d["id"] == event_id and d["attempts"] >= 1 for d in rows_now)
        await expect(delivery.get_by_test_id("status")).to_have_text("dead")
    assert await page.evaluate("window.__sameDocument") is True


async def test_every_page_is_labelled_and_keyboard_focus_is_visible(
    browser: Browser, dash_gateway: GatewayServer, sandbox: SandboxServer
) -> None:
    friend = new_number()
    sandbox.sandbox.create_phone(friend)
    async with admin_client(dash_gateway) as api:
        linked, number = await link_session(api, dash_gateway, sandbox, dmPolicy="pairing")
        fresh = (await api.post("/api/sessions", json={"name": "Unlinked"})).json()["id"]
        await api.post(
            f"/api/sessions/{linked}/send?internal=1", json={"to": friend, "text": "hello"}
        )
    stranger = new_number()
    sandbox.sandbox.create_phone(stranger)
    sandbox.sandbox.send_message(stranger, number, "a stranger writes")
    page = await logged_in_page(browser, dash_gateway)
    pages = {
        "#/sessions": page.get_by_role("heading", name="All sessions"),
        f"#/session/{fresh}": page.get_by_test_id("qr"),
        f"#/session/{linked}": page.locator("li.msg.out", has_text="hello"),
        "#/keys": page.get_by_role("heading", name="Keys"),
        "#/webhooks": page.get_by_role("heading", name="Webhook deliveries"),
        "#/pairing": page.locator("tr[data-pairing]"),
    }
    for hash_, ready in pages.items():
        await page.goto(f"{dash_gateway.url}/{hash_}")
        await expect(ready.first).to_be_visible()
        assert await unlabelled_controls(page) == [], hash_
        assert await tab_stops_without_focus_ring(page) == [], hash_
