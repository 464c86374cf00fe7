"""What a virtual phone does when it links a companion, as the primary device of its account.

A real phone scans the QR (learning the companion's identity key and adv secret) or takes a
pairing code, then signs the companion into its account: the ADV account signature plus an HMAC
that proves it saw the QR. When the companion answers with its device signature, the phone
checks it before the device counts as linked. These are the phone-side halves of
``wa.pairing`` / ``wa.pairing_code``, bound to the sandbox's ``Phone`` record. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from buzpo_nb.sandbox.errors import CompanionGone
from buzpo_nb.sandbox.world import Phone
from buzpo_nb.wa import pairing
from buzpo_nb.wa.errors import PairingError
from buzpo_nb.wa.stanzas import PairDeviceSign, PairSuccess

# What the virtual phone says it is in pair-success (Baileys stores it as creds.platform).
PHONE_PLATFORM = "android"


@dataclass(frozen=True, slots=True)
class LinkOffer:
    """A pair-success the phone has sent and the signature it now expects back."""

    phone_number: str
    device_id: int
    key_index: int
    timestamp: int
    companion_identity_public: bytes
    pair_success: PairSuccess


def offer_link(
    phone: Phone,
    *,
    companion_identity_public: bytes,
    adv_secret: bytes,
    device_id: int,
    key_index: int,
    now: int,
) -> LinkOffer:
    """The phone signs the companion into its account (``pair-success`` content).

    ``device_id``/``key_index`` come from ``World.allocate_device``; ``adv_secret`` from the QR or
    from the pairing-code exchange.
    """
    device_identity = pairing.build_device_identity_hmac(
        phone.identity,
        companion_identity_public,
        adv_secret,
        raw_id=device_id,
        key_index=key_index,
        timestamp=now,
    )
    success = PairSuccess(
        device_identity=device_identity,
        jid=phone.jid(device_id),
        lid=phone.lid_jid(device_id),
        platform=PHONE_PLATFORM,
    )
    return LinkOffer(
        phone_number=phone.number,
        device_id=device_id,
        key_index=key_index,
        timestamp=now,
        companion_identity_public=companion_identity_public,
        pair_success=success,
    )


def accept_signature(phone: Phone, offer: LinkOffer, sign: PairDeviceSign) -> bytes:
    """Check the companion's ``pair-device-sign``; returns the signed identity to keep.

    Raises ``CompanionGone`` (the companion misbehaved; the link is void) when the device
    signature does not verify with the identity key from the QR, or when the companion signed a
    different slot than the phone offered.
    """
    if sign.key_index != offer.key_index:
        raise CompanionGone(
            f"companion answered for key index {sign.key_index}, expected {offer.key_index}"
        )
    try:
        signed = pairing.SignedDeviceIdentity.decode(sign.device_identity)
        valid = pairing.verify_device_signature(
            sign.device_identity, offer.companion_identity_public, phone.identity.public
        )
    except PairingError as exc:
        raise CompanionGone(f"companion sent an unreadable device identity: {exc}") from exc
    if not valid:
        raise CompanionGone("the companion's device signature does not verify")
    identity = signed.identity
    if identity.raw_id != offer.device_id or identity.key_index != offer.key_index:
        raise CompanionGone("the companion signed different device details than offered")
    return sign.device_identity
