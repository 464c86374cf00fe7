"""The Noise certificate chain the server sends inside ServerHello: building it and checking it.

Why both halves live here: the sandbox must build a chain that unmodified Baileys accepts, and
Buzpo's own client must accept exactly what Baileys accepts — keeping the builder and the check
side by side makes that agreement visible and testable.

What Baileys 7.0.0-rc.9 checks (``lib/Utils/noise-handler.js`` ``processHandshake``): the
decrypted payload is a ``CertChain``, its ``intermediate`` is present, and the intermediate's
``Details.issuerSerial`` equals ``WA_CERT_DETAILS.SERIAL`` (0). Nothing else: the leaf is
ignored, no signature is verified, and the leaf key is not compared with the server's static
key. ``issuerSerial`` must be *encoded* (``10 00``): protobufjs decodes an absent field as
``null``, which is not 0, so a chain that merely leaves it at its default is rejected.

Signatures: a real chain is signed by WhatsApp's root key, which no sandbox can hold, so a
client that really verified the chain would reject any sandbox anyway. ``make_cert_chain``
therefore writes dummy (all-zero) 64-byte signatures by default; Baileys accepts them.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError as ProtobufDecodeError

from buzpo_nb.wa.errors import HandshakeError
from buzpo_nb.wa.proto import wa_pb2 as waproto

# WA_CERT_DETAILS.SERIAL in lib/Defaults/index.js: the serial of WhatsApp's root certificate,
# i.e. the issuer the intermediate must name.
WA_ROOT_SERIAL = 0
# A dummy XEdDSA-sized signature; see the module docstring for why it is not a real one.
DUMMY_SIGNATURE = bytes(64)
# Validity window written into the sandbox chain. wa/ reads no clock, so these are fixed:
# 0 .. 2100-01-01T00:00:00Z in Unix seconds. Baileys does not look at them.
DEFAULT_NOT_BEFORE = 0
DEFAULT_NOT_AFTER = 4_102_444_800

_Details = waproto.CertChain.NoiseCertificate.Details


def make_cert_chain(
    server_static_public: bytes,
    *,
    intermediate_public: bytes | None = None,
    intermediate_serial: int = 1,
    leaf_serial: int = 2,
    not_before: int = DEFAULT_NOT_BEFORE,
    not_after: int = DEFAULT_NOT_AFTER,
    signature: bytes = DUMMY_SIGNATURE,
) -> bytes:
    """Serialise a ``CertChain`` shaped like WhatsApp's: root (serial 0) → intermediate → leaf.

    The intermediate names the root as issuer (``issuerSerial=0``, explicitly encoded); the leaf
    names the intermediate and carries the server's static Noise key, as a real chain does, so a
    stricter client would find the structure it expects. ``intermediate_public`` defaults to 32
    zero bytes because nothing verifies signatures made with it.
    """
    intermediate_details = _Details(
        serial=intermediate_serial,
        issuerSerial=WA_ROOT_SERIAL,
        key=intermediate_public if intermediate_public is not None else bytes(32),
        notBefore=not_before,
        notAfter=not_after,
    )
    leaf_details = _Details(
        serial=leaf_serial,
        issuerSerial=intermediate_serial,
        key=server_static_public,
        notBefore=not_before,
        notAfter=not_after,
    )
    chain = waproto.CertChain(
        leaf=waproto.CertChain.NoiseCertificate(
            details=leaf_details.SerializeToString(), signature=signature
        ),
        intermediate=waproto.CertChain.NoiseCertificate(
            details=intermediate_details.SerializeToString(), signature=signature
        ),
    )
    return chain.SerializeToString()


def check_cert_chain(payload: bytes) -> waproto.CertChain:
    """Parse the ServerHello payload and apply Baileys' checks; ``HandshakeError`` otherwise."""
    try:
        chain = waproto.CertChain.FromString(payload)
    except ProtobufDecodeError as exc:
        raise HandshakeError(f"certificate chain is not a CertChain protobuf: {exc}") from exc
    if not chain.HasField("intermediate") or not chain.intermediate.HasField("details"):
        raise HandshakeError("certificate chain has no intermediate certificate details")
    try:
        details = _Details.FromString(chain.intermediate.details)
    except ProtobufDecodeError as exc:
        raise HandshakeError(f"intermediate certificate details do not decode: {exc}") from exc
    if not details.HasField("issuerSerial") or details.issuerSerial != WA_ROOT_SERIAL:
        got = details.issuerSerial if details.HasField("issuerSerial") else "absent"
        raise HandshakeError(
            f"certification match failed: intermediate issuerSerial is {got}, "
            f"expected {WA_ROOT_SERIAL}"
        )
    return chain
