"""Small JPEG previews of media messages, for the dashboard's message list only.

The store keeps a message's text and media metadata, not its pixels, and the media itself
lives encrypted on WhatsApp's servers. What a WhatsApp client shows in a chat is the inline
JPEG thumbnail every image/video message carries, so that is what we keep: one small file per
stored message (``<home>/thumbnails/<message id>.jpg``, private), written when a message is
received (from its inline thumbnail) or uploaded from the dashboard (made from the file).
They are deleted with their session (``DELETE /api/sessions/:id``); a missing one just shows
no preview.
"""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

from buzpo_nb.gateway.private_files import delete_private, read_private, write_private

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_THUMBNAIL = 256 * 1024  # inline thumbnails are a few kB; refuse anything odd
PREVIEW_WIDTH = 240  # px, for previews we make ourselves (inline ones are what they are)


class Thumbnails:
    """``put``/``get`` by the store's message id (``m_…``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, message_id: str) -> Path | None:
        return self.folder / f"{message_id}.jpg" if _ID.match(message_id) else None

    async def put(self, message_id: str, jpeg: bytes) -> bool:
        path = self._path(message_id)
        if path is None or not jpeg or len(jpeg) > MAX_THUMBNAIL:
            return False
        await asyncio.to_thread(write_private, path, jpeg)
        return True

    async def get(self, message_id: str) -> bytes | None:
        path = self._path(message_id)
        return None if path is None else await asyncio.to_thread(read_private, path)

    async def delete(self, message_ids: list[str]) -> int:
        """Delete these messages' thumbnails (those that exist); how many were deleted."""
        paths = [p for p in map(self._path, message_ids) if p is not None]
        return await asyncio.to_thread(lambda: sum(delete_private(p) for p in paths))

    async def put_image(self, message_id: str, data: bytes) -> bool:
        """A thumbnail made from an image file (what WhatsApp itself would inline)."""
        jpeg = await asyncio.to_thread(_thumbnail_of, data)
        return jpeg is not None and await self.put(message_id, jpeg)


def _thumbnail_of(data: bytes) -> bytes | None:
    from PIL import Image, UnidentifiedImageError

    from buzpo_nb.client.media_prep import jpeg_thumbnail

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return jpeg_thumbnail(img, width=min(PREVIEW_WIDTH, img.width))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
