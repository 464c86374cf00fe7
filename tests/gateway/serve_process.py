"""``buzpo serve`` as a real subprocess, for the tests that need a process to kill or a
command line to run word for word."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from buzpo_nb.gateway.cli import READY


class ServeProcess:
    """``python -m buzpo_nb.cli serve`` as a real subprocess; ``url`` once it listens."""

    def __init__(self, home: Path, *args: str) -> None:
        self.home = home
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.banner: list[str] = []

    async def start(self) -> ServeProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "buzpo_nb.cli",
            "serve",
            "--home",
            str(self.home),
            *self.args,
            "--log-level",
            "warning",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(30):
            while not self.banner or self.banner[-1].strip() != READY:
                line = (await self.proc.stdout.readline()).decode()
                assert line, f"buzpo serve exited before it was ready: {self.banner}"
                self.banner.append(line)
                found = re.search(r"Buzpo gateway on (http://\S+)", line)
                if found:
                    self.url = found.group(1)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        assert self.proc is not None
        return await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.kill9()
                await self.proc.wait()


@contextlib.asynccontextmanager
async def serve(home: Path, wa_url: str, *args: str) -> AsyncIterator[ServeProcess]:
    """``buzpo serve --home HOME --port 0 --wa-url WA_URL --allow-private-urls *args``."""
    async with serve_args(
        home, "--port", "0", "--wa-url", wa_url, "--allow-private-urls", *args
    ) as p:
        yield p


@contextlib.asynccontextmanager
async def serve_args(home: Path, *args: str) -> AsyncIterator[ServeProcess]:
    """``buzpo serve --home HOME *args``, stopped (SIGTERM) at the end."""
    process = ServeProcess(home, *args)
    try:
        yield await process.start()
    finally:
        await process.stop()
