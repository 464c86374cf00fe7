"""Scale: many linked idle sessions in one Buzpo process against one sandbox.

    python bench/scale.py [--sessions 1000] [--idle 60] [--link-concurrency 32] [--no-write]

Starts one sandbox (``buzpo sandbox --state DIR --port P`` in its own process, so the clients
never share a CPU or a GIL with the server), creates one virtual phone per session through the
control API, and in this process opens ``--sessions`` ``Client`` objects (each with its own
multi-file auth folder under a temporary home), linking them in parallel: each client shows a
QR, the harness has that client's phone "scan" it (``POST /sandbox/phones/{n}/link``), and the
client goes through the 515 restart to ``open``. Then it measures:

* **memory**: this process's RSS before the first client and after all are open and idle
  (``gc.collect()`` first), as a total and per session;
* **idle CPU**: this process's CPU time over ``--idle`` seconds of wall time with every session
  open (keep-alive pings every 30 s each), as a percentage of one core;
* **reconnect**: the sandbox is stopped (SIGTERM) and started again on the same ``--state``
  directory and the same port; the time from the new sandbox listening (and from the stop) until
  every client is ``open`` again. Clients reconnect by themselves with backoff + jitter.

Prints a table and rewrites the "## Scale" section of bench/RESULTS.md. ``run_scale`` is also
used by ``tests/bench_smoke/test_scale_smoke.py`` at a tiny size (correctness only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from benchlib import (
    BENCH_DIR,
    ROOT,
    machine,
    python_env,
    rss_bytes,
    run_node,
    today,
    write_section,
)

from buzpo_nb.client import Client, ConnectionUpdate, QrCode
from buzpo_nb.client.events import EventStream

SECTION = "## Scale"
TIMEOUT = 120.0
NUMBER_BASE = 15558000000


# -- process facts --------------------------------------------------------------------------------
def raise_nofile_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (each session holds a socket); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the sandbox in its own process, restartable on the same state and port ----------------------
@dataclass
class SandboxProcess:
    """``buzpo sandbox`` as a child process on a fixed port and state folder."""

    state_dir: Path
    port: int
    proc: asyncio.subprocess.Process | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        """Start it and return once its control API answers."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "buzpo_nb.cli",
            "sandbox",
            "--port",
            str(self.port),
            "--state",
            str(self.state_dir),
            "--log-level",
            "warning",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError("the sandbox exited during start-up")
                if "Control API:" in line:
                    break
        # Keep reading its stdout so a chatty sandbox never blocks on a full pipe.
        asyncio.get_running_loop().create_task(self._drain(self.proc))

    @staticmethod
    async def _drain(proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while await proc.stdout.read(65536):
            pass

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        self.proc = None


@contextlib.asynccontextmanager
async def sandbox_process(
    state_dir: Path, port: int | None = None
) -> AsyncIterator[SandboxProcess]:
    sandbox = SandboxProcess(state_dir, port or free_port())
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


# -- linking many clients -------------------------------------------------------------------------
def _limits(concurrency: int) -> httpx.Limits:
    # Uvicorn closes a keep-alive connection after 5 s idle; a request racing that close fails
    # with ReadError, so idle connections are dropped well before.
    return httpx.Limits(max_connections=concurrency, keepalive_expiry=1.0)


async def create_phones(http: httpx.AsyncClient, numbers: list[str], concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(number: str) -> None:
        async with gate:
            r = await http.post("/sandbox/phones", json={"number": number})
            r.raise_for_status()

    await asyncio.gather(*(one(n) for n in numbers))


async def link_client(client: Client, http: httpx.AsyncClient, number: str) -> None:
    """Connect ``client``, have ``number``'s phone scan its first QR, wait until it is open."""
    stream = client.events()  # subscribed before connect(): the first QR cannot be missed
    try:
        await client.connect()
        async with asyncio.timeout(TIMEOUT):
            while not isinstance(event := await stream.next(), QrCode):
                pass
        r = await http.post(f"/sandbox/phones/{number}/link", json={"qr": event.code})
        r.raise_for_status()
    finally:
        stream.close()
    await client.wait_until_open(TIMEOUT)


async def reopened(client: Client, stream: EventStream, codes: list[int | None]) -> None:
    """Return once ``client`` went through a close (its code is added to ``codes``) and is
    ``open`` again. ``stream`` was subscribed before the server went away."""
    closed = False
    try:
        while not (closed and client.state == "open"):
            event = await stream.next()
            if isinstance(event, ConnectionUpdate) and event.state == "close" and not closed:
                closed = True
                codes.append(event.reason_code)
    finally:
        stream.close()


# -- the run --------------------------------------------------------------------------------------
@dataclass
class ScaleResult:
    sessions: int
    link_seconds: float = 0.0
    link_cpu: float = 0.0  # CPU seconds of this process while linking
    sandbox_link_cpu: float = 0.0
    rss_before: int = 0
    rss_after: int = 0
    sandbox_rss: int = 0
    idle_seconds: float = 0.0
    idle_cpu: float = 0.0  # CPU seconds of this process while idle
    sandbox_idle_cpu: float = 0.0
    stop_seconds: float = 0.0  # SIGTERM -> sandbox exited
    start_seconds: float = 0.0  # new sandbox process -> control API answers
    reopen_after_listen: float = 0.0  # sandbox answering -> every client open
    reopen_after_stop: float = 0.0  # SIGTERM -> every client open
    open_after_restart: int = 0
    closed_by_restart: int = 0  # clients that saw their connection close
    close_codes: dict[str, int] = field(default_factory=dict)
    nofile: tuple[int, int] = (0, 0)

    @property
    def rss_per_session(self) -> float:
        return (self.rss_after - self.rss_before) / self.sessions

    @property
    def idle_cpu_percent(self) -> float:
        return 100 * self.idle_cpu / self.idle_seconds if self.idle_seconds else 0.0


async def run_scale(
    sessions: int,
    *,
    idle: float = 60.0,
    link_concurrency: int = 32,
    home: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> ScaleResult:
    """Link ``sessions`` clients, measure memory and idle CPU, restart the sandbox, reopen."""
    result = ScaleResult(sessions, nofile=raise_nofile_limit())
    home = Path(home or tempfile.mkdtemp(prefix="buzpo-scale-"))
    numbers = [str(NUMBER_BASE + i) for i in range(sessions)]
    clients: list[Client] = []
    async with (
        sandbox_process(home / "sandbox-state") as sandbox,
        httpx.AsyncClient(
            base_url=sandbox.http_url,
            timeout=TIMEOUT,
            limits=_limits(link_concurrency),
        ) as http,
    ):
        try:
            await create_phones(http, numbers, link_concurrency)
            gc.collect()
            result.rss_before = rss_bytes()

            clients = [
                Client(
                    home / "auth" / number,
                    url=sandbox.ws_url,
                    query_timeout=TIMEOUT,
                    connect_timeout=TIMEOUT,
                )
                for number in numbers
            ]
            gate = asyncio.Semaphore(link_concurrency)

            async def link(client: Client, number: str) -> None:
                async with gate:
                    await link_client(client, http, number)

            t0, cpu0, sb_cpu0 = time.perf_counter(), time.process_time(), cpu_seconds(sandbox.pid)
            await asyncio.gather(*(link(c, n) for c, n in zip(clients, numbers, strict=True)))
            result.link_seconds = time.perf_counter() - t0
            result.link_cpu = time.process_time() - cpu0
            result.sandbox_link_cpu = cpu_seconds(sandbox.pid) - sb_cpu0
            progress(
                f"{sessions} linked in {result.link_seconds:.1f} s (CPU: Buzpo "
                f"{result.link_cpu:.1f} s, sandbox {result.sandbox_link_cpu:.1f} s)"
            )

            # Let the post-login work (pre-key upload, offline batch, first pings) settle.
            await asyncio.sleep(min(5.0, idle))
            gc.collect()
            result.rss_after = rss_bytes()
            result.sandbox_rss = rss_bytes(sandbox.pid)
            progress(f"RSS {result.rss_per_session / 1024:.0f} KiB/session")

            cpu0, sb_cpu0, t0 = time.process_time(), cpu_seconds(sandbox.pid), time.monotonic()
            await asyncio.sleep(idle)
            result.idle_seconds = time.monotonic() - t0
            result.idle_cpu = time.process_time() - cpu0
            result.sandbox_idle_cpu = cpu_seconds(sandbox.pid) - sb_cpu0
            progress(f"idle CPU {result.idle_cpu_percent:.2f}% over {result.idle_seconds:.0f} s")

            streams = [c.events() for c in clients]
            codes: list[int | None] = []
            waits = asyncio.gather(
                *(reopened(c, s, codes) for c, s in zip(clients, streams, strict=True))
            )
            t_stop = time.perf_counter()
            await sandbox.stop()
            result.stop_seconds = time.perf_counter() - t_stop
            t_start = time.perf_counter()
            await sandbox.start()
            t_listen = time.perf_counter()
            result.start_seconds = t_listen - t_start
            async with asyncio.timeout(TIMEOUT):
                await waits
            done = time.perf_counter()
            result.reopen_after_listen = done - t_listen
            result.reopen_after_stop = done - t_stop
            result.open_after_restart = sum(1 for c in clients if c.state == "open")
            result.closed_by_restart = len(codes)
            result.close_codes = {str(k): codes.count(k) for k in set(codes)}
            progress(f"all open again {result.reopen_after_listen:.1f} s after the restart")
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return result


# -- the same through the gateway's SessionManager ------------------------------------------------
async def run_gateway_scale(
    sessions: int,
    *,
    idle: float = 30.0,
    link_concurrency: int = 32,
    home: Path | None = None,
) -> ScaleResult:
    """``run_scale`` with the sessions owned by the gateway's ``SessionManager`` (its SQLite
    store, one writer task and runtime per session) instead of bare ``Client``s."""
    from buzpo_nb.gateway.sessions import OPEN, SessionManager, SessionOptions
    from buzpo_nb.gateway.store import GatewayStore

    result = ScaleResult(sessions, nofile=raise_nofile_limit())
    home = Path(home or tempfile.mkdtemp(prefix="buzpo-gw-scale-"))
    numbers = [str(NUMBER_BASE + 200_000 + i) for i in range(sessions)]
    async with (
        sandbox_process(home / "sandbox-state") as sandbox,
        httpx.AsyncClient(
            base_url=sandbox.http_url, timeout=TIMEOUT, limits=_limits(link_concurrency)
        ) as http,
        GatewayStore(home / "gateway") as store,
    ):
        await create_phones(http, numbers, link_concurrency)
        manager = SessionManager(
            store, SessionOptions(auth_root=home / "gateway" / "auth", wa_url=sandbox.ws_url)
        )
        await manager.start()
        try:
            gc.collect()
            result.rss_before = rss_bytes()
            gate = asyncio.Semaphore(link_concurrency)
            ids: list[str] = []

            async def link(i: int, number: str) -> None:
                async with gate:
                    view, _ = await manager.create(f"scale {i}")
                    ids.append(view.id)
                    state = await manager.qr(view.id)
                    assert state.qr_string is not None, state
                    r = await http.post(
                        f"/sandbox/phones/{number}/link", json={"qr": state.qr_string}
                    )
                    r.raise_for_status()
                    await manager.wait_status(view.id, OPEN, timeout=TIMEOUT)

            t0, cpu0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(link(i, n) for i, n in enumerate(numbers)))
            result.link_seconds = time.perf_counter() - t0
            result.link_cpu = time.process_time() - cpu0
            await asyncio.sleep(min(5.0, idle))
            await manager.flush()
            gc.collect()
            result.rss_after = rss_bytes()
            cpu0, t0 = time.process_time(), time.monotonic()
            await asyncio.sleep(idle)
            result.idle_seconds = time.monotonic() - t0
            result.idle_cpu = time.process_time() - cpu0

            t_stop = time.perf_counter()
            await sandbox.stop()
            for sid in ids:
                await manager.wait_status(sid, "connecting", "disconnected", timeout=TIMEOUT)
            result.closed_by_restart = len(ids)
            result.stop_seconds = time.perf_counter() - t_stop
            t_start = time.perf_counter()
            await sandbox.start()
            t_listen = time.perf_counter()
            result.start_seconds = t_listen - t_start
            await asyncio.gather(*(manager.wait_status(sid, OPEN, timeout=TIMEOUT) for sid in ids))
            done = time.perf_counter()
            result.reopen_after_listen = done - t_listen
            result.reopen_after_stop = done - t_stop
            result.open_after_restart = sum(1 for sid in ids if manager.status(sid) == OPEN)
        finally:
            await manager.stop()
    return result


# -- Baileys, for comparison -----------------------------------------------------------------------
@dataclass
class BaileysResult:
    sessions: int
    rss_before: int
    rss_after: int
    idle_cpu: float
    idle_seconds: float

    @property
    def rss_per_session(self) -> float:
        return (self.rss_after - self.rss_before) / self.sessions


async def run_baileys(
    sessions: int,
    *,
    idle: float = 10.0,
    concurrency: int = 16,
    home: Path | None = None,
) -> BaileysResult:
    """``bench/baileys_scale.mjs``: ``sessions`` Baileys sockets in one Node process."""
    home = Path(home or tempfile.mkdtemp(prefix="baileys-scale-"))
    numbers = [str(NUMBER_BASE + 500_000 + i) for i in range(sessions)]
    async with (
        sandbox_process(home / "sandbox-state") as sandbox,
        httpx.AsyncClient(
            base_url=sandbox.http_url, timeout=TIMEOUT, limits=_limits(concurrency)
        ) as http,
    ):
        await create_phones(http, numbers, concurrency)
        config = {
            "url": sandbox.ws_url,
            "auth": str(home / "auth"),
            "sessions": sessions,
            "concurrency": concurrency,
            "settle": 5,
            "idle": idle,
        }
        out = await run_node(
            BENCH_DIR / "baileys_scale.mjs",
            config,
            http=http,
            numbers=numbers,
            node_args=["--expose-gc"],
            timeout=TIMEOUT + 10 * sessions,
        )
    return BaileysResult(
        sessions, out["rss_before"], out["rss_after"], out["cpu_seconds"], out["wall_seconds"]
    )


# -- report ---------------------------------------------------------------------------------------
def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


def render(
    r: ScaleResult,
    args: argparse.Namespace,
    same_n: ScaleResult | None = None,
    baileys: BaileysResult | None = None,
    gateway: ScaleResult | None = None,
) -> str:
    lines = [
        SECTION,
        "",
        f"`python bench/scale.py --sessions {r.sessions} --idle {args.idle:g} --baileys "
        f"{args.baileys}` on {today()}: {machine()}; RLIMIT_NOFILE {r.nofile[0]} (the harness "
        "raises the soft limit to the hard one).",
        f"{r.sessions} `Client`s (each with its own multi-file auth folder) in one process,",
        "linked to as many virtual phones of one sandbox running in its own process (`--state`),",
        f"QR scans through the control API with up to {args.link_concurrency} links in flight.",
        "RSS is read after `gc.collect()` once every session is open and has idled 5 s.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| sessions linked and open | {r.sessions} |",
        f"| time to link all (QR → scan → 515 → open) | {r.link_seconds:.1f} s |",
        f"| CPU while linking: Buzpo / sandbox | {r.link_cpu:.1f} s / {r.sandbox_link_cpu:.1f} s |",
        f"| Buzpo RSS before the first client | {_mib(r.rss_before)} MiB |",
        f"| Buzpo RSS with all open and idle | {_mib(r.rss_after)} MiB |",
        f"| **Buzpo RSS per idle session** | **{r.rss_per_session / 1024:,.0f} KiB** |",
        f"| sandbox RSS (all devices connected) | {_mib(r.sandbox_rss)} MiB |",
        f"| Buzpo CPU while idle ({r.idle_seconds:.0f} s) | {r.idle_cpu_percent:.2f}% of a core |",
        f"| sandbox CPU over the same time | "
        f"{100 * r.sandbox_idle_cpu / r.idle_seconds:.2f}% of a core |",
        f"| sandbox restart: stop / start until it answers | {r.stop_seconds:.1f} s / "
        f"{r.start_seconds:.1f} s |",
        f"| all {r.sessions} open again, from the new sandbox answering | "
        f"{r.reopen_after_listen:.1f} s |",
        f"| all open again, from the stop | {r.reopen_after_stop:.1f} s |",
        f"| closed by the restart (codes) / open again after it | {r.closed_by_restart} "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(r.close_codes.items()))}) / "
        f"{r.open_after_restart} |",
        "",
    ]
    if baileys is not None:
        b = baileys
        lines += [
            f"Memory per idle session against Baileys 7.0.0-rc.9 at {b.sessions} sessions",
            "(`bench/baileys_scale.mjs`: `makeWASocket` on its own `useMultiFileAuthState` folder",
            "per socket, all in one Node process run with `--expose-gc`, GC before each reading,",
            "same kind of sandbox; Buzpo's row at that size is this harness in a fresh process):",
            "",
            "| sessions | Buzpo RSS / session | Baileys RSS / session | ratio (aim ≤ 1) "
            "| Buzpo idle CPU | Baileys idle CPU |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        bl_cpu = f"{100 * b.idle_cpu / b.idle_seconds:.2f}%"
        if same_n is not None:
            lines.append(
                f"| {b.sessions} | {same_n.rss_per_session / 1024:,.0f} KiB "
                f"| {b.rss_per_session / 1024:,.0f} KiB "
                f"| **{same_n.rss_per_session / b.rss_per_session:.2f}** "
                f"| {same_n.idle_cpu_percent:.2f}% | {bl_cpu} |"
            )
        lines += [
            f"| {r.sessions} | {r.rss_per_session / 1024:,.0f} KiB | (not run: ~"
            f"{b.rss_per_session * r.sessions / 2**30:.1f} GiB) "
            f"| **{r.rss_per_session / b.rss_per_session:.2f}** vs Baileys at {b.sessions} "
            f"| {r.idle_cpu_percent:.2f}% | |",
            "",
        ]
    if gateway is not None:
        g = gateway
        lines += [
            "Through the gateway (`SessionManager` with its SQLite store, a runtime and a writer",
            f"task per session, the gateway's session backoff), {g.sessions} sessions in a fresh",
            f"process: **{g.rss_per_session / 1024:,.0f} KiB RSS per idle session**, idle CPU "
            f"{g.idle_cpu_percent:.2f}% of a core, linking {g.link_seconds:.1f} s, all open again "
            f"{g.reopen_after_listen:.1f} s after the restarted sandbox answers "
            f"({g.open_after_restart}/{g.sessions}).",
            "",
        ]
    lines += NOTES
    return "\n".join(lines)


NOTES = [
    "Reading it: a Buzpo session costs a `Client`, its websocket and Noise state, a keep-alive",
    "task and the credentials (~40 KiB of Python objects by tracemalloc); the rest of the RSS",
    "per session at small N is allocator slack left by the linking burst, which later sessions",
    "reuse, so the per-session figure falls as N grows. Signal sessions and pre-keys stay in",
    "the auth folder until a message needs them. Idle, each session pings every 30 s.",
    "Linking is the expensive step, once per device: 812 one-time pre-keys are generated,",
    "written as 812 fsync'ed files (Baileys' folder layout; durable before they are uploaded)",
    "and uploaded; that is most of the ~0.4 CPU-s per link. After the restart every client",
    "reconnects by itself (code 428 seen by all) with exponential backoff and 50% jitter, so",
    "the 1,000 handshakes spread out instead of arriving in one burst; the time after the",
    "sandbox answers includes the backoff the clients reached while it was loading its state.",
    "Fixed for this run: the sandbox rewrote its whole `world.json` (tens of MB at 1,000",
    "devices, indented by the slow pure-Python JSON encoder) after every change, so linking",
    "slowed quadratically; it now writes compact JSON and, once a save is slow, spaces saves",
    "by 4x their duration (a clean stop still writes the last change).",
    "",
]


def run_scale_process(
    sessions: int, idle: float, link_concurrency: int, via: str = "client"
) -> ScaleResult:
    """``run_scale`` (or ``run_gateway_scale``) in a child process: RSS per session means
    nothing in a process that already held (and freed) a bigger run."""
    with tempfile.TemporaryDirectory(prefix="buzpo-scale-") as tmp:
        out = Path(tmp) / "scale.json"
        args = ["--sessions", str(sessions), "--idle", str(idle), "--via", via]
        args += ["--link-concurrency", str(link_concurrency), "--baileys", "0", "--gateway", "0"]
        subprocess.run(
            [sys.executable, __file__, *args, "--no-write", "--json", str(out)],
            check=True,
            env=python_env(),
            stdout=subprocess.DEVNULL,
            timeout=TIMEOUT + 10 * sessions,
        )
        return scale_result(json.loads(out.read_text())["scale"])


def scale_result(data: dict[str, Any]) -> ScaleResult:
    return ScaleResult(**{k: tuple(v) if k == "nofile" else v for k, v in data.items()})


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--link-concurrency", type=int, default=32)
    parser.add_argument(
        "--baileys",
        type=int,
        default=100,
        help="Baileys sockets to compare with, and a Buzpo run of that size (0: none)",
    )
    parser.add_argument(
        "--gateway",
        type=int,
        default=100,
        help="sessions for a run through the gateway's SessionManager (0: none)",
    )
    parser.add_argument(
        "--via", choices=["client", "gateway"], default="client", help=argparse.SUPPRESS
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the measurements here as JSON")
    args = parser.parse_args()

    if args.via == "gateway":
        result = asyncio.run(
            run_gateway_scale(args.sessions, idle=args.idle, link_concurrency=args.link_concurrency)
        )
    else:
        result = asyncio.run(
            run_scale(
                args.sessions, idle=args.idle, link_concurrency=args.link_concurrency, progress=_say
            )
        )
    same_n = baileys = gateway = None
    if args.gateway:
        _say(f"Buzpo through the gateway's SessionManager at {args.gateway} sessions")
        gateway = run_scale_process(
            args.gateway, min(args.idle, 30.0), args.link_concurrency, "gateway"
        )
    if args.baileys:
        _say(f"Buzpo at {args.baileys} sessions (a fresh process)")
        idle = min(args.idle, 30.0)
        same_n = run_scale_process(args.baileys, idle, args.link_concurrency)
        _say(f"Baileys at {args.baileys} sessions")
        baileys = asyncio.run(run_baileys(args.baileys, idle=idle))
    text = render(result, args, same_n, baileys, gateway)
    print(text)
    if args.json:
        data = {"scale": asdict(result)}
        if same_n is not None and baileys is not None:
            data |= {"buzpo_same_n": asdict(same_n), "baileys": asdict(baileys)}
        if gateway is not None:
            data |= {"gateway": asdict(gateway)}
        args.json.write_text(json.dumps(data, indent=1))
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
