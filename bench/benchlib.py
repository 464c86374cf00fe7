"""What every benchmark script shares: the sandbox in its own process, linking, the Baileys
harness process, percentiles, machine details and rewriting one section of RESULTS.md.

The scripts import this as ``benchlib`` (``python bench/<script>.py`` puts ``bench/`` first on
``sys.path``). Kept free of any measurement so the scripts stay comparable: they all start the
sandbox, link and report the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"
TIMEOUT = 60.0


# -- the sandbox in its own process ----------------------------------------------------------------
@contextlib.asynccontextmanager
async def sandbox_process() -> AsyncIterator[tuple[str, str]]:
    """``buzpo sandbox`` on a free port in a child process (so no client shares its CPU or GIL);
    yields ``(ws_url, http_url)``."""
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "buzpo_nb.cli", "sandbox", "--port", "0"),
        *("--log-level", "warning"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    ws_url = http_url = None
    try:
        async with asyncio.timeout(TIMEOUT):
            while ws_url is None or http_url is None:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError("the sandbox exited during start-up")
                if m := re.search(r"connect to\s+(ws://\S+)", line):
                    ws_url = m.group(1)
                if m := re.search(r"Control API:\s+(http://\S+?)/sandbox", line):
                    http_url = m.group(1)
        yield ws_url, http_url
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()


@contextlib.asynccontextmanager
async def sandbox_or(urls: tuple[str, str] | None) -> AsyncIterator[tuple[str, str]]:
    """``urls`` (a running sandbox, e.g. shared by bench/run_all.py), else a new one."""
    if urls is not None:
        yield urls
    else:
        async with sandbox_process() as started:
            yield started


async def create_phones(http: httpx.AsyncClient, numbers: Sequence[str]) -> dict[str, str]:
    """Virtual phones; ``{number: LID jid}``."""
    lids = {}
    for number in numbers:
        r = await http.post("/sandbox/phones", json={"number": number})
        r.raise_for_status()
        lids[number] = r.json()["lid"]
    return lids


async def create_group(http: httpx.AsyncClient, subject: str, numbers: Sequence[str]) -> str:
    """A sandbox group of these phones (the first is its creator); its jid."""
    r = await http.post(
        "/sandbox/groups", json={"subject": subject, "participants": [f"+{n}" for n in numbers]}
    )
    r.raise_for_status()
    return str(r.json()["jid"])


async def link(http: httpx.AsyncClient, number: str, qr: str) -> None:
    """Phone ``number`` scans ``qr``. Retried when the request never got an answer: a pooled
    keep-alive connection can be closed by the server (uvicorn: after 5 idle seconds) just as
    it is reused, which happens while many links wait on a busy machine."""
    for attempt in range(3):
        try:
            r = await http.post(f"/sandbox/phones/{number}/link", json={"qr": qr})
            break
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
            if attempt == 2:
                raise
    r.raise_for_status()


# -- the Baileys side -----------------------------------------------------------------------------
async def run_node(
    script: Path,
    config: dict[str, Any],
    *,
    http: httpx.AsyncClient | None = None,
    numbers: Sequence[str] = (),
    node_args: Sequence[str] = (),
    until: str = "result",
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Run ``node script '<config JSON>'``, which prints one JSON event per line, and return the
    first ``until`` event. ``{"event": "qr", "qr", "index"?}`` events are linked at once: phone
    ``numbers[index]`` (index 0 when absent) scans the QR, once per index."""
    proc = await asyncio.create_subprocess_exec(
        *("node", *node_args, str(script), json.dumps(config)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=1 << 24,
    )
    assert proc.stdout is not None and proc.stderr is not None
    linking: dict[int, asyncio.Task[None]] = {}
    try:
        async with asyncio.timeout(timeout):
            while True:
                line = await proc.stdout.readline()
                if not line:
                    err = await proc.stderr.read()
                    raise RuntimeError(f"{script.name} exited: {err.decode()[-2000:]}")
                event = json.loads(line)
                if event["event"] == "qr":
                    index = int(event.get("index", 0))
                    if index not in linking:
                        assert http is not None, "a QR to link but no sandbox client"
                        linking[index] = asyncio.create_task(
                            link(http, numbers[index], event["qr"])
                        )
                elif event["event"] == until:
                    for task in linking.values():
                        await task
                    return dict(event)
    finally:
        for task in linking.values():
            task.cancel()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def run_node_sync(script: Path, config: dict[str, Any], stdin: str | None = None) -> str:
    """``node script [config]`` for a pure computation; its stdout."""
    args = ["node", str(script)] + ([json.dumps(config)] if config else [])
    proc = subprocess.run(
        args, input=stdin, capture_output=True, text=True, check=False, timeout=600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def python_env() -> dict[str, str]:
    """The environment for a child Python running a bench script: the checkout first on
    ``PYTHONPATH``, so ``buzpo_nb`` is this tree's even where the installed copy is not."""
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{path}" if path else str(ROOT))


# -- numbers --------------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """The ``p`` quantile (0..1), linear between closest ranks."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def best_rate(fn: Callable[[], object], seconds: float, runs: int, batch: int = 1) -> float:
    """Calls per CPU-second of ``fn``: best of ``runs`` runs of ``seconds`` CPU time each, after
    a warm-up run (CPU time and best-of-N keep the numbers stable on a shared machine)."""
    best = 0.0
    clock = time.process_time
    for round_ in range(runs + 1):
        ops = 0
        start = clock()
        while (elapsed := clock() - start) < seconds:
            for _ in range(batch):
                fn()
            ops += batch
        if round_:
            best = max(best, ops / elapsed)
    return best


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (``/proc/<pid>/status`` VmRSS)."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    assert found is not None
    return int(found.group(1)) * 1024


# -- machine details ------------------------------------------------------------------------------
@cache
def node_version() -> str:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True)
        return out.stdout.strip()
    except OSError:
        return "?"


def cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        if found := re.search(r"^model name\s*:\s*(.+)$", text, re.M):
            return found.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_details() -> dict[str, str]:
    """CPU, cores, kernel, Python, Node and the date (UTC), for the Summary's header."""
    return {
        "cpu": cpu_name(),
        "cores": str(os.cpu_count()),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"CPython {platform.python_version()}",
        "node": f"Node {node_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def machine() -> str:
    """One line: ``CPU, N CPUs, Linux x; CPython y, Node z``."""
    d = machine_details()
    return f"{d['cpu']}, {d['cores']} CPUs, {d['kernel']}; {d['python']}, {d['node']}"


def today() -> str:
    return time.strftime("%Y-%m-%d")


# -- RESULTS.md -----------------------------------------------------------------------------------
def write_section(heading: str, text: str, *, first: bool = False) -> None:
    """Replace the ``heading`` section of RESULTS.md with ``text`` (which starts with the
    heading), leaving the others alone; a new section goes last, or right under the title with
    ``first``."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    body = text.rstrip("\n") + "\n\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: body, current, count=1)
    elif first and (m := re.search(r"^## ", current, re.M)):
        updated = current[: m.start()] + body + current[m.start() :]
    else:
        updated = current.rstrip("\n") + "\n\n" + body
    RESULTS.write_text(updated.rstrip("\n") + "\n")
