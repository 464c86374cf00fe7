"""``python bench/scale.py`` at a tiny size: the scale harness itself works.

Five clients in one process are linked to five virtual phones of a sandbox running in its own
process on a ``--state`` folder; the sandbox is stopped and started again on the same folder and
port, and every client must be ``open`` again by itself; the same with the sessions owned by
the gateway's ``SessionManager``. Only correctness is asserted (every session linked, measured,
and open after the restart, RESULTS.md untouched); the speed and memory figures are what
bench/RESULTS.md shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "RESULTS.md"
SESSIONS = 5


def _run(tmp_path: Path, *extra: str) -> tuple[dict, subprocess.CompletedProcess[str]]:
    out = tmp_path / "scale.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = ["--sessions", str(SESSIONS), "--idle", "0.5", "--link-concurrency", "5", *extra]
    args += ["--baileys", "0", "--gateway", "0", "--no-write", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, "bench/scale.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())["scale"], proc


def test_five_sessions_link_and_all_reopen_after_a_sandbox_restart(tmp_path: Path) -> None:
    before = RESULTS.read_bytes() if RESULTS.exists() else None
    result, _ = _run(tmp_path)
    assert result["sessions"] == SESSIONS
    assert result["closed_by_restart"] == SESSIONS
    assert result["open_after_restart"] == SESSIONS
    assert result["rss_after"] > result["rss_before"] > 0
    assert result["idle_seconds"] > 0
    assert 0 < result["reopen_after_listen"] < result["reopen_after_stop"]
    assert (RESULTS.read_bytes() if RESULTS.exists() else None) == before


def test_the_same_through_the_gateway_session_manager(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, "--via", "gateway")
    assert result["closed_by_restart"] == SESSIONS
    assert result["open_after_restart"] == SESSIONS
    assert result["rss_after"] > result["rss_before"] > 0
