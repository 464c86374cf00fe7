"""The checked-in ``wa_pb2.py`` must be exactly what protoc makes of ``wa.proto``.

Why: the generated module is committed (so users need no protoc), which means an edit to
``wa.proto`` without regenerating would silently ship stale message classes.
Fix a failure with ``python -m buzpo_nb.wa.proto.regenerate``.
"""

from __future__ import annotations

from buzpo_nb.wa.proto.regenerate import GENERATED, generate_source


def test_generated_module_matches_proto() -> None:
    assert GENERATED.read_text() == generate_source(), (
        "wa_pb2.py is stale: run `python -m buzpo_nb.wa.proto.regenerate`"
    )
