"""Breaking a delivered message on purpose, for the ``corrupt_next_message`` fault.

A bot must survive a message it cannot decrypt: the receiver answers with a retry receipt and
the sender re-encrypts (messaging-spike.md step 6). To rehearse that, the sandbox flips one bit
in the authentication tag of every ciphertext of one delivered message: the MAC of a ``msg``,
the MAC of the WhisperMessage inside a ``pkmsg`` (so the receiver gets as far as building the
session, then rejects it and stores nothing), the signature of an ``skmsg``. Pure functions.
"""

from __future__ import annotations

from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.signal import PreKeyWhisperMessage


def corrupt_message(node: Node) -> Node:
    """A copy of ``node`` whose every ``<enc>`` fails authentication at the receiver."""
    content = [
        Node(c.tag, dict(c.attrs), _flip_tag(c.attrs.get("type"), c.content))
        if c.tag == "enc" and isinstance(c.content, bytes) and c.content
        else c
        for c in node.children
    ]
    return Node(node.tag, dict(node.attrs), content)


def is_corruptible(node: Node) -> bool:
    return node.tag == "message" and any(
        c.tag == "enc" and isinstance(c.content, bytes) and c.content for c in node.children
    )


def _flip_tag(enc_type: str | None, data: bytes) -> bytes:
    end = len(data)  # the MAC / signature is at the end of msg and skmsg
    if enc_type == "pkmsg":
        try:
            inner = PreKeyWhisperMessage.parse(data).message
        except BuzpoError:
            inner = b""
        at = data.rfind(inner) if inner else -1
        if at >= 0:
            end = at + len(inner)
    i = end - 1
    return data[:i] + bytes((data[i] ^ 0x01,)) + data[i + 1 :]
