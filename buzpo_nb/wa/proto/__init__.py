"""WhatsApp protobuf messages (a subset), compiled from ``wa.proto`` into ``wa_pb2``.

Use ``from buzpo_nb.wa.proto import wa_pb2 as waproto``. This package imports nothing itself, so
``python -m buzpo_nb.wa.proto.regenerate`` still runs when ``wa_pb2.py`` is stale or missing.
"""
