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
    """The media host no longer has the blob (404/410): only the sender can upload it again.

    Buzpo does not send the re-upload request (``<receipt type="server-error">``) because no
    peer in the sandbox can answer one (it needs the sender's phone; media-spike.md)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"media expired on the media host (HTTP {status}): {url}")
        self.url = url
        self.status = status
