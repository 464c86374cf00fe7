"""The typed value of a binary node: the unit every stanza is made of.

Mirrors Baileys' ``BinaryNode``: content is a list of child nodes, raw bytes, a string, or absent.
Decoded binary content is ``bytes``; tokens, packed strings and JIDs decode to ``str``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(slots=True)
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    content: list[Node] | bytes | str | None = None

    # -- navigation -----------------------------------------------------------------------
    @property
    def children(self) -> list[Node]:
        """Child nodes; empty when content is bytes, a string or absent."""
        return self.content if isinstance(self.content, list) else []

    def iter(self, tag: str) -> Iterator[Node]:
        """Direct children with this tag."""
        return (c for c in self.children if c.tag == tag)

    def child(self, tag: str) -> Node | None:
        """The first direct child with this tag, or None."""
        return next(self.iter(tag), None)

    def first_child(self) -> Node | None:
        kids = self.children
        return kids[0] if kids else None

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def content_bytes(self) -> bytes:
        """Content as bytes (UTF-8 for string content, empty when absent or a list)."""
        if isinstance(self.content, bytes):
            return self.content
        if isinstance(self.content, str):
            return self.content.encode()
        return b""

    def __repr__(self) -> str:  # compact, XML-ish, for logs and test failures
        attrs = "".join(f' {k}="{v}"' for k, v in self.attrs.items())
        if self.content is None:
            return f"<{self.tag}{attrs}/>"
        if isinstance(self.content, list):
            inner = "".join(repr(c) for c in self.content)
        elif isinstance(self.content, bytes):
            inner = f"[{len(self.content)} bytes]"
        else:
            inner = self.content
        return f"<{self.tag}{attrs}>{inner}</{self.tag}>"
