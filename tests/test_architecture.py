"""The layer rules of the guide, checked on the source: a violation fails CI, not a review.

wa/ is sans-I/O (no sockets, clocks, files, event loop), sandbox/ is built on wa/ alone (never
client/, so it cannot share the client's mistakes), and every layer depends downward only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "buzpo_nb"
LAYERS = ["wa", "client", "sandbox", "gateway", "notebook"]

# What each layer may import from the others (downward only; sandbox skips client on purpose).
ALLOWED = {
    "wa": {"wa"},
    "client": {"wa", "client"},
    "sandbox": {"wa", "sandbox"},
    "gateway": {"wa", "client", "sandbox", "gateway"},
    "notebook": {"wa", "client", "sandbox", "gateway", "notebook"},
}

# I/O and clocks that have no place in the protocol core.
WA_FORBIDDEN_MODULES = {
    "asyncio",
    "socket",
    "ssl",
    "select",
    "selectors",
    "threading",
    "subprocess",
    "time",
    "datetime",
    "pathlib",
    "tempfile",
    "shutil",
    "io",
    "websockets",
    "httpx",
    "uvicorn",
    "fastapi",
    "starlette",
    "sqlite3",
    "urllib",
    "http",
}
# Dev tooling that regenerates checked-in code from .proto files; never imported at run time.
WA_TOOLING = {"regenerate.py"}


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py")) if (PACKAGE / layer).exists() else []


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_depend_downward_only(layer: str) -> None:
    bad = []
    for path in _modules(layer):
        for name, line in _imports(path):
            parts = name.split(".")
            inner = parts[1] if parts[0] == "buzpo_nb" and len(parts) > 1 else None
            if inner in LAYERS and inner not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(PACKAGE)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_protocol_core_does_no_io() -> None:
    bad = []
    for path in _modules("wa"):
        if path.name in WA_TOOLING:
            continue
        rel = path.relative_to(PACKAGE)
        for name, line in _imports(path):
            if name.split(".")[0] in WA_FORBIDDEN_MODULES:
                bad.append(f"{rel}:{line} imports {name}")
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"open", "print", "input"}
            ):
                bad.append(f"{rel}:{node.lineno} calls {node.func.id}()")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and node.attr != "urandom"
            ):
                bad.append(f"{rel}:{node.lineno} uses os.{node.attr}")
    assert not bad, "\n".join(bad)
