"""Errors a sandbox operation reports to whoever drives it (HTTP control API or Python).

Each carries the HTTP status it maps to and, for bad input, the request field at fault, so the
control API can answer ``{"error": ..., "field": ...}`` without a table of special cases.
"""

from __future__ import annotations


class SandboxError(Exception):
    """A request the sandbox refuses; ``status`` is the HTTP status the control API answers."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(SandboxError):
    """A request whose fields are individually fine but do not make sense together."""

    status = 422


class NoSuchFault(SandboxError):
    status = 404


# -- account database ---------------------------------------------------------------------------
class InvalidNumber(SandboxError):
    status = 422


class PhoneExists(SandboxError):
    status = 409


class NoSuchPhone(SandboxError):
    status = 404


class NoSuchDevice(SandboxError):
    status = 404


# -- linking ------------------------------------------------------------------------------------
class LinkError(SandboxError):
    """Linking a companion failed or could not start."""


class BadQr(LinkError):
    status = 422


class NoPendingCompanion(LinkError):
    """Nobody is connected and waiting with this QR / asked for a code for this number."""

    status = 404


class UnknownRef(LinkError):
    status = 404


class QrExpired(LinkError):
    status = 410


class WrongCode(LinkError):
    status = 400


class LinkInProgress(LinkError):
    status = 409


class CompanionGone(LinkError):
    """The companion disconnected (or misbehaved) before the link completed."""

    status = 409


class LinkTimeout(LinkError):
    status = 408


# -- messaging ----------------------------------------------------------------------------------
class NoSuchGroup(SandboxError):
    status = 404


class NoSuchMessage(SandboxError):
    status = 404


class NotAMember(SandboxError):
    """A phone tried to write to a group it is not in."""

    status = 403


# -- media host ---------------------------------------------------------------------------------
class MediaError(SandboxError):
    """The media host refuses an upload or a download."""


class MediaUnauthorized(MediaError):
    """An upload without the ``auth`` token a ``media_conn`` answer handed out."""

    status = 401


class NoSuchMedia(MediaError):
    status = 404


class MediaExpired(MediaError):
    """The blob was there but expired: 410 tells a client to ask the sender for a re-upload."""

    status = 410


class MediaTooLarge(MediaError):
    status = 413


class BadMedia(MediaError):
    """An upload whose body does not match its token, or a phone's unusable media input."""

    status = 400


class MediaDownloadFailed(MediaError):
    """A phone fetched a blob that does not decrypt or verify (bad MAC, wrong hash, truncated):
    the upstream data is bad, so 502."""

    status = 502
