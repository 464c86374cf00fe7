"""The ``buzpo`` command line. Each subcommand lives beside what it drives and registers itself
with ``add_parser``; this module only assembles them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from buzpo_nb import login
from buzpo_nb.gateway import cli as gateway_cli
from buzpo_nb.sandbox import cli as sandbox_cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="buzpo", description="Buzpo WhatsApp gateway")
    subparsers = parser.add_subparsers(dest="command", required=True)
    gateway_cli.add_parser(subparsers)
    login.add_parser(subparsers)
    sandbox_cli.add_parser(subparsers)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
