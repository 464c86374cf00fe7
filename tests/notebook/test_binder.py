"""binder/ really builds a working environment: a fresh virtualenv gets binder/requirements.txt
and binder/postBuild, exactly as repo2docker runs them, and then runs the quickstart notebook."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_binder_installs_into_a_fresh_venv_and_runs_the_quickstart(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv),
        "HOME": str(tmp_path / "home"),  # postBuild writes the Jupyter config there
        "JUPYTER_CONFIG_DIR": str(tmp_path / "home" / ".jupyter"),
        "BUZPO_HOME": str(tmp_path / "buzpo"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
    }
    env.pop("PYTHONPATH", None)
    python = str(bin_dir / "python")

    def run(*cmd: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    run(python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt")
    run("bash", "binder/postBuild")
    code = "import buzpo_nb; print(buzpo_nb.__file__)"
    installed = run(python, "-c", code, cwd=tmp_path).stdout
    assert str(venv) in installed  # the venv's own copy, not this checkout
    config = (tmp_path / "home" / ".jupyter" / "jupyter_server_config.py").read_text()
    assert "01-quickstart.ipynb" in config
    # run the quickstart in the venv's kernel (nbclient comes with jupyterlab's nbconvert)
    run(
        python,
        "-m",
        "jupyter",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--ExecutePreprocessor.timeout=120",
        "--output-dir",
        str(tmp_path),
        "notebooks/01-quickstart.ipynb",
    )
    assert (tmp_path / "01-quickstart.ipynb").exists()
