"""Regenerate ``wa_pb2.py`` from ``wa.proto`` with grpcio-tools' bundled protoc.

Kept as a module (``python -m buzpo_nb.wa.proto.regenerate``) so the README command and the
sync test run the very same code path.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
PROTO = HERE / "wa.proto"
GENERATED = HERE / "wa_pb2.py"


def generate_source() -> str:
    """Compile wa.proto and return the text protoc writes for wa_pb2.py."""
    from grpc_tools import protoc  # dev dependency only

    with tempfile.TemporaryDirectory() as out:
        rc = protoc.main(["protoc", f"-I{HERE}", f"--python_out={out}", str(PROTO)])
        if rc != 0:
            raise RuntimeError(f"protoc failed with exit code {rc}")
        return (Path(out) / "wa_pb2.py").read_text()


def main() -> int:
    GENERATED.write_text(generate_source())
    print(f"wrote {GENERATED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
