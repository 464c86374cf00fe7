"""Chromium helpers for the dashboard tests (Debian's chromium driven by Playwright): log in,
save screenshots to ``tests/artifacts/``."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from dashboard_support import TIMEOUT
from playwright.async_api import Browser, Page, expect

from buzpo_nb.gateway.server import GatewayServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
MS = int(TIMEOUT * 1000)
expect.set_options(timeout=MS)


async def logged_in_page(browser: Browser, gw: GatewayServer, **context: object) -> Page:
    """A fresh browser context on the dashboard, logged in with the admin token (by form)."""
    ctx = await browser.new_context(viewport={"width": 1100, "height": 760}, **context)  # type: ignore[arg-type]
    page = await ctx.new_page()
    page.set_default_timeout(MS)
    await page.goto(gw.url + "/")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await page.get_by_label("Admin token").fill(gw.admin_token.value)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    await expect(page.locator("#live")).to_have_text("live")
    return page


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def debian_chromium_version() -> str:
    return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


UNLABELLED = """() => {
  const bad = [];
  for (const el of document.querySelectorAll("input, select, textarea, button, a[href], img")) {
    if (el.type === "hidden" || el.closest("[hidden]") || el.closest("template")) continue;
    const labels = el.labels ? [...el.labels].map((l) => l.textContent).join("").trim() : "";
    const own = ["BUTTON", "A"].includes(el.tagName) ? el.textContent.trim() : "";
    const name = (el.getAttribute("aria-label") || "").trim() || labels || own ||
      (el.tagName === "IMG" ? (el.getAttribute("alt") || "").trim() : "");
    if (!name) bad.push(el.outerHTML.slice(0, 100));
  }
  return bad;
}"""


async def unlabelled_controls(page: Page) -> list[str]:
    """Controls (and images) a screen reader could not name: none is the goal."""
    bad: list[str] = await page.evaluate(UNLABELLED)
    return bad


async def tab_stops_without_focus_ring(page: Page, stops: int = 12) -> list[str]:
    """Press Tab ``stops`` times from the top; every focused control must show an outline."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await page.locator("body").focus()
    missing = []
    for _ in range(stops):
        await page.keyboard.press("Tab")
        style = await page.evaluate(
            """() => { const el = document.activeElement; if (!el || el === document.body)
                return null; const s = getComputedStyle(el);
                return [el.outerHTML.slice(0, 80), s.outlineStyle, s.outlineWidth]; }"""
        )
        if style is not None and (style[1] == "none" or style[2] in ("0px", "")):
            missing.append(style[0])
    return missing
