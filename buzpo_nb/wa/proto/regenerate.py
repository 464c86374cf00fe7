"""Regenerate every checked-in ``*_pb2.py`` from its ``.proto`` with grpcio-tools' bundled protoc.

One command (``python -m buzpo_nb.wa.proto.regenerate``) for all schemas, and the sync tests
call the same ``generate_source`` so "what the command writes" and "what the test expects" can
never drift apart. Dev tooling: it writes files, and is never imported at run time.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
PROTO = HERE / "wa.proto"
GENERATED = HERE / "wa_pb2.py"
SIGNAL_PROTO = HERE.parent / "signal" / "signal.proto"
SIGNAL_GENERATED = HERE.parent / "signal" / "signal_pb2.py"

SCHEMAS = {PROTO: GENERATED, SIGNAL_PROTO: SIGNAL_GENERATED}


def generate_source(proto: Path = PROTO) -> str:
    """Compile ``proto`` and return the text protoc writes for its ``*_pb2.py``."""
    from grpc_tools import protoc  # dev dependency only

    with tempfile.TemporaryDirectory() as out:
        rc = protoc.main(["protoc", f"-I{proto.parent}", f"--python_out={out}", str(proto)])
        if rc != 0:
            raise RuntimeError(f"protoc failed with exit code {rc}")
        return (Path(out) / f"{proto.stem}_pb2.py").read_text()


def main() -> int:
    for proto, generated in SCHEMAS.items():
        generated.write_text(generate_source(proto))
        print(f"wrote {generated}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
