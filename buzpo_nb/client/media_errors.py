"""The typed errors of sending and receiving media, so callers (the gateway) can map each to an
answer: a refusal of the input (too large, unsupported) is the caller's fault, a failed
upload or download is not, and an expired download is its own case (the sender must re-upload).
"""

from __future__ import annotations

from buzpo_nb.client.messages import MessagingError


class MediaError(MessagingError):
    """Root of the media errors."""


class MediaTooLarge(MediaError):
    """The file is over the limit for its kind (after optimisation where that applies)."""

    def __init__(self, kind: str, size: int, limit: int) -> None:
        super().__init__(f"{kind} of {size} bytes is over the {limit}-byte limit")
        self.kind = kind
        self.size = size
        self.limit = limit


class UnsupportedMedia(MediaError):
    """The bytes are not what the media kind needs (an image Pillow cannot read, a PDF sent as
    an image, an unknown kind)."""


class MediaUploadFailed(MediaError):
    """No media host took the upload."""


class MediaDownloadFailed(MediaError):
    """The blob could not be fetched (network, HTTP error other than expiry)."""


class MediaExpired(MediaDownloadFailed):
    """The media host no longer has the blob (404/410) and no re-upload brought it back.

    ``Message.download()`` first asks the account's phone to upload it again (``<receipt
    type="server-error">``, ``media.MediaTransfers.reupload``); this is raised when that is
    off, or no answer came in time (``MediaReuploadTimeout``), or the phone refused
    (``MediaReuploadFailed``)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"media expired on the media host (HTTP {status}): {url}")
        self.url = url
        self.status = status


class MediaReuploadTimeout(MediaExpired):
    """No ``mediaretry`` notification answered the re-upload request in time."""

    def __init__(self, url: str, status: int, timeout: float) -> None:
        super().__init__(url, status)
        self.args = (f"no re-upload answer within {timeout:g}s for expired media: {url}",)
        self.timeout = timeout


class MediaReuploadFailed(MediaExpired):
    """The phone answered the re-upload request with a failure: ``result`` is the
    ``MediaRetryNotification.ResultType`` name (``NOT_FOUND``, ``DECRYPTION_ERROR``,
    ``GENERAL_ERROR``) and ``code`` Baileys' status for it (404, 412, 418)."""

    def __init__(self, url: str, status: int, result: str, code: int) -> None:
        super().__init__(url, status)
        self.args = (f"media re-upload failed ({result}, {code}): {url}",)
        self.result = result
        self.code = code
