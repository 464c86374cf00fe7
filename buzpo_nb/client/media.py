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
``MediaExpired``; ``reupload`` then asks the account's phone to upload the blob again
(``<receipt type="server-error">`` answered by ``<notification type="mediaretry">``, both
sealed with the media key: ``wa.media_retry``) and returns the media with its new direct path
(``Message.download`` does this once by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import httpx
from google.protobuf.message import DecodeError as ProtobufDecodeError

from buzpo_nb.client.media_errors import (
    MediaDownloadFailed,
    MediaExpired,
    MediaReuploadFailed,
    MediaReuploadTimeout,
    MediaTooLarge,
    MediaUploadFailed,
)
from buzpo_nb.client.media_prep import PreparedMedia
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.jid import Jid
from buzpo_nb.wa.media import MediaDecryptor, MediaEncryptionResult, MediaEncryptor, upload_url_path
from buzpo_nb.wa.media_message import (
    MMG_HOST,
    MediaConn,
    MediaDetails,
    MediaInfo,
    download_url,
    media_conn_request,
    media_message,
    parse_media_conn,
)
from buzpo_nb.wa.media_retry import MediaRetryPayload, decrypt_media_retry, encrypt_media_retry
from buzpo_nb.wa.message_content import Quote
from buzpo_nb.wa.proto import wa_pb2 as waproto

if TYPE_CHECKING:
    from buzpo_nb.client.client import Client
    from buzpo_nb.client.messages import MessageKey

log = logging.getLogger(__name__)

CHUNK: Final = 64 * 1024
ORIGIN: Final = "https://web.whatsapp.com"
REUPLOAD_TIMEOUT: Final = 30.0  # seconds to wait for the phone's mediaretry notification
_RESULT = waproto.MediaRetryNotification.ResultType
# Baileys getStatusCodeForMediaRetry
_RESULT_CODES: Final = {
    _RESULT.SUCCESS: 200,
    _RESULT.DECRYPTION_ERROR: 412,
    _RESULT.NOT_FOUND: 404,
    _RESULT.GENERAL_ERROR: 418,
}


class MediaTransfers:
    """One per ``Client`` (``client.media``); safe to use from many tasks at once."""

    def __init__(self, client: Client, clock=time.monotonic) -> None:
        self.client = client
        self._clock = clock
        self._conn: MediaConn | None = None
        self._conn_lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None
        self._reuploads: dict[str, asyncio.Future[Node]] = {}  # message id -> its answer

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

    # -- re-upload ----------------------------------------------------------------------------
    async def reupload(
        self,
        key: MessageKey,
        info: MediaInfo,
        expired: MediaExpired,
        *,
        timeout: float = REUPLOAD_TIMEOUT,
    ) -> MediaInfo:
        """Ask the phone to upload expired media again; the media at its new direct path.

        Sends ``<receipt id to=<own account> type="server-error">`` with the sealed
        ``ServerErrorReceipt`` and ``<rmr jid from_me [participant]/>``, then waits for the
        ``mediaretry`` notification with the same id (Baileys ``updateMediaMessage``).
        """
        me = self.client.me
        if info.media_key is None or me is None:
            raise expired
        sealed_request = encrypt_media_retry(
            waproto.ServerErrorReceipt(stanzaId=key.id).SerializeToString(), info.media_key, key.id
        )
        rmr = {"jid": key.chat, "from_me": "true" if key.from_me else "false"}
        if key.participant:
            rmr["participant"] = key.participant
        receipt = Node(
            "receipt",
            {"id": key.id, "to": str(Jid.parse(me.jid).user_jid), "type": "server-error"},
            [
                Node(
                    "encrypt",
                    {},
                    [
                        Node("enc_p", {}, sealed_request.ciphertext),
                        Node("enc_iv", {}, sealed_request.iv),
                    ],
                ),
                Node("rmr", rmr),
            ],
        )
        waiter = self._reuploads.get(key.id)
        if waiter is None or waiter.done():
            waiter = self._reuploads[key.id] = asyncio.get_running_loop().create_future()
        try:
            await self.client.send_node(receipt)
            async with asyncio.timeout(timeout):
                answer = await asyncio.shield(waiter)
        except TimeoutError:
            raise MediaReuploadTimeout(expired.url, expired.status, timeout) from None
        finally:
            if self._reuploads.get(key.id) is waiter:
                del self._reuploads[key.id]
        return _reuploaded(answer, info, key.id, expired)

    def on_media_retry(self, node: Node) -> None:
        """A ``<notification type="mediaretry">``: wake the download waiting for it."""
        waiter = self._reuploads.get(node.attrs.get("id", ""))
        if waiter is not None and not waiter.done():
            waiter.set_result(node)


def _reuploaded(answer: Node, info: MediaInfo, msg_id: str, expired: MediaExpired) -> MediaInfo:
    """The media with the direct path a ``mediaretry`` notification names, or the typed error."""
    assert info.media_key is not None
    error = answer.child("error")
    encrypt = answer.child("encrypt")
    enc_p = encrypt.child("enc_p") if encrypt is not None else None
    enc_iv = encrypt.child("enc_iv") if encrypt is not None else None
    if error is not None or enc_p is None or enc_iv is None:
        code_text = error.attrs.get("code", "") if error is not None else ""
        result = int(code_text) if code_text.isdigit() else _RESULT.NOT_FOUND
        name = _RESULT.Name(result) if result in _RESULT_CODES else f"error {result}"
        raise MediaReuploadFailed(expired.url, expired.status, name, _RESULT_CODES.get(result, 404))
    try:
        plain = decrypt_media_retry(
            MediaRetryPayload(enc_p.content_bytes(), enc_iv.content_bytes()), info.media_key, msg_id
        )
        notice = waproto.MediaRetryNotification.FromString(plain)
    except (BuzpoError, ProtobufDecodeError):
        raise MediaReuploadFailed(expired.url, expired.status, "DECRYPTION_ERROR", 412) from None
    if notice.result != _RESULT.SUCCESS or not notice.directPath:
        result = notice.result if notice.result in _RESULT_CODES else _RESULT.GENERAL_ERROR
        name = "SUCCESS without a directPath" if result == _RESULT.SUCCESS else _RESULT.Name(result)
        raise MediaReuploadFailed(expired.url, expired.status, name, _RESULT_CODES[result])
    return dataclasses.replace(
        info, direct_path=notice.directPath, url=MMG_HOST + notice.directPath
    )


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
