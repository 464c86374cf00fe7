"""``buzpo login --sandbox``: the README's main command, run as a user runs it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

LOGIN = [sys.executable, "-m", "buzpo_nb.cli", "login", "--sandbox"]


def _run(home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BUZPO_HOME": str(home)}
    return subprocess.run(
        [*LOGIN, *extra], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_links_with_a_qr_then_resumes_without_one(tmp_path: Path) -> None:
    first = _run(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "scan this QR code" in out
    assert "virtual phone 15550000001 scanned the QR" in out
    assert "█" in out  # the QR itself is drawn in the terminal
    assert out.rstrip().endswith("session is open")
    creds_file = tmp_path / "auth" / "default" / "creds.json"
    creds = json.loads(creds_file.read_text())
    assert creds["me"]["id"].startswith("15550000001:")
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600

    second = _run(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming without a QR code" in second.stdout
    assert "scan this QR code" not in second.stdout
    assert "session is open" in second.stdout


def test_links_with_a_pairing_code(tmp_path: Path) -> None:
    result = _run(tmp_path, "--session", "coded", "--pairing-code", "15550000001")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pairing code for 15550000001: " in result.stdout
    assert "virtual phone 15550000001 entered the code" in result.stdout
    assert "session is open" in result.stdout
    assert (tmp_path / "auth" / "coded" / "creds.json").exists()


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    result = _run(tmp_path, "--no-such-flag")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in result.stderr
