"""The checked-in ``signal_pb2.py`` must be exactly what protoc makes of ``signal.proto``.

Why: the generated module is committed, so an edit to the .proto without regenerating would ship
stale classes. Fix a failure with ``python -m buzpo_nb.wa.signal.regenerate``.
"""

from __future__ import annotations

from buzpo_nb.wa.signal.regenerate import GENERATED, generate_source


def test_generated_module_matches_proto() -> None:
    assert GENERATED.read_text() == generate_source(), (
        "signal_pb2.py is stale: run `python -m buzpo_nb.wa.signal.regenerate`"
    )
