"""The quickstart notebook in a real JupyterLab, in a real browser (Debian's Chromium driven by
Playwright): run every cell, see the QR image render in the QR widget, then the status widget
turn to ``open``. A screenshot lands in ``tests/artifacts/`` (git-ignored) for CI.

JupyterLab runs headless as a subprocess with its own Jupyter dirs, so its ``python3`` kernel is
this interpreter; ``expose_app_in_browser`` gives us ``window.jupyterapp`` to run commands.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Installed before "Run All": remembers every QR <img> the widget shows and, once the browser has
# decoded it, its size — the QR is hidden again as soon as the virtual phone has scanned it.
WATCH_QR = """() => {
  window.__buzpoQr = [];
  const seen = (img) => {
    if (!img.src || img.__buzpoSeen === img.src) return;
    img.__buzpoSeen = img.src;
    const src = img.src;
    const record = () => window.__buzpoQr.push(
      {src: src.slice(0, 40), width: img.naturalWidth, height: img.naturalHeight});
    if (img.complete && img.naturalWidth) record(); else img.addEventListener('load', record);
  };
  const scan = () => document.querySelectorAll(
    '.jp-OutputArea-output .widget-vbox .widget-image').forEach(seen);
  new MutationObserver(scan).observe(document.body,
    {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  scan();
}"""

KERNEL_IDLE = """() => {
  const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = nb && nb.sessionContext && nb.sessionContext.session
    && nb.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && nb.content.widgets.length > 0;
}"""

# Code cells before the last one ("session.close(); sb.stop()") ran, and the kernel is idle.
RAN_ALL_BUT_LAST = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  const code = nb.content.widgets.filter((c) => c.model.type === 'code');
  return nb.sessionContext.session.kernel.status === 'idle'
    && code.slice(0, -1).every((c) => c.model.executionCount !== null)
    && code[code.length - 1].model.executionCount === null;
}"""

# Select the last cell and run everything above it (the session stays open to look at).
RUN_ALL_ABOVE_LAST = """async () => {
  const app = window.jupyterapp;
  const nb = app.shell.currentWidget.content;
  nb.activeCellIndex = nb.widgets.length - 1;
  await app.commands.execute('notebook:run-all-above');
}"""

RUN_LAST = """async () => {
  const app = window.jupyterapp;
  const nb = app.shell.currentWidget.content;
  nb.activeCellIndex = nb.widgets.length - 1;
  await app.commands.execute('notebook:run-cell');
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _drain(proc: subprocess.Popen, lines: list[str], running: threading.Event) -> None:
    """Keep reading the server's log (so it never blocks on a full pipe); flag when it runs."""
    for line in proc.stdout:
        lines.append(line)
        if "is running at" in line or "/lab?token=" in line:
            running.set()
    running.set()  # exited: let the waiter see it at once


def _status(url: str, proc: subprocess.Popen, timeout: float) -> dict:
    """GET /api/status. The server logs "is running at" just before its loop binds the port
    (the bind is the loop's first callback), so a refused connection is retried until then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
                return json.load(response)
        except urllib.error.URLError as error:
            refused = isinstance(error.reason, ConnectionRefusedError)
            if not refused or proc.poll() is not None or time.monotonic() > deadline:
                raise


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    jupyter = tmp_path / "jupyter"
    kernel_dir = jupyter / "path" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3",
                "language": "python",
            }
        )
    )
    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_PATH": str(jupyter / "path"),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
        "BUZPO_HOME": str(tmp_path / "home"),
        "MPLBACKEND": "Agg",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--IdentityProvider.token={token}",
            "--allow-root",  # CI containers run as root
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    running = threading.Event()
    threading.Thread(target=_drain, args=(proc, lines, running), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert running.wait(timeout=90), "jupyter lab did not start:\n" + "".join(lines)
        assert proc.poll() is None, "jupyter lab exited:\n" + "".join(lines)
        assert "started" in _status(f"{base}/api/status?token={token}", proc, 30)
        yield f"{base}/lab/tree/01-quickstart.ipynb?reset&token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.timeout(180)
def test_quickstart_runs_in_jupyterlab_in_chromium(lab: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.goto(lab, timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=90_000, polling=200)
            page.evaluate(WATCH_QR)
            page.evaluate(RUN_ALL_ABOVE_LAST)
            page.wait_for_function(RAN_ALL_BUT_LAST, timeout=120_000, polling=250)

            errors = page.locator('[data-mime-type="application/vnd.jupyter.error"]')
            assert errors.count() == 0, errors.all_inner_texts()

            qr_images = page.evaluate("() => window.__buzpoQr")
            assert qr_images, "the QR widget never showed an image"
            # ipywidgets' Image view shows its PNG bytes through a blob: URL (not a data: URL); the
            # browser decoded it to a square image the size qr_png draws (box 6 px, > 100 px)
            assert all(i["src"].startswith("blob:") for i in qr_images), qr_images
            assert all(i["width"] == i["height"] >= 100 for i in qr_images), qr_images

            # the QR widget now says who is linked; the status widget lists the session as open
            linked = page.locator(".widget-html b", has_text="Linked as +15550000001")
            assert linked.is_visible()
            status_row = page.locator(".widget-html table tr", has_text="quickstart")
            assert status_row.locator("td").all_inner_texts() == [
                "quickstart",
                "+15550000001",
                "open",
                "",
            ]
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-quickstart.png"), full_page=True)

            # the last cell closes the session: the status widget follows live (background thread)
            page.evaluate(RUN_LAST)
            closed = status_row.locator("td").nth(2)
            closed.filter(has_text="close").wait_for(timeout=60_000)
            errors = page.locator('[data-mime-type="application/vnd.jupyter.error"]')
            assert errors.count() == 0, errors.all_inner_texts()
        finally:
            browser.close()
