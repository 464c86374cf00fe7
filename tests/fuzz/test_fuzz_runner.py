"""``bench/fuzz.py``, the long fuzzing run: it runs end to end, and it reports what it exists to
report (an untyped exception, an input that runs too long) with a reproducer that replays."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import fuzz_targets as ft
import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "RESULTS.md"


def load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("buzpo_bench_fuzz", ROOT / "bench" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_short_run_covers_every_target_and_writes_nothing() -> None:
    before = RESULTS.read_bytes()
    proc = subprocess.run(
        [sys.executable, "bench/fuzz.py", "--inputs", "4000", "--no-write"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for target in ft.targets():
        assert f"| {target.name} |" in proc.stdout
    assert "Findings in this run: none" in proc.stdout
    assert "| 0 |" in proc.stdout and "| 1 |" in proc.stdout  # two workers, RSS columns
    assert RESULTS.read_bytes() == before


def _fake_target(data: bytes) -> None:
    if data[:1] == b"S":
        time.sleep(3)  # a hang, as far as a 0.2 s limit is concerned
    if data[:1] == b"B":
        raise IndexError("an untyped error")


def test_untyped_errors_and_timeouts_are_reported_with_reproducers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = load_runner()
    fake = ft.Target("fake", (b"S", b"B", b"ok"), _fake_target)
    monkeypatch.setattr(runner.ft, "targets", lambda: (fake,))
    monkeypatch.setattr(runner.ft, "target", lambda name: fake)
    monkeypatch.setattr(runner, "FINDINGS", tmp_path / "findings")
    monkeypatch.setattr(runner, "ROOT", tmp_path)
    out: queue.Queue = queue.Queue()
    runner.worker(0, [("fake", 200)], 0.2, out)
    results = []
    while not out.empty():
        kind, _index, value = out.get_nowait()
        if kind == "result":
            results.append(value)
    [result] = results
    assert result["counts"] == {"fake": 200}
    assert result["timeouts"], "the sleeping input was not caught by the per-input limit"
    [finding] = result["findings"]
    assert finding["error"] == "IndexError: an untyped error" and finding["count"] >= 1
    saved = json.loads((tmp_path / finding["file"]).read_text())
    assert saved["target"] == "fake" and bytes.fromhex(saved["hex"])[:1] == b"B"
    with pytest.raises(IndexError):
        runner.replay(tmp_path / finding["file"])
    text = runner.render(
        {
            "counts": result["counts"],
            "total": 200,
            "wall": 1.0,
            "workers": [result],
            "findings": [finding],
            "timeouts": result["timeouts"],
            "timeout": 0.2,
        }
    )
    assert "untyped" in text and finding["file"] in text
