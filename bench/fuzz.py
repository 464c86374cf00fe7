"""Long fuzzing run over every decoder that reads untrusted bytes (CI-sized runs: tests/fuzz).

    python bench/fuzz.py [--inputs 1000000] [--workers 2] [--timeout 2] [--no-write]
    python bench/fuzz.py --replay bench/fuzz-findings/<file>.json

The targets (frames, Noise handshake and transport, binary nodes and every stanza parser,
protobuf messages, the ClientPayload, ADV identities, cert chains, QR strings, Signal
WhisperMessage / PreKeyWhisperMessage / SenderKeyMessage / SKDM with real sessions, the JSON
records of an auth folder, media and media-retry decryption) are defined once in
``tests/fuzz/fuzz_targets.py``. Each input is a mutation of a valid seed (80 %) or random bytes
(20 %), split over ``--workers`` processes. A decoder may only raise a ``BuzpoError``; anything
else, or an input running longer than ``--timeout`` seconds (a SIGALRM per input), is a finding:
its reproducer is saved under ``bench/fuzz-findings/`` and listed. RSS of every worker is
sampled at start and end (and its peak). The summary rewrites the "## Fuzzing" section of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import platform
import random
import re
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "fuzz")]

import fuzz_targets as ft  # noqa: E402 - needs the path above

RESULTS = BENCH_DIR / "RESULTS.md"
FINDINGS = BENCH_DIR / "fuzz-findings"
SECTION = "## Fuzzing"
RANDOM_SHARE = 0.2
MAX_RANDOM_SIZE = 512
RSS_SAMPLE_EVERY = 2_000

FIXED_BY_FUZZING = (
    "JSON records nested deeper than the parser's limit (`[[[[…`) raised `RecursionError` out of "
    "`SessionRecord.from_json`, `SenderKeyRecord.deserialize` and `AuthCreds.from_json` (and "
    "`buffer_json.loads`, used when reading an auth folder); now `MalformedRecord` / "
    "`DecodeError` / `ValueError` as documented.",
    "A zlib bomb in a compressed node was refused at the 32 MiB cap, but only after holding "
    "about twice the cap (64 MiB, `decompress(max_length=…)` joining its output); it is now "
    "inflated in 1 MiB steps and refused holding about the cap (a test asserts < 40 MiB).",
    "A peer JID whose user holds `.` or NUL made `ProtocolAddress` raise a bare `ValueError`, "
    "and NUL in any auth-folder key name an untyped `ValueError` from `open()` that failed the "
    "whole write batch; now `InvalidAddress` / `DecodeError` before any file is touched "
    "(tests/fuzz/test_fuzz_auth_paths.py).",
)


class InputTimeout(BaseException):
    """Raised by the SIGALRM handler inside a worker: one input ran past the limit.

    A BaseException so that no decoder's ``except Exception`` can swallow it.
    """


def _on_alarm(signum: int, frame: Any) -> None:
    raise InputTimeout


def rss_mib() -> float:
    """Resident set size of this process now, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _finding_key(name: str, exc: BaseException) -> str:
    """Deduplicate by target, exception type and the innermost Buzpo frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = next(
        (
            f"{Path(f.filename).name}:{f.lineno}"
            for f in reversed(frames)
            if "buzpo_nb" in f.filename
        ),
        frames[-1].name if frames else "?",
    )
    return f"{name}|{type(exc).__name__}|{where}"


def _save(name: str, kind: str, data: bytes, detail: str) -> str:
    FINDINGS.mkdir(exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    path = FINDINGS / f"{name}-{kind}-{digest}.json"
    path.write_text(json.dumps({"target": name, "kind": kind, "hex": data.hex(), "detail": detail}))
    return str(path.relative_to(ROOT))


def worker(index: int, plan: list[tuple[str, int]], timeout: float, out: mp.Queue) -> None:
    """Run ``plan`` ([(target, count)]) and put one result dict on ``out``."""
    signal.signal(signal.SIGALRM, _on_alarm)
    targets = {t.name: t for t in ft.targets()}  # seeds built before the RSS baseline
    rss_start = rss_mib()
    rng = random.Random(1000 + index)
    counts: dict[str, int] = {}
    findings: dict[str, dict[str, Any]] = {}
    timeouts: list[dict[str, Any]] = []
    rss_max_seen = rss_start
    started = time.perf_counter()
    done = 0
    for name, count in plan:
        target = targets[name]
        seeds = target.seeds
        for _ in range(count):
            if rng.random() < RANDOM_SHARE:
                data = rng.randbytes(rng.randrange(MAX_RANDOM_SIZE))
            else:
                data = ft.mutate(rng.choice(seeds), rng, seeds)
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                target.run(data)
            except ft.ALLOWED:
                pass
            except InputTimeout:
                timeouts.append(
                    {"target": name, "file": _save(name, "timeout", data, f"> {timeout} s")}
                )
            except Exception as exc:  # a finding: anything that is not a typed error
                key = _finding_key(name, exc)
                if key not in findings:
                    detail = "".join(traceback.format_exception(exc, limit=-4))
                    findings[key] = {
                        "target": name,
                        "error": f"{type(exc).__name__}: {str(exc)[:200]}",
                        "file": _save(name, "error", data, detail),
                        "count": 0,
                    }
                findings[key]["count"] += 1
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            done += 1
            if done % RSS_SAMPLE_EVERY == 0:
                rss_max_seen = max(rss_max_seen, rss_mib())
                out.put(("progress", index, done))
        counts[name] = counts.get(name, 0) + count
    out.put(
        (
            "result",
            index,
            {
                "counts": counts,
                "findings": list(findings.values()),
                "timeouts": timeouts,
                "rss_start": rss_start,
                "rss_end": rss_mib(),
                "rss_sampled_max": rss_max_seen,
                "rss_peak": peak_rss_mib(),
                "seconds": time.perf_counter() - started,
            },
        )
    )


def plan_work(total: int, workers: int) -> list[list[tuple[str, int]]]:
    """Split ``total`` inputs over the targets by weight, then evenly over the workers."""
    targets = ft.targets()
    weight = sum(t.weight for t in targets)
    plans: list[list[tuple[str, int]]] = [[] for _ in range(workers)]
    for t in targets:
        share = round(total * t.weight / weight)
        for w in range(workers):
            part = share // workers + (1 if w < share % workers else 0)
            plans[w].append((t.name, part))
    return plans


def run(total: int, workers: int, timeout: float) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    out: mp.Queue = ctx.Queue()
    plans = plan_work(total, workers)
    procs = [
        ctx.Process(target=worker, args=(i, plan, timeout, out), daemon=True)
        for i, plan in enumerate(plans)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    progress = [0] * workers
    results: dict[int, dict[str, Any]] = {}
    last_print = 0.0
    while len(results) < workers:
        kind, index, value = out.get()
        if kind == "result":
            results[index] = value
        else:
            progress[index] = value
        now = time.perf_counter()
        if now - last_print > 15:
            last_print = now
            print(f"[{now - started:6.0f} s] {sum(progress):,} / {total:,} inputs", flush=True)
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"worker {p.pid} exited with {p.exitcode}")
    wall = time.perf_counter() - started
    counts: dict[str, int] = {}
    for r in results.values():
        for name, n in r["counts"].items():
            counts[name] = counts.get(name, 0) + n
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "wall": wall,
        "workers": [results[i] for i in sorted(results)],
        "findings": [f for r in results.values() for f in r["findings"]],
        "timeouts": [t for r in results.values() for t in r["timeouts"]],
        "timeout": timeout,
    }


def replay(path: Path) -> int:
    """Run one saved reproducer in this process and show what it raises."""
    record = json.loads(path.read_text())
    data = bytes.fromhex(record["hex"])
    target = ft.target(record["target"])
    try:
        target.run(data)
    except ft.ALLOWED as exc:
        print(f"typed error (fine): {type(exc).__name__}: {exc}")
        return 0
    print("no error")
    return 0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
        if found := re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE):
            cpu = found.group(1).strip()
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} CPUs, {system}; CPython {platform.python_version()}"


def render(summary: dict[str, Any]) -> str:
    total, wall = summary["total"], summary["wall"]
    lines = [
        SECTION,
        "",
        f"`python bench/fuzz.py` on {time.strftime('%Y-%m-%d')}: {machine()}.",
        f"{total:,} inputs in {wall:,.0f} s over {len(summary['workers'])} worker processes "
        f"({total / wall:,.0f} inputs/s); each input a mutation of a valid seed "
        f"({1 - RANDOM_SHARE:.0%}) or random bytes ({RANDOM_SHARE:.0%}), per-input time limit "
        f"{summary['timeout']:g} s. Contract: a decoder returns or raises a `BuzpoError`.",
        "",
        "| target | inputs |",
        "|---|---:|",
    ]
    for name, n in summary["counts"].items():
        lines.append(f"| {name} | {n:,} |")
    lines += ["", "| worker | RSS start (MiB) | RSS end (MiB) | peak RSS (MiB) | seconds |"]
    lines.append("|---:|---:|---:|---:|---:|")
    for i, w in enumerate(summary["workers"]):
        lines.append(
            f"| {i} | {w['rss_start']:.1f} | {w['rss_end']:.1f} | {w['rss_peak']:.1f} "
            f"| {w['seconds']:.0f} |"
        )
    lines.append("")
    findings, timeouts = summary["findings"], summary["timeouts"]
    if not findings and not timeouts:
        lines.append("Findings in this run: none (no untyped exception, no input over the limit).")
    else:
        lines.append(f"Findings in this run: {len(findings)} untyped, {len(timeouts)} timeouts:")
        lines.append("")
        for f in findings:
            lines.append(f"- `{f['target']}`: {f['error']} ×{f['count']} (`{f['file']}`)")
        for t in timeouts:
            lines.append(f"- `{t['target']}`: timeout (`{t['file']}`)")
    lines += ["", "Found by this fuzzing (runs and tests/fuzz) and fixed before this run:", ""]
    lines += [f"- {text}" for text in FIXED_BY_FUZZING]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace (or append) the fuzzing section of RESULTS.md, leaving other sections alone."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    new = (
        pattern.sub(lambda _: text + "\n", old, count=1)
        if pattern.search(old)
        else (old.rstrip("\n") + "\n\n" + text + "\n")
    )
    RESULTS.write_text(new.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="total inputs")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds one input may take")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--replay", type=Path, help="run one saved reproducer and exit")
    args = parser.parse_args()
    if args.replay:
        raise SystemExit(replay(args.replay))
    print(f"parent RSS at start: {rss_mib():.1f} MiB", flush=True)
    ft.targets()  # build the seeds once in the parent; forked workers inherit them
    summary = run(args.inputs, args.workers, args.timeout)
    text = render(summary)
    print(text)
    print(f"parent RSS at end: {rss_mib():.1f} MiB")
    Path("/tmp/buzpo-fuzz-summary.json").write_text(json.dumps(summary, indent=1))
    if not args.no_write:
        write_section(text)
    if summary["findings"] or summary["timeouts"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
