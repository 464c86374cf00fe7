"""Every notebook in notebooks/ runs top to bottom under ``pytest --nbval-lax`` (outputs that
matter are asserted inside the cells), in a real kernel, as part of ``python -m pytest``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.parametrize("notebook", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs_under_nbval(notebook: str, tmp_path: Path) -> None:
    env = {**os.environ, "BUZPO_HOME": str(tmp_path / "home"), "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-cell-timeout=120",
            notebook,
        ],
        cwd=NOTEBOOKS,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_the_notebooks_are_there() -> None:
    names = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    assert {"01-quickstart.ipynb", "02-analysis.ipynb", "03-rest-api.ipynb"} <= names
