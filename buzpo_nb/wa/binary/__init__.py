"""WhatsApp's binary XML ("binary node") codec, byte-compatible with Baileys 7.0.0-rc.9.

``encode_node`` / ``decode_node`` work on whole frame payloads, i.e. including the leading flag
byte (bit 1 set = zlib-compressed). Sans-I/O: bytes in, bytes out.
"""

from __future__ import annotations

from buzpo_nb.wa.binary.decoder import MAX_DEPTH, MAX_INFLATED, decode_node
from buzpo_nb.wa.binary.encoder import encode_node
from buzpo_nb.wa.binary.node import Node

__all__ = ["MAX_DEPTH", "MAX_INFLATED", "Node", "decode_node", "encode_node"]
