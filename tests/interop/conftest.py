"""Interop suite set-up: make sure the pinned Baileys install exists before any test runs.

`python -m pytest` is the project's one test command, so it must work on a fresh clone: when
`node_modules` is missing or older than the lockfile, run `npm ci` (the lockfile pins Baileys
7.0.0-rc.9 and libsignal 6.0.0). A failure here fails the run loudly; interop tests never skip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

INTEROP_DIR = Path(__file__).parent
LOCKFILE = INTEROP_DIR / "package-lock.json"
STAMP = INTEROP_DIR / "node_modules" / ".package-lock.json"


def _install_needed() -> bool:
    return not STAMP.exists() or STAMP.stat().st_mtime < LOCKFILE.stat().st_mtime


def pytest_configure(config) -> None:
    if _install_needed():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=INTEROP_DIR,
            check=True,
        )
