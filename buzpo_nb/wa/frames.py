"""WhatsApp's outer framing: the intro header and 3-byte length-prefixed frames.

Why a module of its own: the framing is the same for both Noise roles and for both handshake and
transport phases, and it is where untrusted bytes first meet our code, so it is kept small enough
to reason about (and to fuzz) on its own. WebSocket messages do not line up with frames: one
message may carry half a frame or several frames, so the decoder re-buffers.

Wire format (Baileys ``lib/Utils/noise-handler.js`` ``encodeFrame``/``decodeFrame``):

* client only, once, before its first frame: an optional routing block
  ``'E' 'D' 00 01`` + 3-byte big-endian length + routing info, then ``'W' 'A' 06 03``;
* then, both directions: 3-byte big-endian payload length + payload.

No I/O here: bytes in, frames out.
"""

from __future__ import annotations

from buzpo_nb.wa.errors import EncodeError, FrameTooLarge, HandshakeError

# 'W', 'A', protocol major 6, dictionary version 3 (NOISE_WA_HEADER in lib/Defaults/index.js).
NOISE_WA_HEADER = b"WA\x06\x03"
# Routing block magic written by encodeFrame when creds.routingInfo is set (noise-handler.js).
ROUTING_MAGIC = b"ED\x00\x01"
# Both the frame length and the routing-info length are 3 bytes, big-endian.
LENGTH_SIZE = 3
# The largest length three bytes can carry (16 MiB - 1); Baileys has no smaller limit.
MAX_FRAME_SIZE = (1 << 24) - 1


def encode_frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its 3-byte big-endian length.

    Raises ``EncodeError`` (a local mistake, not the peer's) when it does not fit in 3 bytes.
    """
    size = len(payload)
    if size > MAX_FRAME_SIZE:
        raise EncodeError(f"frame payload of {size} bytes exceeds {MAX_FRAME_SIZE}")
    return size.to_bytes(LENGTH_SIZE, "big") + bytes(payload)


def encode_intro(routing_info: bytes | None = None) -> bytes:
    """The bytes a client sends once, before its first frame.

    Only ``WA 06 03`` enters the Noise hash; the routing block is for WhatsApp's edge servers.
    """
    if not routing_info:  # Baileys tests truthiness, so an empty routing info sends no block
        return NOISE_WA_HEADER
    size = len(routing_info)
    if size > MAX_FRAME_SIZE:
        raise EncodeError(f"routing info of {size} bytes exceeds {MAX_FRAME_SIZE}")
    return ROUTING_MAGIC + size.to_bytes(LENGTH_SIZE, "big") + bytes(routing_info) + NOISE_WA_HEADER


class FrameDecoder:
    """Incremental frame parser: feed bytes with ``receive_data``, collect with ``frames``.

    ``expect_intro=True`` is the server role: the stream must start with the (optionally
    routing-prefixed) intro header, else ``HandshakeError`` — checked byte by byte, so an HTTP
    request or other garbage fails at once instead of waiting for a length that never comes.
    A frame announcing more than ``max_frame_size`` raises ``FrameTooLarge`` as soon as its
    header is seen. After an error the decoder stays failed: every later ``receive_data``
    raises again. Frames completed before the bad bytes are still returned by ``frames()``.
    """

    def __init__(self, *, expect_intro: bool = False, max_frame_size: int = MAX_FRAME_SIZE):
        self._buffer = bytearray()
        self._frames: list[bytes] = []
        self._need_intro = expect_intro
        self._max_frame_size = max_frame_size
        self._error: Exception | None = None
        self.routing_info: bytes | None = None
        """Routing info from the client's ``ED`` block, once the intro has been read."""

    @property
    def intro_pending(self) -> bool:
        """True while the server-role decoder still waits for the intro header."""
        return self._need_intro

    def receive_data(self, data: bytes) -> None:
        """Buffer ``data`` and split off every complete frame."""
        if self._error is not None:
            raise type(self._error)(f"frame decoder already failed: {self._error}")
        self._buffer += data
        try:
            if self._need_intro and not self._parse_intro():
                return
            self._parse_frames()
        except (HandshakeError, FrameTooLarge) as exc:
            self._error = exc
            raise

    def frames(self) -> list[bytes]:
        """Return and forget the frames decoded so far, oldest first."""
        frames, self._frames = self._frames, []
        return frames

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame (for tests and diagnostics)."""
        return len(self._buffer)

    def _parse_intro(self) -> bool:
        """Consume the intro if it is complete; False means "need more bytes"."""
        buf = self._buffer
        offset = 0
        if buf[:1] == ROUTING_MAGIC[:1]:
            _check_prefix(buf, ROUTING_MAGIC, "routing block magic")
            if len(buf) < len(ROUTING_MAGIC) + LENGTH_SIZE:
                return False
            start = len(ROUTING_MAGIC)
            size = int.from_bytes(buf[start : start + LENGTH_SIZE], "big")
            if size > self._max_frame_size:
                raise FrameTooLarge(f"routing info of {size} bytes exceeds {self._max_frame_size}")
            offset = start + LENGTH_SIZE + size
            if len(buf) < offset:
                return False
            routing_info = bytes(buf[start + LENGTH_SIZE : offset])
        else:
            routing_info = None
        _check_prefix(buf[offset:], NOISE_WA_HEADER, "intro header WA 06 03")
        if len(buf) < offset + len(NOISE_WA_HEADER):
            return False
        del buf[: offset + len(NOISE_WA_HEADER)]
        self.routing_info = routing_info
        self._need_intro = False
        return True

    def _parse_frames(self) -> None:
        buf = self._buffer
        pos = 0
        try:
            while len(buf) - pos >= LENGTH_SIZE:
                size = int.from_bytes(buf[pos : pos + LENGTH_SIZE], "big")
                if size > self._max_frame_size:
                    raise FrameTooLarge(
                        f"frame of {size} bytes exceeds the limit of {self._max_frame_size}"
                    )
                end = pos + LENGTH_SIZE + size
                if len(buf) < end:
                    break
                self._frames.append(bytes(buf[pos + LENGTH_SIZE : end]))
                pos = end
        finally:
            # One compaction per call keeps many-small-frames chunks linear, not quadratic.
            del buf[:pos]


def _check_prefix(got: bytes | bytearray, expected: bytes, what: str) -> None:
    """Fail as soon as the bytes seen so far cannot become ``expected``."""
    seen = bytes(got[: len(expected)])
    if not expected.startswith(seen):
        raise HandshakeError(f"bad {what}: expected {expected.hex()}, got {seen.hex()}")
