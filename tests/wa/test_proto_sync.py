"""Each checked-in ``*_pb2.py`` must be exactly what protoc makes of its ``.proto``.

Why: the generated modules are committed, so an edit to a .proto without regenerating would ship
stale classes. Fix a failure with ``python -m buzpo_nb.wa.proto.regenerate``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from buzpo_nb.wa.proto.regenerate import SCHEMAS, generate_source


@pytest.mark.parametrize("proto", list(SCHEMAS), ids=lambda p: p.name)
def test_generated_module_matches_proto(proto: Path) -> None:
    assert SCHEMAS[proto].read_text() == generate_source(proto), (
        f"{SCHEMAS[proto].name} is stale: run `python -m buzpo_nb.wa.proto.regenerate`"
    )
