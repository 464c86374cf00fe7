"""``buzpo sandbox`` as a user runs it: a process that prints its URLs and stops on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

SANDBOX = [sys.executable, "-m", "buzpo_nb.cli", "sandbox"]


def test_serves_until_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*SANDBOX, "--port", "0", "--phone", "15551234567", "--state", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # blocks until the banner is printed (the server is up)
            lines.append(line)
            if line.startswith("Phone "):
                break
        banner = "".join(lines)
        ws_url = re.search(r"ws://127\.0\.0\.1:\d+/ws/chat", banner)
        http_url = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert ws_url and http_url, banner
        with urllib.request.urlopen(f"{http_url.group(0)}/sandbox/phones", timeout=5) as resp:
            phones = json.load(resp)
        assert [p["number"] for p in phones] == ["15551234567"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "world.json").exists()


def test_bad_arguments_are_reported(tmp_path: Path) -> None:
    bad_phone = subprocess.run(
        [*SANDBOX, "--port", "0", "--phone", "+1-555"], capture_output=True, text=True, timeout=30
    )
    assert bad_phone.returncode == 2
    assert "--phone +1-555" in bad_phone.stderr

    (tmp_path / "world.json").write_text("not json")
    bad_state = subprocess.run(
        [*SANDBOX, "--port", "0", "--state", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad_state.returncode == 2
    assert "world.json" in bad_state.stderr
