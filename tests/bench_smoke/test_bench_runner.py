"""``python bench/run_all.py --quick``: the whole benchmark pipeline runs end to end.

Speed is never asserted (that is what bench/RESULTS.md shows); only that every benchmark ran
against both Buzpo and Baileys and filled both columns of every Summary row, and that
``--no-write`` left bench/RESULTS.md untouched.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "RESULTS.md"

EXPECTED = {
    "send throughput, 1:1",
    "send throughput, group of 3",
    "send → ack p99, group of 3",
    "receive throughput (phones → client, decrypted)",
    "Signal encrypt + decrypt round trips",
    "codec decode, `message`",
    "media encrypt, streamed, 10 MiB",
}


def test_quick_run_fills_both_columns_of_every_row(tmp_path: Path) -> None:
    before = RESULTS.read_bytes() if RESULTS.exists() else None
    out = tmp_path / "summary.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "bench/run_all.py", "--quick", "--no-write", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    metrics = {r["metric"] for r in rows}
    assert metrics >= EXPECTED
    assert any(m.startswith("memory per idle linked session") for m in metrics)
    assert any(m.startswith("reconnect after a dropped socket") for m in metrics)
    for row in rows:
        for side in ("buzpo", "baileys"):
            value = row[side]
            assert isinstance(value, int | float) and math.isfinite(value) and value > 0, row
    assert "## Summary" in proc.stdout and "| metric |" in proc.stdout
    assert (RESULTS.read_bytes() if RESULTS.exists() else None) == before
