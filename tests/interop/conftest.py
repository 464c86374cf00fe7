"""Interop suite set-up: make sure the pinned Baileys install exists before any test runs.

`python -m pytest` is the project's one test command, so it must work on a fresh clone: when the
installed Baileys or libsignal is missing or not the pinned version, run `npm ci` (the lockfile
pins Baileys 7.0.0-rc.9 and libsignal 6.0.0). Versions, not file times, decide: `npm ci` wipes
`node_modules` first, so a spurious reinstall would pull the ground from under another test run
on the same machine. An exclusive lock keeps two concurrent runs from installing at once. A
failure here fails the run loudly; interop tests never skip.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
from pathlib import Path

INTEROP_DIR = Path(__file__).parent
NODE_MODULES = INTEROP_DIR / "node_modules"
PINNED = {"@whiskeysockets/baileys": "7.0.0-rc.9", "libsignal": "6.0.0"}


def _installed_version(package: str) -> str | None:
    manifest = NODE_MODULES / package / "package.json"
    try:
        return json.loads(manifest.read_text()).get("version")
    except (OSError, ValueError):
        return None


def _install_needed() -> bool:
    return any(_installed_version(pkg) != version for pkg, version in PINNED.items())


def pytest_configure(config) -> None:
    if not _install_needed():
        return
    with open(INTEROP_DIR / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _install_needed():  # another run may have installed while we waited
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=INTEROP_DIR,
                check=True,
            )
