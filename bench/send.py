"""1:1 text sending: Buzpo against Baileys 7.0.0-rc.9, through one sandbox, in one run.

    python bench/send.py [--latency 200] [--throughput 1000] [--concurrency 50] [--no-write]

Starts one sandbox (``buzpo sandbox`` in its own process, so neither client shares a CPU or a
GIL with the server), creates four virtual phones, links Buzpo (this process) to the first and
Baileys (``node bench/baileys_send.mjs``, Baileys' own ``makeWASocket``/``sendMessage``) to the
second, and has each send texts to its own peer phone's phone-number JID:

* **latency**: sends one after another; per message, the time from the send call to the
  server's ``<ack class=message>`` (Buzpo's ``send_text`` returns then; for Baileys the ack is
  read from its socket events, since ``sendMessage`` resolves as soon as the stanza is written);
* **throughput**: messages acked per second with up to ``--concurrency`` sends in flight.

Both clients warm up first (session set-up is not measured). Then Signal itself: encrypt +
decrypt round trips per CPU-second between two in-memory devices, Buzpo's ``Sessions`` over an
in-memory auth store against Baileys' Signal repository over an in-memory key store (both
keeping every record as the JSON text their folder would hold), best of N runs.

Prints a table and rewrites the "## Send" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from buzpo_nb.client import Client, QrCode
from buzpo_nb.client.lid_mapping import LidMappingStore
from buzpo_nb.client.sessions import Sessions
from buzpo_nb.client.signal_store import AuthSignalStore
from buzpo_nb.wa import buffer_json
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.creds import AuthCreds, init_auth_creds
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.keys import KeyPair
from buzpo_nb.wa.message_content import encode_plaintext, text_message
from buzpo_nb.wa.prekeys import pre_key_record
from buzpo_nb.wa.signal import PreKeyBundle

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"
SECTION = "## Send"
NODE_SCRIPT = BENCH_DIR / "baileys_send.mjs"
PHONES = ("15557770001", "15557770002", "15557770003", "15557770004")
TIMEOUT = 60.0


# -- the sandbox in its own process ----------------------------------------------------------------
@contextlib.asynccontextmanager
async def sandbox_process() -> Any:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "buzpo_nb.cli",
        "sandbox",
        "--port",
        "0",
        "--log-level",
        "warning",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    ws_url = http_url = None
    async with asyncio.timeout(TIMEOUT):
        while ws_url is None or http_url is None:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise RuntimeError("the sandbox exited during start-up")
            if m := re.search(r"connect to\s+(ws://\S+)", line):
                ws_url = m.group(1)
            if m := re.search(r"Control API:\s+(http://\S+?)/sandbox", line):
                http_url = m.group(1)
    try:
        yield ws_url, http_url
    finally:
        proc.terminate()
        await proc.wait()


# -- Buzpo ----------------------------------------------------------------------------------------
async def buzpo_send(
    ws_url: str, http: httpx.AsyncClient, number: str, to: str, args: argparse.Namespace
) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="buzpo-bench-")
    async with Client(folder, url=ws_url, query_timeout=TIMEOUT, send_timeout=TIMEOUT) as client:
        qr = await client.wait_for(QrCode, timeout=TIMEOUT)
        r = await http.post(f"/sandbox/phones/{number}/link", json={"qr": qr.code})
        r.raise_for_status()
        await client.wait_until_open(TIMEOUT)
        for i in range(args.warmup):
            await client.send_text(to, f"warm-up {i}")
        latency = []
        for i in range(args.latency):
            t0 = time.perf_counter()
            await client.send_text(to, f"latency {i}")
            latency.append((time.perf_counter() - t0) * 1000)
        counter = iter(range(args.throughput))

        async def worker() -> None:
            for i in counter:
                await client.send_text(to, f"throughput {i}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        seconds = time.perf_counter() - t0
    return {
        "latency_ms": latency,
        "throughput": {"messages": args.throughput, "seconds": seconds},
        "errors": 0,
    }


# -- Baileys --------------------------------------------------------------------------------------
async def baileys_send(
    ws_url: str,
    http: httpx.AsyncClient,
    number: str,
    targets: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, dict[str, Any]]:
    config = {
        "mode": "send",
        "url": ws_url,
        "auth": tempfile.mkdtemp(prefix="baileys-bench-"),
        "targets": targets,
        "warmup": args.warmup,
        "latency": args.latency,
        "throughput": args.throughput,
        "concurrency": args.concurrency,
    }
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_SCRIPT),
        json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=1 << 24,
    )
    assert proc.stdout is not None
    linked = False
    try:
        async with asyncio.timeout(600):
            while True:
                line = await proc.stdout.readline()
                if not line:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"Baileys bench exited: {err.decode()[-2000:]}")
                event = json.loads(line)
                if event["event"] == "qr" and not linked:
                    r = await http.post(f"/sandbox/phones/{number}/link", json={"qr": event["qr"]})
                    r.raise_for_status()
                    linked = True
                elif event["event"] == "result":
                    return dict(event["targets"])
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def baileys_signal(seconds: float, runs: int) -> list[float]:
    config = json.dumps({"mode": "signal", "seconds": seconds, "runs": runs})
    out = subprocess.run(
        ["node", str(NODE_SCRIPT), config], capture_output=True, text=True, check=True, timeout=600
    )
    for line in out.stdout.splitlines():
        event = json.loads(line)
        if event["event"] == "signal":
            return list(event["ops"])
    raise RuntimeError(f"no signal result: {out.stdout[-500:]} {out.stderr[-500:]}")


# -- Buzpo Signal round trips ---------------------------------------------------------------------
class MemoryAuthStore:
    """``AuthStore`` keeping each key as the JSON text its file would hold (no disk)."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}

    async def load_creds(self) -> AuthCreds | None:
        return None

    async def save_creds(self, creds: AuthCreds) -> None:
        return None

    async def get(self, category: str, ids: Iterable[str]) -> dict[str, Any | None]:
        out: dict[str, Any | None] = {}
        for i in ids:
            text = self.files.get(f"{category}-{i}")
            out[i] = buffer_json.loads(text) if text is not None else None
        return out

    async def set(self, data: Mapping[str, Mapping[str, Any | None]]) -> None:
        for category, items in data.items():
            for key, value in items.items():
                name = f"{category}-{key}"
                if value is None:
                    self.files.pop(name, None)
                else:
                    self.files[name] = buffer_json.dumps(value)

    async def clear(self) -> None:
        self.files.clear()


async def _no_network(node: Node) -> Node:
    raise RuntimeError("no network in the Signal benchmark")


async def buzpo_signal(seconds: float, runs: int) -> list[float]:
    def device() -> tuple[Sessions, AuthCreds, MemoryAuthStore]:
        creds = init_auth_creds()
        store = MemoryAuthStore()
        signal = AuthSignalStore(store, lambda: creds)
        return Sessions(_no_network, signal, LidMappingStore(store)), creds, store

    alice, _, _ = device()
    bob, bob_creds, bob_store = device()
    a_jid, b_jid = (
        Jid.parse("15550001111:7@s.whatsapp.net"),
        Jid.parse("15550002222:9@s.whatsapp.net"),
    )
    pre = KeyPair.generate()
    await bob_store.set({"pre-key": {"1": pre_key_record(pre)}})
    spk = bob_creds.signed_pre_key
    bundle = PreKeyBundle(
        registration_id=bob_creds.registration_id,
        identity_key=bob_creds.signed_identity_key.public,
        signed_pre_key_id=spk.key_id,
        signed_pre_key_public=spk.key_pair.public,
        signed_pre_key_signature=spk.signature,
        pre_key_id=1,
        pre_key_public=pre.public,
    )
    await alice.inject(await alice.address(b_jid), bundle)
    data = encode_plaintext(text_message("hello world, this is a benchmark message"))

    async def round_trip() -> None:
        kind, ciphertext = await alice.encrypt(b_jid, data)
        await bob.decrypt(a_jid, kind, ciphertext)

    await round_trip()
    kind, back = await bob.encrypt(a_jid, data)
    await alice.decrypt(b_jid, kind, back)
    ops = []
    for run in range(runs + 1):
        n = 0
        start = time.process_time()
        while time.process_time() - start < seconds:
            await round_trip()
            n += 1
        if run:
            ops.append(n / (time.process_time() - start))
    return ops


# -- report ---------------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(result: dict[str, Any]) -> dict[str, float]:
    lat = result["latency_ms"]
    tp = result["throughput"]
    return {
        "p50": statistics.median(lat),
        "p99": percentile(lat, 0.99),
        "rate": tp["messages"] / tp["seconds"],
        "errors": result.get("errors", 0),
    }


def node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def render(
    args: argparse.Namespace,
    rows: dict[str, dict[str, float]],
    sig_b: list[float],
    sig_n: list[float],
) -> str:
    cpu = platform.processor() or platform.machine()
    buzpo = rows["Buzpo → PN JID"]
    baileys_pn, baileys_lid = rows["Baileys → PN JID"], rows["Baileys → LID JID"]
    lines = [
        SECTION,
        "",
        f"`python bench/send.py` on {time.strftime('%Y-%m-%d')}: {cpu}, {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}; CPython {platform.python_version()}, Node {node_version()}.",
        "One sandbox in its own process; Buzpo and Baileys each linked to their own virtual phone",
        "and sending 1:1 texts to another virtual phone (Baileys through `sock.sendMessage`). A",
        "send counts when the server's `<ack class=message>` arrives (`send_text` returns then;",
        "for Baileys the ack is read from its socket's events).",
        f"{args.warmup} warm-up messages per row (session set-up not measured); latency over "
        f"{args.latency} sequential sends; throughput over {args.throughput} sends with up to "
        f"{args.concurrency} in flight.",
        "",
        "| client → recipient | p50 latency (ms) | p99 latency (ms) | throughput (acked msg/s) "
        "| NACKs |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['p50']:.2f} | {row['p99']:.2f} | {row['rate']:,.0f} "
            f"| {row['errors']:.0f} |"
        )
    lines += [
        "",
        f"Throughput ratio Buzpo ÷ Baileys: **{buzpo['rate'] / baileys_pn['rate']:.2f}** for the "
        f"usual phone-number addressing, **{buzpo['rate'] / baileys_lid['rate']:.2f}** against "
        "Baileys' LID-addressed row (goal ≥ 1). Baileys 7.0.0-rc.9 re-keys every PN-addressed",
        "send (an identity-refresh and a bundle iq plus a fresh `pkmsg` per message:",
        "messaging-spike.md quirk Q2) and reuses the session when addressed by LID; its sends",
        "also run one at a time inside a key-store transaction per account, which is what bounds",
        "both of its rows. Buzpo keeps sessions under the LID either way, encrypts the next",
        "message of a chat while the previous one's session record is being written (group",
        "commit, fsynced before the stanza leaves), and keeps each chat's stanzas in order.",
        "The machine is shared (2 CPUs): absolute numbers move by ±30% between runs.",
        "",
        "Signal encrypt + decrypt round trips per CPU-second (one `msg` encrypted by one device",
        "and decrypted by the other, records kept as their folder's JSON text in memory; best of",
        f"{args.runs} runs of {args.seconds} s):",
        "",
        "| Buzpo `Sessions` | Baileys signal repository | ratio |",
        "|---:|---:|---:|",
        f"| {max(sig_b):,.0f} | {max(sig_n):,.0f} | {max(sig_b) / max(sig_n):.2f} |",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    RESULTS.write_text(updated)


async def clients(
    ws_url: str, http_url: str, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """``{row name: summary}``: Buzpo to a PN JID, Baileys to a PN JID and to a LID JID."""
    async with httpx.AsyncClient(base_url=http_url, timeout=TIMEOUT) as http:
        lids = {}
        for number in PHONES:
            r = await http.post("/sandbox/phones", json={"number": number})
            r.raise_for_status()
            lids[number] = r.json()["lid"]
        b_peer, n_peer = f"{PHONES[2]}@s.whatsapp.net", f"{PHONES[3]}@s.whatsapp.net"
        rows = {"Buzpo → PN JID": summary(await buzpo_send(ws_url, http, PHONES[0], b_peer, args))}
        targets = {"Baileys → PN JID": n_peer, "Baileys → LID JID": lids[PHONES[3]]}
        for name, result in (await baileys_send(ws_url, http, PHONES[1], targets, args)).items():
            rows[name] = summary(result)
    return rows


async def main_async(args: argparse.Namespace) -> str:
    async with sandbox_process() as (ws_url, http_url):
        rows = await clients(ws_url, http_url, args)
    sig_b = await buzpo_signal(args.seconds, args.runs)
    sig_n = baileys_signal(args.seconds, args.runs)
    return render(args, rows, sig_b, sig_n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--throughput", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    text = asyncio.run(main_async(args))
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
