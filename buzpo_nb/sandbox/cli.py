"""``buzpo sandbox``: run the local WhatsApp-compatible server from the command line.

The top-level ``buzpo`` CLI calls ``add_parser(subparsers)`` to register the subcommand and
``run(args)`` to execute it. Runs until Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from buzpo_nb.sandbox.errors import SandboxError
from buzpo_nb.sandbox.server import SandboxServer
from buzpo_nb.sandbox.state import StateError

DEFAULT_PORT = 3020  # the port the product documentation names

USAGE = """\
WhatsApp Web clients (Baileys, Buzpo) connect to  {ws_url}
  Baileys: makeWASocket({{ waWebSocketUrl: '{ws_url}', ... }})
Control API:  {http_url}/sandbox   (OpenAPI docs at {http_url}/docs)
  create a phone:  curl -X POST {http_url}/sandbox/phones -H 'content-type: application/json' \\
                     -d '{{"number": "15551234567"}}'
  link a device:   curl -X POST {http_url}/sandbox/phones/15551234567/link \\
                     -H 'content-type: application/json' -d '{{"qr": "<QR string>"}}'
  send a message:  curl -X POST {http_url}/sandbox/phones/15551234567/messages \\
                     -H 'content-type: application/json' -d '{{"to": "+15557654321", "text": "hi"}}'
  read the phone:  curl '{http_url}/sandbox/phones/15551234567/messages?wait=30'
State: {state}
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "sandbox",
        help="run a local WhatsApp-compatible server with virtual phones",
        description="A local WhatsApp-compatible server: real WhatsApp Web clients link to it "
        "with QR codes or pairing codes shown to scriptable virtual phones.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s; 0 = any free)"
    )
    parser.add_argument(
        "--state",
        metavar="DIR",
        help="keep phones and linked devices in DIR across restarts (default: in memory)",
    )
    parser.add_argument(
        "--phone",
        metavar="NUMBER",
        action="append",
        default=[],
        help="create this virtual phone at start if it does not exist (repeatable)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="sandbox log level (debug shows every stanza)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns the process exit code."""
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


async def _serve(args: argparse.Namespace) -> int:
    try:
        server = SandboxServer(args.host, args.port, args.state, log_level="warning")
    except StateError as exc:
        print(f"buzpo sandbox: {exc}", file=sys.stderr)
        return 2
    for number in args.phone:
        if number in server.world.phones:
            continue
        try:
            server.sandbox.create_phone(number)
        except SandboxError as exc:
            print(f"buzpo sandbox: --phone {number}: {exc.message}", file=sys.stderr)
            return 2
    try:
        await server.start()
    except OSError as exc:
        print(f"buzpo sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(
        USAGE.format(
            ws_url=server.ws_url,
            http_url=server.http_url,
            state=args.state or "in memory (use --state DIR to keep it)",
        ),
        flush=True,
    )
    for phone in server.sandbox.phones():
        print(f"Phone {phone.number} (lid {phone.lid}), {len(phone.devices)} linked device(s)")
    try:
        await server.serve_forever()
    finally:
        await server.stop()
    return 0
