"""``buzpo serve``: run the gateway (REST API, sessions, webhooks) from the command line.

``buzpo serve --sandbox`` is the no-phone demo: an in-process sandbox (state in
``<home>/sandbox``, one virtual phone) stands in for WhatsApp, and the printed curl lines walk
through the quickstart. The admin token is printed once, when it is created. Runs until Ctrl-C
or SIGTERM, then stops gracefully (queued messages and webhook events stay queued on disk).

The top-level ``buzpo`` CLI calls ``add_parser(subparsers)`` and ``run(args)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TextIO

from buzpo_nb.client import ClientSettings
from buzpo_nb.gateway.config import DEFAULT_PORT, GatewaySettings
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.gateway.sessions import SessionOptions
from buzpo_nb.wa.client_payload import ClientConfig

DEFAULT_SANDBOX_PORT = 3020
READY = "Ready. Ctrl-C stops the gateway (queued work stays on disk)."
# The no-phone demo's virtual phones: the account to link, and a friend to write to.
DEMO_PHONES = ("15550000001", "15550000002")

BANNER = """\
Buzpo gateway on {url}  (OpenAPI docs: {url}/docs)
Home: {home}
"""
TOKEN = """\
Admin token (shown once; also in {path}):
  {token}
"""
SANDBOX = """\
Sandbox standing in for WhatsApp: {sandbox}
  virtual phones: {account} (link the session to it), {friend} (a friend to write to)
  the README's quickstart walks through it with curl
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "serve",
        help="run the gateway: REST API, WhatsApp sessions, signed webhooks",
        description="Run the Buzpo gateway on http://HOST:PORT.",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help=f"port (default {DEFAULT_PORT}; 0 = any free port)"
    )
    parser.add_argument(
        "--home", metavar="DIR", help="data folder (default $BUZPO_HOME or ~/.buzpo)"
    )
    parser.add_argument(
        "--wa-url",
        metavar="URL",
        help="another WhatsApp-compatible server, e.g. a `buzpo sandbox` (or BUZPO_WA_URL)",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="start an in-process sandbox and point sessions at it (no-phone demo)",
    )
    parser.add_argument(
        "--sandbox-port",
        type=int,
        default=DEFAULT_SANDBOX_PORT,
        help="the in-process sandbox's port (default %(default)s)",
    )
    parser.add_argument(
        "--allow-private-urls",
        action="store_true",
        default=None,
        help="let webhookUrl/mediaUrl reach loopback and private addresses "
        "(or BUZPO_ALLOW_PRIVATE_URLS=1)",
    )
    parser.add_argument(
        "--wa-version",
        metavar="X.Y.Z",
        help="the WhatsApp Web version to announce (or BUZPO_WA_VERSION); "
        "change it if WhatsApp refuses the client version (405)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(serve(args, sys.stdout))
    except KeyboardInterrupt:
        return 0
    except ValueError as exc:  # bad settings (env flag, port, version)
        print(f"buzpo serve: {exc}", file=sys.stderr)
        return 2


async def serve(args: argparse.Namespace, out: TextIO) -> int:
    settings = GatewaySettings.from_env(
        home=args.home,
        host=args.host,
        port=args.port,
        wa_url=args.wa_url,
        allow_private_urls=args.allow_private_urls,
    )
    version = args.wa_version or os.environ.get("BUZPO_WA_VERSION")
    async with _maybe_sandbox(args, settings) as sandbox_url:
        if sandbox_url is not None:
            settings = settings.with_(wa_url=sandbox_url.replace("http://", "ws://") + "/ws/chat")
        options = SessionOptions.from_settings(settings, client=_client_settings(version))
        server = GatewayServer(settings, session_options=options)
        try:
            await server.start()
        except OSError as exc:
            print(
                f"buzpo serve: cannot listen on {settings.host}:{settings.port}: {exc}",
                file=sys.stderr,
            )
            return 1
        print(BANNER.format(url=server.url, home=settings.home), file=out, flush=True)
        token = server.admin_token
        if token.created:
            print(TOKEN.format(path=token.path, token=token.value), file=out, flush=True)
        if sandbox_url is not None:
            print(
                SANDBOX.format(sandbox=sandbox_url, account=DEMO_PHONES[0], friend=DEMO_PHONES[1]),
                file=out,
                flush=True,
            )
        print(READY, file=out, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        waiter = asyncio.create_task(stop.wait())
        serving = asyncio.create_task(server.serve_forever())
        await asyncio.wait({waiter, serving}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await server.stop()
    return 0


@contextlib.asynccontextmanager
async def _maybe_sandbox(
    args: argparse.Namespace, settings: GatewaySettings
) -> AsyncIterator[str | None]:
    if not args.sandbox:
        yield None
        return
    from buzpo_nb.sandbox import SandboxServer
    from buzpo_nb.sandbox.errors import SandboxError

    async with SandboxServer(
        settings.host, args.sandbox_port, settings.home / "sandbox"
    ) as sandbox:
        for number in DEMO_PHONES:
            with contextlib.suppress(SandboxError):  # exists from an earlier run
                sandbox.sandbox.create_phone(number)
        yield sandbox.http_url


def _client_settings(version: str | None) -> ClientSettings:
    settings = ClientSettings()
    if not version:
        return settings
    if not re.fullmatch(r"\d+\.\d+\.\d+", version.strip()):
        raise ValueError(f"--wa-version must look like 2.3000.1027934701, got {version!r}")
    parts = tuple(int(p) for p in version.strip().split("."))
    return replace(settings, config=replace(ClientConfig(), version=parts))
