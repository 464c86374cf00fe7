"""Every benchmark in one command, and the one-table Summary of Buzpo against Baileys.

    python bench/run_all.py [--quick] [--no-write] [--json PATH]

Runs, in this order, each against Baileys 7.0.0-rc.9 in the same run (and, where a server is
needed, on the same sandbox): ``codec.py`` (binary node codec), ``media.py`` (media crypto),
``send.py`` (send latency and throughput 1:1 and to a group, receive throughput, reconnect
after a dropped socket, Signal), ``idle.py`` (memory per idle linked session), and
``gateway.py`` (the gateway's cost over the raw client; Buzpo only). Each rewrites its own
``## ...`` section of bench/RESULTS.md; then the ``## Summary`` section at the top gets the
machine details and one table with the headline number of every benchmark, side by side.

``--quick`` uses small counts (a smoke run of the whole pipeline in well under a minute; its
numbers mean nothing), ``--no-write`` leaves RESULTS.md alone, ``--json PATH`` also writes the
Summary's rows as JSON. ``bench/scale.py`` and ``bench/fuzz.py`` are separate long runs and are
not part of this command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import codec
import gateway
import idle
import media
import send
from benchlib import machine_details, percentile, sandbox_process, write_section

SECTION = "## Summary"


@dataclass(frozen=True)
class Row:
    """One line of the Summary: a metric, both sides' values, and which direction is better."""

    metric: str
    unit: str
    buzpo: float
    baileys: float
    better: str  # "higher" or "lower"
    source: str  # the section with the details

    @property
    def ratio(self) -> float:
        return self.buzpo / self.baileys if self.baileys else math.nan


# -- settings -------------------------------------------------------------------------------------
FULL = {
    "codec": {"seconds": 0.3, "runs": 7},
    "media": {"runs": 7},
    "send": ["--latency", "200", "--throughput", "1000", "--receive", "1000", "--drops", "5"],
    "idle": ["--sessions", "100", "--parallel", "10", "--settle", "2"],
    "gateway": ["--latency", "200", "--throughput", "1000"],
}
QUICK = {
    "codec": {"seconds": 0.02, "runs": 1},
    "media": {"runs": 1},
    "send": [
        *("--warmup", "2", "--latency", "10", "--throughput", "20", "--concurrency", "5"),
        *("--receive", "20", "--drops", "2", "--seconds", "0.05", "--runs", "1"),
    ],
    "idle": ["--sessions", "3", "--parallel", "3", "--settle", "0.2"],
    "gateway": ["--warmup", "1", "--latency", "5", "--throughput", "10", "--concurrency", "5"],
}


FAILED: list[str] = []  # benchmarks that failed without stopping the run
LOADS: list[float] = []  # 1-minute load average at each step: how shared the machine was


def step(name: str) -> None:
    LOADS.append(os.getloadavg()[0])
    print(f"[run_all {time.strftime('%H:%M:%S')}] {name} (load {LOADS[-1]:.1f})", flush=True)


# -- the runs -------------------------------------------------------------------------------------
def run(settings: dict[str, Any], write: bool) -> list[Row]:
    """Run every benchmark, write its section (``write``), and return the Summary's rows."""
    sections: dict[str, str] = {}

    step("codec")
    c = settings["codec"]
    codec_b, codec_n = codec.measure(c["seconds"], c["runs"])
    sections[codec.SECTION] = codec.section(codec_b, codec_n, c["seconds"], c["runs"])

    step("media")
    media_b, media_n = media.measure_all(settings["media"]["runs"])
    sections[media.SECTION] = media.section(
        media.table(media_b, media_n), settings["media"]["runs"], media_n["node"]
    )

    send_args = send.parser().parse_args(settings["send"])
    idle_args = idle.parser().parse_args(settings["idle"])
    gw_args = gateway.parser().parse_args(settings["gateway"])

    async def on_one_sandbox() -> tuple[dict[str, Any], dict[str, Any]]:
        async with sandbox_process() as urls:
            step("send, receive, reconnect, Signal")
            sent = await send.measure(send_args, urls)
            sections[send.SECTION] = send.render(send_args, sent)
            step("idle sessions")
            idled = await idle.measure(idle_args, urls)
            sections[idle.SECTION] = idle.render(idle_args, idled)
            step("gateway")
            try:  # Buzpo only and not in the Summary: its failure must not lose the rest
                sections[gateway.SECTION] = await gateway.main_async(gw_args, urls)
            except Exception:
                traceback.print_exc()
                FAILED.append("gateway")
            return sent, idled

    try:
        sent, idled = asyncio.run(on_one_sandbox())
    finally:
        if write:  # whatever did finish
            for heading, text in sections.items():
                write_section(heading, text)
    return rows(codec_b, codec_n, media_b, media_n, sent, idled)


def rows(
    codec_b: dict[str, Any],
    codec_n: dict[str, Any],
    media_b: dict[int, Any],
    media_n: dict[str, Any],
    sent: dict[str, Any],
    idled: dict[str, Any],
) -> list[Row]:
    out: list[Row] = []
    send_rows, group = sent["rows"], send.GROUP
    for label, target in (("1:1", "PN JID"), ("group of 3", group)):
        b, n = send_rows[f"Buzpo → {target}"], send_rows[f"Baileys → {target}"]
        out += [
            Row(f"send throughput, {label}", "acked msg/s", b["rate"], n["rate"], "higher", "Send"),
            Row(f"send → ack p50, {label}", "ms", b["p50"], n["p50"], "lower", "Send"),
            Row(f"send → ack p99, {label}", "ms", b["p99"], n["p99"], "lower", "Send"),
        ]
    recv = sent["receive"]
    out.append(
        Row(
            "receive throughput (phones → client, decrypted)",
            "msg/s",
            recv["Buzpo"]["rate"],
            recv["Baileys"]["rate"],
            "higher",
            "Send",
        )
    )
    sig = sent["signal"]
    out.append(
        Row(
            "Signal encrypt + decrypt round trips",
            "per CPU-s",
            max(sig["Buzpo"]),
            max(sig["Baileys"]),
            "higher",
            "Send",
        )
    )
    for stanza in codec.CASES:
        out += [
            Row(
                f"codec encode, `{stanza}`",
                "ops/CPU-s",
                codec_b[stanza]["encode"],
                codec_n[stanza]["encode"],
                "higher",
                "Binary node codec",
            ),
            Row(
                f"codec decode, `{stanza}`",
                "ops/CPU-s",
                codec_b[stanza]["decode"],
                codec_n[stanza]["decode_sync"],
                "higher",
                "Binary node codec",
            ),
        ]
    big = max(media.SIZES)
    for label, case in (("encrypt", "encrypt_stream"), ("decrypt", "decrypt_stream")):
        out.append(
            Row(
                f"media {label}, streamed, {big >> 20} MiB",
                "MB/s",
                media_b[big][case]["wall"],
                media_n[str(big)][case]["wall"],
                "higher",
                "Media crypto",
            )
        )
    out.append(
        Row(
            f"memory per idle linked session ({idled['Buzpo']['count']} sessions)",
            "KiB RSS",
            idled["Buzpo"]["per_session_kib"],
            idled["Baileys"]["per_session_kib"],
            "lower",
            "Idle sessions",
        )
    )
    rec = sent["reconnect_ms"]
    out.append(
        Row(
            f"reconnect after a dropped socket, median of {len(rec['Buzpo'])}",
            "ms",
            percentile(rec["Buzpo"], 0.5),
            percentile(rec["Baileys"], 0.5),
            "lower",
            "Send",
        )
    )
    return out


# -- the Summary ----------------------------------------------------------------------------------
def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(table: list[Row], quick: bool, seconds: float) -> str:
    m = machine_details()
    lines = [
        SECTION,
        "",
        f"`python bench/run_all.py{' --quick' if quick else ''}` on {m['date']}, in "
        f"{seconds / 60:.1f} min: {m['cpu']}, {m['cores']} cores, {m['kernel']}, {m['python']}, "
        f"{m['node']}, Baileys 7.0.0-rc.9; 1-minute load average at the steps "
        f"{min(LOADS):.1f}–{max(LOADS):.1f}.",
        "Both sides in the same run; everything with a server on the same sandbox (`buzpo",
        "sandbox`, its own process). Ratio = Buzpo ÷ Baileys; whether higher or lower is better",
        "is in the last column. Details, method and caveats in each row's section below.",
        "",
        "| metric | unit | Buzpo | Baileys | ratio | better | details |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in table:
        lines.append(
            f"| {r.metric} | {r.unit} | {fmt(r.buzpo)} | {fmt(r.baileys)} | {r.ratio:.2f} "
            f"| {r.better} | {r.source} |"
        )
    lines += [
        "",
        "Notes: Baileys never reconnects by itself; its harness makes a new socket on `close`, as",
        "every Baileys app does, and Buzpo runs with an immediate retry for that row (its default",
        "policy first waits a jittered 0.5–1 s). Baileys sends to groups with",
        "`cachedGroupMetadata` set, as its README recommends. Buzpo acknowledges a received",
        "message once its Signal session is fsynced (Baileys does not fsync), so its receive",
        "rate follows the disk: see Send. With 2 cores, a load average above ~2 means other",
        "work shared the CPUs: absolute numbers are then noisy (±30% and more; latencies most),",
        "and ratios from the same run are the figures to read.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--no-write", action="store_true", help="leave bench/RESULTS.md alone")
    parser.add_argument("--json", type=Path, help="also write the Summary rows as JSON here")
    args = parser.parse_args()
    t0 = time.perf_counter()
    LOADS.append(os.getloadavg()[0])
    table = run(QUICK if args.quick else FULL, write=not args.no_write)
    text = render(table, args.quick, time.perf_counter() - t0)
    print(text)
    if not args.no_write:
        write_section(SECTION, text, first=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in table], indent=1))
    if FAILED:
        print(f"failed: {', '.join(FAILED)} (their sections were left as they were)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
