"""Media transfers of one client: the ``media_conn`` token, encrypted upload, verified download.

Upload (protocol-map §6.2): the file is encrypted *while read* into a temporary file (the upload
URL names the SHA-256 of the encrypted blob, so it must be known before the request starts),
then streamed to ``<base><path>/<token>?auth=&token=`` in chunks; neither the plaintext of a
file given by path nor the blob is ever whole in memory. ``base`` is ``https://<announced
host>`` unless ``ClientSettings.media_base_url`` overrides it (sandbox, tests). The
``media_conn`` answer is cached for its TTL and fetched again after a failed upload.

Download: Baileys' URL rule (``mmg.whatsapp.net`` + direct path; the base URL setting replaces
that host), then streamed through ``MediaDecryptor``: the MAC and both hashes are checked, and
nothing is returned (or left at the destination path) unless they pass. A 404/410 is
``MediaExpired``; Buzpo does not send the re-upload request, see ``media_errors``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import httpx

from buzpo_nb.client.media_errors import (
    MediaDownloadFailed,
    MediaExpired,
    MediaTooLarge,
    MediaUploadFailed,
)
from buzpo_nb.client.media_prep import PreparedMedia
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.media import MediaDecryptor, MediaEncryptionResult, MediaEncryptor, upload_url_path
from buzpo_nb.wa.media_message import (
    MediaConn,
    MediaDetails,
    MediaInfo,
    download_url,
    media_conn_request,
    media_message,
    parse_media_conn,
)
from buzpo_nb.wa.message_content import Quote
from buzpo_nb.wa.proto import wa_pb2 as waproto

if TYPE_CHECKING:
    from buzpo_nb.client.client import Client

log = logging.getLogger(__name__)

CHUNK: Final = 64 * 1024
ORIGIN: Final = "https://web.whatsapp.com"


class MediaTransfers:
    """One per ``Client`` (``client.media``); safe to use from many tasks at once."""

    def __init__(self, client: Client, clock=time.monotonic) -> None:
        self.client = client
        self._clock = clock
        self._conn: MediaConn | None = None
        self._conn_lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            settings = self.client.settings
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(settings.media_timeout, connect=settings.connect_timeout),
                headers={"Origin": ORIGIN},
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- media_conn ---------------------------------------------------------------------------
    async def media_conn(self, *, force: bool = False) -> MediaConn:
        """Upload hosts and auth, from the cache while its TTL lasts."""
        async with self._conn_lock:
            conn = self._conn
            if force or conn is None or not conn.valid(self._clock()):
                answer = await self.client.query(media_conn_request())
                conn = self._conn = parse_media_conn(answer, self._clock())
            return conn

    # -- upload -------------------------------------------------------------------------------
    async def upload(
        self, prepared: PreparedMedia
    ) -> tuple[MediaEncryptionResult, str, str | None]:
        """Encrypt and upload; returns the encryption result, ``url`` and ``direct_path``."""
        fd, tmp = tempfile.mkstemp(prefix="buzpo-media-", suffix=".enc")
        os.close(fd)
        try:
            encrypted = await asyncio.to_thread(_encrypt_to, prepared, tmp)
            conn = await self.media_conn()
            for limit in (h.max_content_length for h in conn.hosts):
                if limit and encrypted.blob_length > limit:
                    raise MediaTooLarge(prepared.kind, encrypted.blob_length, limit)
            errors: list[str] = []
            for base in self._upload_bases(conn):
                url = base + upload_url_path(prepared.kind, encrypted.file_enc_sha256, conn.auth)
                try:
                    answer = await self._post(url, tmp)
                except (httpx.HTTPError, OSError, ValueError) as exc:
                    errors.append(f"{base}: {exc!r}")
                    continue
                if isinstance(answer, dict) and isinstance(answer.get("url"), str):
                    direct = answer.get("direct_path")
                    return encrypted, answer["url"], direct if isinstance(direct, str) else None
                errors.append(f"{base}: answer without url")
            with contextlib.suppress(BuzpoError):
                await self.media_conn(force=True)  # the token may be stale (Baileys does this)
            raise MediaUploadFailed("media upload failed on all hosts: " + "; ".join(errors))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _upload_bases(self, conn: MediaConn) -> list[str]:
        base = self.client.settings.media_base_url
        if base:
            return [base.rstrip("/")]
        return [f"https://{h.hostname}" for h in conn.hosts]

    async def _post(self, url: str, path: str) -> object:
        response = await self.http.post(
            url,
            content=_read_file(path),
            headers={"Content-Type": "application/octet-stream"},
        )
        if response.status_code >= 400:
            raise ValueError(f"HTTP {response.status_code}")
        return json.loads(response.content)

    async def build_message(
        self,
        prepared: PreparedMedia,
        *,
        caption: str | None = None,
        quote: Quote | None = None,
    ) -> waproto.Message:
        """Upload ``prepared`` and return the message that points at it."""
        encrypted, url, direct_path = await self.upload(prepared)
        details = MediaDetails(
            mimetype=prepared.mimetype,
            caption=caption,
            file_name=prepared.file_name,
            width=prepared.width,
            height=prepared.height,
            seconds=prepared.seconds,
            thumbnail=prepared.thumbnail,
        )
        return media_message(
            prepared.kind,
            encrypted,
            url=url,
            direct_path=direct_path,
            details=details,
            media_key_timestamp=int(time.time()),
            quote=quote,
        )

    # -- download -----------------------------------------------------------------------------
    async def download(self, info: MediaInfo, path: str | os.PathLike[str] | None = None) -> bytes:
        """The verified plaintext; with ``path``, written there instead (returns ``b""``).

        A file at ``path`` appears only once every check passed (written beside it, renamed).
        """
        if info.media_key is None:
            raise MediaDownloadFailed("media message has no media key")
        url = download_url(info, self.client.settings.media_base_url)
        decryptor = MediaDecryptor(
            info.media_key,
            info.kind,
            file_sha256=info.file_sha256,
            file_enc_sha256=info.file_enc_sha256,
        )
        if path is None:
            out = bytearray()
            async for piece in self._stream(url, decryptor):
                out += piece
            return bytes(out)
        dest = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=".buzpo-", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                async for piece in self._stream(url, decryptor):
                    f.write(piece)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return b""

    async def _stream(self, url: str, decryptor: MediaDecryptor) -> AsyncIterator[bytes]:
        try:
            async with self.http.stream("GET", url) as response:
                if response.status_code in (404, 410):
                    raise MediaExpired(url, response.status_code)
                if response.status_code != 200:
                    raise MediaDownloadFailed(f"HTTP {response.status_code} from {url}")
                async for chunk in response.aiter_bytes(CHUNK):
                    piece = decryptor.update(chunk)
                    if piece:
                        yield piece
        except httpx.HTTPError as exc:
            raise MediaDownloadFailed(f"download of {url} failed: {exc!r}") from exc
        yield decryptor.finalize()


def _encrypt_to(prepared: PreparedMedia, path: str) -> MediaEncryptionResult:
    """Encrypt the file piece by piece into ``path`` (runs in a thread)."""
    encryptor = MediaEncryptor(prepared.kind)
    with open(path, "wb") as f:
        for piece in prepared.chunks(CHUNK):
            f.write(encryptor.update(piece))
        f.write(encryptor.finalize())
    return encryptor.result


async def _read_file(path: str) -> AsyncIterator[bytes]:
    """The upload body, read in chunks (httpx sends it chunked)."""
    with open(path, "rb") as f:
        while piece := f.read(CHUNK):
            yield piece
