"""Getting a file ready to send as media: what it really is, how big it may be, its thumbnail.

Why: the file name and the caller's mimetype are often wrong (a ``.jpg`` that is a PNG, a PDF
handed in as an image); WhatsApp clients render from the mimetype and the thumbnail in the
message, so both must match the bytes. Images beyond what WhatsApp shows are resized and
recompressed (a 40 MP photo becomes a 2560 px JPEG); images within limits go out untouched so a
recipient gets the exact bytes. Video thumbnails need ``ffmpeg``; without it (``shutil.which``)
videos go out with no thumbnail, as Baileys does. Audio duration is not measured (optional in
the protocol; callers may pass ``seconds``).
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from buzpo_nb.client.media_errors import MediaTooLarge, UnsupportedMedia
from buzpo_nb.wa.media_kinds import default_mimetype
from buzpo_nb.wa.media_message import SENDABLE_KINDS

MiB: Final = 1024 * 1024
# Largest input per kind (images: before recompression; WhatsApp's own limits are 16 MB media,
# 100 MB documents in Baileys' era).
MAX_BYTES: Final = {
    "image": 64 * MiB,
    "sticker": 1 * MiB,
    "video": 100 * MiB,
    "gif": 100 * MiB,
    "audio": 100 * MiB,
    "ptt": 100 * MiB,
    "document": 100 * MiB,
}
MAX_IMAGE_SIDE: Final = 2560  # longer side WhatsApp keeps for an "HD" photo
MAX_IMAGE_BYTES: Final = 5 * MiB  # images over this are recompressed even if small in pixels
JPEG_QUALITY: Final = 85
THUMBNAIL_WIDTH: Final = 32  # Baileys' jpegThumbnail width
STICKER_SIDE: Final = 512

Source = bytes | bytearray | memoryview | str | os.PathLike[str]


def sniff_mimetype(head: bytes) -> str | None:
    """The mimetype the first bytes prove, None when unknown (then the caller's or a default)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"OggS"):
        return "audio/ogg; codecs=opus" if b"OpusHead" in head[:64] else "audio/ogg"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    return None


@dataclass(frozen=True)
class PreparedMedia:
    """A file ready to encrypt: ``data`` in memory or at ``path``, plus the message's details."""

    kind: str
    mimetype: str
    size: int
    data: bytes | None = field(default=None, repr=False)
    path: Path | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    seconds: int | None = None
    thumbnail: bytes | None = field(default=None, repr=False)
    optimised: bool = False  # the bytes were recompressed or converted

    def chunks(self, size: int = 64 * 1024):
        """The file's bytes in pieces (a path is read piece by piece, never whole)."""
        if self.data is not None:
            view = memoryview(self.data)
            for start in range(0, len(view), size):
                yield view[start : start + size]
            return
        assert self.path is not None
        with open(self.path, "rb") as f:
            while piece := f.read(size):
                yield piece


def _family(mimetype: str) -> str:
    return mimetype.split("/", 1)[0]


def _check_kind(kind: str, mimetype: str) -> None:
    fam = _family(mimetype)
    if kind in ("image", "sticker") and fam != "image":
        raise UnsupportedMedia(f"{kind} must be an image, the bytes are {mimetype}")
    if kind in ("video", "gif") and fam != "video":
        raise UnsupportedMedia(f"{kind} must be a video, the bytes are {mimetype}")
    if kind in ("audio", "ptt") and fam != "audio" and mimetype != "video/mp4":
        raise UnsupportedMedia(f"{kind} must be audio, the bytes are {mimetype}")


async def prepare_media(
    source: Source,
    kind: str,
    *,
    mimetype: str | None = None,
    file_name: str | None = None,
    seconds: int | None = None,
    max_bytes: dict[str, int] | None = None,
) -> PreparedMedia:
    """Check, sniff and (images) optimise ``source`` for sending as ``kind``.

    Raises ``UnsupportedMedia`` (unknown kind, bytes of the wrong family, undecodable image)
    and ``MediaTooLarge``. CPU-heavy image work runs in a thread.
    """
    if kind not in SENDABLE_KINDS:
        raise UnsupportedMedia(
            f"unknown media type {kind!r}; one of {', '.join(sorted(SENDABLE_KINDS))}"
        )
    limit = (max_bytes or MAX_BYTES).get(kind, MAX_BYTES[kind])
    data: bytes | None = None
    path: Path | None = None
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        size = len(data)
        head = data[:64]
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                head = f.read(64)
        except OSError as exc:
            raise UnsupportedMedia(f"cannot read {path}: {exc.strerror}") from None
        if file_name is None:
            file_name = path.name
    if size == 0:
        raise UnsupportedMedia("the file is empty")
    sniffed = sniff_mimetype(head)
    if kind == "document":
        mime = mimetype or sniffed or "application/octet-stream"
    else:
        mime = sniffed or mimetype or default_mimetype(kind) or "application/octet-stream"
        if sniffed is None and kind in ("image", "sticker"):
            raise UnsupportedMedia(f"{kind}: the bytes are not an image format Buzpo knows")
        _check_kind(kind, mime)
    if kind in ("image", "sticker"):
        if size > limit and kind == "sticker":
            raise MediaTooLarge(kind, size, limit)
        if size > limit:
            raise MediaTooLarge(kind, size, limit)
        if data is None:
            assert path is not None
            data = path.read_bytes()  # bounded by the limit; Pillow needs it all anyway
        prepared = await asyncio.to_thread(_prepare_image, data, kind, mime)
        if prepared.size > limit:
            raise MediaTooLarge(kind, prepared.size, limit)
        return prepared
    if size > limit:
        raise MediaTooLarge(kind, size, limit)
    thumbnail = None
    if kind in ("video", "gif"):
        thumbnail = await video_thumbnail(data, path)
    return PreparedMedia(
        kind=kind,
        mimetype=mime,
        size=size,
        data=data,
        path=path,
        file_name=file_name if kind == "document" else None,
        seconds=seconds,
        thumbnail=thumbnail,
    )


def _open_image(data: bytes):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UnsupportedMedia(f"the image cannot be decoded: {exc}") from None
    return img


def jpeg_thumbnail(img, width: int = THUMBNAIL_WIDTH) -> bytes:
    """A small JPEG (``width`` px wide) of a Pillow image, as WhatsApp shows before download."""
    from PIL import Image

    thumb = img.convert("RGB")
    height = max(1, round(thumb.height * width / max(1, thumb.width)))
    thumb = thumb.resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=50)
    return out.getvalue()


def _prepare_image(data: bytes, kind: str, mime: str) -> PreparedMedia:
    from PIL import Image, ImageOps

    img = _open_image(data)
    if kind == "sticker":
        optimised = False
        if mime != "image/webp" or max(img.size) > STICKER_SIDE:
            img.thumbnail((STICKER_SIDE, STICKER_SIDE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            img.save(out, "WEBP", quality=80)
            data, mime, optimised = out.getvalue(), "image/webp", True
        return PreparedMedia(
            kind=kind,
            mimetype=mime,
            size=len(data),
            data=data,
            width=img.width,
            height=img.height,
            optimised=optimised,
        )
    width, height = img.size
    optimised = False
    if max(width, height) > MAX_IMAGE_SIDE or len(data) > MAX_IMAGE_BYTES or mime == "image/webp":
        img = ImageOps.exif_transpose(img) or img
        img.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        data, mime, optimised = out.getvalue(), "image/jpeg", True
        width, height = img.size
    return PreparedMedia(
        kind=kind,
        mimetype=mime,
        size=len(data),
        data=data,
        width=width,
        height=height,
        thumbnail=jpeg_thumbnail(img),
        optimised=optimised,
    )


async def video_thumbnail(data: bytes | None, path: Path | None) -> bytes | None:
    """A JPEG thumbnail of the first frame with ``ffmpeg``; None without ffmpeg or on failure."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    tmp: str | None = None
    try:
        if path is None:
            fd, tmp = tempfile.mkstemp(suffix=".video")
            with os.fdopen(fd, "wb") as f:
                f.write(data or b"")
            path = Path(tmp)
        proc = await asyncio.create_subprocess_exec(
            ffmpeg, "-loglevel", "error", "-i", str(path), "-frames:v", "1",
            "-vf", f"scale={THUMBNAIL_WIDTH}:-1", "-f", "image2", "-c:v", "mjpeg", "pipe:1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None
        return out if proc.returncode == 0 and out else None
    except OSError:
        return None
    finally:
        if tmp is not None:
            os.unlink(tmp)
