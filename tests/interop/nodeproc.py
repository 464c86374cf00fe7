"""Run a node script beside the pinned Baileys install, with JSON in and JSON out.

Interop tests cross-check Buzpo against the real Baileys 7.0.0-rc.9 by handing a whole batch of
work to one node process (node start-up, not the work, dominates the cost). Scripts live in
``tests/interop/scripts/`` so that ``@whiskeysockets/baileys`` resolves from ``node_modules``
here; they read one JSON document from stdin and write one JSON document to stdout. Bytes travel
as hex or base64 strings, as each script documents.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

INTEROP_DIR = Path(__file__).resolve().parent
SCRIPTS_DIR = INTEROP_DIR / "scripts"


class NodeScriptError(AssertionError):
    """The node script failed (non-zero exit, timeout, or output that is not JSON).

    An AssertionError so that pytest reports it as a test failure with node's stderr attached.
    """


def script_path(script: str | Path) -> Path:
    """Resolve ``script``: absolute, relative to tests/interop, or a bare name in scripts/."""
    path = Path(script)
    if path.is_absolute():
        return path
    if len(path.parts) == 1 and (SCRIPTS_DIR / path).exists():
        return SCRIPTS_DIR / path
    return INTEROP_DIR / path


def run_node(script: str | Path, input_obj: Any, timeout: float = 60) -> Any:
    """Run ``node script`` in tests/interop with ``input_obj`` as JSON on stdin; return its JSON.

    Raises :class:`NodeScriptError` with the tail of stderr when the script fails.
    """
    out = run_node_text(script, stdin=json.dumps(input_obj), timeout=timeout)
    try:
        return json.loads(out)
    except json.JSONDecodeError as exc:
        raise NodeScriptError(f"{script} printed no JSON ({exc}): {out[:200]!r}") from exc


def run_node_text(script: str | Path, *args: str, stdin: str = "", timeout: float = 60) -> str:
    """Run ``node script *args`` in tests/interop; return its stdout as text."""
    path = script_path(script)
    try:
        proc = subprocess.run(
            ["node", str(path), *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=INTEROP_DIR,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise NodeScriptError(f"{path.name} did not finish within {timeout} s") from exc
    if proc.returncode != 0:
        raise NodeScriptError(f"{path.name} exited with {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.stdout
