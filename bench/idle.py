"""Memory per idle linked session: Buzpo against Baileys 7.0.0-rc.9, on one sandbox, in one run.

    python bench/idle.py [--sessions 100] [--parallel 10] [--settle 2] [--no-write]

One sandbox (``buzpo sandbox``, its own process) with ``2 x --sessions`` virtual phones. Buzpo:
a fresh Python process (``python bench/idle.py --worker``) opens ``--sessions`` ``Client``s, each
on its own auth folder, linked to its own phone (``--parallel`` at a time), and reports its RSS
before the first client and once all are open and have been idle for ``--settle`` seconds, each
after a full ``gc.collect()``. Baileys: one node process (``--expose-gc``) doing the same with
``makeWASocket`` on ``useMultiFileAuthState`` folders (``bench/baileys_send.mjs`` mode
``idle``), RSS after ``gc()``. Memory per session = (after - before) / sessions.

Prints a table and rewrites the "## Idle sessions" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
from typing import Any

import httpx
from benchlib import (
    BENCH_DIR,
    ROOT,
    TIMEOUT,
    create_phones,
    link,
    machine,
    python_env,
    rss_bytes,
    run_node,
    sandbox_or,
    today,
    write_section,
)

from buzpo_nb.client import Client, QrCode

SECTION = "## Idle sessions"
NODE_SCRIPT = BENCH_DIR / "baileys_send.mjs"


def numbers(side: int, count: int) -> list[str]:
    return [f"1555{side}{i:06d}" for i in range(count)]


# -- the Buzpo worker (its own process, so its RSS holds nothing but the sessions) ----------------
async def worker(
    ws_url: str, http_url: str, phones: list[str], parallel: int, settle: float
) -> None:
    async with httpx.AsyncClient(base_url=http_url, timeout=TIMEOUT) as http:
        gc.collect()
        before = rss_bytes()
        clients: list[Client] = []
        queue = iter(phones)

        async def link_next() -> None:
            for number in queue:
                client = Client(tempfile.mkdtemp(prefix="buzpo-idle-"), url=ws_url)
                clients.append(client)
                await client.connect()
                qr = await client.wait_for(QrCode, timeout=TIMEOUT)
                await link(http, number, qr.code)
                await client.wait_until_open(TIMEOUT)

        await asyncio.gather(*(link_next() for _ in range(parallel)))
        await asyncio.sleep(settle)  # idle on purpose: what an idle session costs
        gc.collect()
        after = rss_bytes()
        is_open = sum(1 for c in clients if c.state == "open")
        print(
            json.dumps({"before": before, "after": after, "count": len(clients), "open": is_open})
        )
        sys.stdout.flush()
        await asyncio.gather(*(c.close() for c in clients))


async def buzpo_idle(
    ws_url: str, http_url: str, phones: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, str(BENCH_DIR / "idle.py")),
        *("--parallel", str(args.parallel), "--settle", str(args.settle)),
        *("--worker", ws_url, http_url, *phones),
        cwd=ROOT,
        env=python_env(),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(600):
        line = await proc.stdout.readline()
        await proc.wait()
    if not line:
        raise RuntimeError("the Buzpo idle worker printed nothing")
    return dict(json.loads(line))


async def baileys_idle(
    ws_url: str, http: httpx.AsyncClient, phones: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    config = {
        "mode": "idle",
        "url": ws_url,
        "auth": tempfile.mkdtemp(prefix="baileys-idle-"),
        "count": len(phones),
        "parallel": args.parallel,
        "settle": int(args.settle * 1000),
    }
    return await run_node(NODE_SCRIPT, config, http=http, numbers=phones, node_args=["--expose-gc"])


def per_session(result: dict[str, Any]) -> float:
    """KiB of RSS per session."""
    return (result["after"] - result["before"]) / result["count"] / 1024


async def measure(
    args: argparse.Namespace, sandbox: tuple[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """``{"Buzpo": {before, after, count, open, per_session_kib}, "Baileys": {...}}``;
    ``sandbox``: ``(ws_url, http_url)`` of a running sandbox to use instead of starting one."""
    buzpo_phones, baileys_phones = numbers(1, args.sessions), numbers(2, args.sessions)
    async with (
        sandbox_or(sandbox) as (ws_url, http_url),
        httpx.AsyncClient(base_url=http_url, timeout=TIMEOUT) as http,
    ):
        await create_phones(http, buzpo_phones + baileys_phones)
        results = {
            "Buzpo": await buzpo_idle(ws_url, http_url, buzpo_phones, args),
            "Baileys": await baileys_idle(ws_url, http, baileys_phones, args),
        }
    for result in results.values():
        result["per_session_kib"] = per_session(result)
    return results


def render(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> str:
    lines = [
        SECTION,
        "",
        f"`python bench/idle.py` on {today()}: {machine()}.",
        f"{args.sessions} linked sessions in one process per side (Buzpo: `Client`s in one",
        "Python process; Baileys: `makeWASocket`s in one node process), each on its own auth",
        f"folder and virtual phone, linked {args.parallel} at a time through one sandbox; RSS",
        f"before the first and after all were open and idle for {args.settle:g} s, each after a",
        "full GC",
        "(`gc.collect()`; node `--expose-gc`, `gc()`).",
        "",
        "| client | sessions open | RSS before (MiB) | RSS after (MiB) | per session (KiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['open']}/{r['count']} | {r['before'] / 2**20:.1f} "
            f"| {r['after'] / 2**20:.1f} | {r['per_session_kib']:,.0f} |"
        )
    ratio = results["Buzpo"]["per_session_kib"] / results["Baileys"]["per_session_kib"]
    b = results["Baileys"]
    heap = (b["heap_after"] - b["heap_before"]) / b["count"] / 1024
    lines += [
        "",
        f"Buzpo ÷ Baileys per session: **{ratio:.2f}** (aim ≤ 1). Of Baileys' RSS per session,",
        f"{heap:,.0f} KiB is live V8 heap (`heapUsed` after `gc()`); the rest is what V8 and",
        "node keep committed beyond it (heap pages, buffers, code), which an operator pays too.",
        "",
    ]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--parallel", type=int, default=10, help="links in flight")
    p.add_argument("--settle", type=float, default=2.0, help="idle seconds before measuring")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--worker", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    return p


def main() -> int:
    args = parser().parse_args()
    if args.worker:
        ws_url, http_url, *phones = args.worker
        asyncio.run(worker(ws_url, http_url, phones, args.parallel, args.settle))
        return 0
    text = render(args, asyncio.run(measure(args)))
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
