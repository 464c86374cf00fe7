"""Saving a big sandbox world is spaced out, and a clean stop still writes what is pending.

A whole-world save grows with the world (1,000 linked devices with their pre-keys are tens of
MB, see bench/scale.py), so once a save was slow the next one waits a few times its duration;
small worlds keep saving right after each change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from buzpo_nb.sandbox.service import SLOW_SAVE, Sandbox
from buzpo_nb.sandbox.state import StateDir


async def _one_loop_turn() -> None:
    # call_soon callbacks scheduled before this run before it resumes
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_a_small_world_is_saved_right_after_the_change(tmp_path: Path) -> None:
    sandbox = Sandbox(state=StateDir(tmp_path))
    sandbox.create_phone("15551110001")
    await _one_loop_turn()
    assert "15551110001" in StateDir(tmp_path).load().phones


async def test_after_a_slow_save_the_next_waits_but_a_clean_stop_writes_it(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox(state=StateDir(tmp_path))
    sandbox.create_phone("15551110001")
    await _one_loop_turn()
    sandbox._last_save_seconds = max(10.0, SLOW_SAVE)  # as if the world were huge
    sandbox.create_phone("15551110002")
    await _one_loop_turn()
    assert "15551110002" not in StateDir(tmp_path).load().phones  # spaced out, not yet
    await sandbox.close_connections()
    assert "15551110002" in StateDir(tmp_path).load().phones
