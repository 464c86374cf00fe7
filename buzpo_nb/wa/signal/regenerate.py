"""Regenerate ``signal_pb2.py`` from ``signal.proto`` with grpcio-tools' bundled protoc.

Kept as a module (``python -m buzpo_nb.wa.signal.regenerate``) so the command and the sync test
(tests/wa/signal/test_signal_proto_sync.py) run the very same code path. The generated file gets
a ``# ruff: noqa`` / ``# fmt: off`` header because the project's ruff exclude only names
``wa/proto/*_pb2.py`` (lint and ``ruff format`` must leave protoc's output alone).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
PROTO = HERE / "signal.proto"
GENERATED = HERE / "signal_pb2.py"
HEADER = "# ruff: noqa\n# fmt: off\n"


def generate_source() -> str:
    """Compile signal.proto and return the text that belongs in signal_pb2.py."""
    from grpc_tools import protoc  # dev dependency only

    with tempfile.TemporaryDirectory() as out:
        rc = protoc.main(["protoc", f"-I{HERE}", f"--python_out={out}", str(PROTO)])
        if rc != 0:
            raise RuntimeError(f"protoc failed with exit code {rc}")
        return HEADER + (Path(out) / "signal_pb2.py").read_text()


def main() -> int:
    GENERATED.write_text(generate_source())
    print(f"wrote {GENERATED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
