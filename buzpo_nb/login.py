"""``buzpo login``: link one device from a terminal and show the connected session.

With ``--sandbox`` everything happens on this machine: an in-process sandbox starts, the QR is
printed, a virtual phone scans it (or types the pairing code), and the device connects. The
sandbox keeps its state in ``$BUZPO_HOME/sandbox`` so a second run resumes from the auth folder
with no QR, exactly as it would against WhatsApp. Without ``--sandbox`` the QR is for a real
phone (Settings → Linked devices), and the command waits for it to be scanned.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import sys
from collections.abc import AsyncIterator
from typing import TextIO

import qrcode

from buzpo_nb.client import Client, ClientStopped, ConnectionUpdate, QrCode, default_auth_dir
from buzpo_nb.client.auth_store import buzpo_home
from buzpo_nb.client.connection import DEFAULT_URL
from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.sandbox.errors import SandboxError

DEFAULT_SANDBOX_PHONE = "15550000001"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "login",
        help="link a device (QR or pairing code) and show the connected session",
        description="Link this machine as a WhatsApp linked device and connect it.",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="use an in-process sandbox whose virtual phone scans the QR (no real phone needed)",
    )
    parser.add_argument("--session", default="default", help="session id (auth folder name)")
    parser.add_argument("--url", help=f"WhatsApp Web socket URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--phone",
        default=DEFAULT_SANDBOX_PHONE,
        help="the sandbox's virtual phone number (default %(default)s)",
    )
    parser.add_argument(
        "--pairing-code",
        metavar="PHONE",
        help="link with an 8-character pairing code typed on PHONE instead of a QR",
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="give up after this many seconds"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(login(args, sys.stdout))
    except KeyboardInterrupt:
        return 130


@contextlib.asynccontextmanager
async def _maybe_sandbox(
    args: argparse.Namespace, out: TextIO
) -> AsyncIterator[SandboxServer | None]:
    if not args.sandbox:
        yield None
        return
    state = buzpo_home() / "sandbox"
    async with SandboxServer(port=0, state_dir=state) as server:
        with contextlib.suppress(SandboxError):  # exists from an earlier run
            server.sandbox.create_phone(args.phone)
        print(f"sandbox: {server.ws_url} (state in {state})", file=out)
        yield server


async def login(args: argparse.Namespace, out: TextIO) -> int:
    """Link (or resume) the session and return once it is open; the exit code says how it went."""
    async with _maybe_sandbox(args, out) as sandbox:
        url = args.url or (sandbox.ws_url if sandbox else DEFAULT_URL)
        auth_dir = default_auth_dir(args.session)
        client = Client(auth_dir, url=url)
        print(f"session {args.session!r}: auth folder {auth_dir}", file=out)
        stream = client.events()
        await client.connect()
        if client.is_linked:
            print("credentials found: resuming without a QR code", file=out)
        try:
            async with asyncio.timeout(args.timeout):
                if args.pairing_code and not client.is_linked:
                    code = await client.request_pairing_code(args.pairing_code)
                    print(f"pairing code for {args.pairing_code}: {code}", file=out)
                    if sandbox:
                        await sandbox.sandbox.link(args.pairing_code, code=code)
                        print(f"virtual phone {args.pairing_code} entered the code", file=out)
                async for event in stream:
                    if isinstance(event, QrCode) and not args.pairing_code:
                        await _show_qr(event, sandbox, args.phone, out)
                    elif isinstance(event, ConnectionUpdate):
                        print(
                            f"connection: {event.state}"
                            + (
                                f" ({event.reason_code} {event.reason})"
                                if event.reason_code
                                else ""
                            ),
                            file=out,
                        )
                        if event.state == "open":
                            me = client.me
                            assert me is not None
                            print(f"linked as {me.jid} (lid {me.lid}); session is open", file=out)
                            return 0
        except TimeoutError:
            print(f"gave up after {args.timeout:.0f} s", file=out)
            return 2
        except ClientStopped as exc:
            print(f"client stopped: {exc}", file=out)
            return 1
        finally:
            stream.close()
            await client.close()
    print("client stopped before the session opened", file=out)
    return 1


async def _show_qr(event: QrCode, sandbox: SandboxServer | None, phone: str, out: TextIO) -> None:
    print(
        f"scan this QR code with WhatsApp (Linked devices), valid {event.timeout:.0f} s:", file=out
    )
    print(render_qr(event.code), file=out)
    print(event.code, file=out)
    if sandbox is not None:
        linked = await sandbox.sandbox.link(phone, qr=event.code)
        print(f"virtual phone {phone} scanned the QR: device {linked.jid}", file=out)


def render_qr(data: str) -> str:
    """The QR as text blocks, readable by a phone camera from a terminal."""
    qr = qrcode.QRCode(border=1, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(data)
    buf = io.StringIO()
    qr.print_ascii(out=buf, invert=True)
    return buf.getvalue()
