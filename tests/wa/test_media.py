"""Media encryption and verified decryption: golden vectors, round trips, streaming, failures.

The golden vector was made by Baileys 7.0.0-rc.9's own ``encryptedStream`` (with the mediaKey it
chose), so these tests pin wire compatibility without node; tests/interop cross-checks the rest.
"""

from __future__ import annotations

import array
import hashlib
import os
import random
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buzpo_nb.wa.errors import CryptoError, ProtocolError
from buzpo_nb.wa.media import (
    MEDIA_HKDF_INFO,
    MEDIA_KINDS,
    EncryptedMedia,
    MediaDecryptor,
    MediaEncryptionResult,
    MediaEncryptor,
    MediaIntegrityError,
    MediaKeyError,
    MediaTruncatedError,
    UnknownMediaKindError,
    decrypt_media,
    derive_media_keys,
    encrypt_media,
    generate_media_key,
)

# Baileys encryptedStream(plain, 'image', {}) with the mediaKey it picked.
GOLDEN_KEY = bytes.fromhex("dedc3054c45592f588bd15546745453c38f83f2ccd301f00aff5138b190a40da")
GOLDEN_PLAIN = b"Buzpo media golden vector, 45 bytes long!!!!!"
GOLDEN_BLOB = bytes.fromhex(
    "ce485d32555a850594d912b26eb54b2eb7331a71956779d3fcc62afd8b3fb06e"
    "d09a7ce272a23fd5b28cadabc6ee3e172d13fb277cfeb356af61"
)
GOLDEN_MAC = bytes.fromhex("2d13fb277cfeb356af61")
GOLDEN_SHA = bytes.fromhex("d0866727ac4446cf4fc02d5dad729deaab64fcb38335c99b611cf7df7414582b")
GOLDEN_ENC_SHA = bytes.fromhex("09ee4a90e4968a6343f1229df87cba292b54de37982c4533dc3b135ca1060c9d")
GOLDEN_TOKEN = "Ce5KkOSWimND8SKd-Hy6KStU3jeYLEUz3DsTXKEGDJ0"
# Baileys getMediaKeys(GOLDEN_KEY, 'ptt')
GOLDEN_PTT_KEYS = (
    "dd656a097c834e3da6ca52eb03fa6c32",
    "f39b1844595cb1ee5233f1fc2ca59b93ff44979b1e59e86b85835855f06f5d83",
    "9618311abf2754921a604dddec1f24101a69fde94b1b2b089dd8da85089d54f9",
)

SIZES = [0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 4095, 4096, 4097, 65535, 65536, 65537, 1 << 20]
KEY = bytes(range(32))


def chunks(data: bytes, sizes: Iterator[int]) -> Iterator[bytes]:
    pos = 0
    for size in sizes:
        if pos >= len(data):
            return
        yield data[pos : pos + size]
        pos += size
    if pos < len(data):
        yield data[pos:]


def stream_encrypt(enc: MediaEncryptor, pieces: Iterator[bytes]) -> bytes:
    return b"".join(enc.update(p) for p in pieces) + enc.finalize()


def stream_decrypt(dec: MediaDecryptor, pieces: Iterator[bytes]) -> bytes:
    return b"".join(dec.update(p) for p in pieces) + dec.finalize()


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


# --- golden vector (Baileys) -------------------------------------------------------------------


def test_encrypts_exactly_like_baileys() -> None:
    sealed = encrypt_media(GOLDEN_PLAIN, "image", GOLDEN_KEY)
    assert sealed.blob == GOLDEN_BLOB
    assert sealed.mac == GOLDEN_MAC
    assert sealed.file_sha256 == GOLDEN_SHA
    assert sealed.file_enc_sha256 == GOLDEN_ENC_SHA
    assert sealed.file_length == len(GOLDEN_PLAIN)
    assert sealed.upload_token == GOLDEN_TOKEN
    assert sealed.media_key == GOLDEN_KEY and sealed.kind == "image"


def test_decrypts_baileys_blob_with_every_check() -> None:
    got = decrypt_media(
        GOLDEN_BLOB, GOLDEN_KEY, "image", file_sha256=GOLDEN_SHA, file_enc_sha256=GOLDEN_ENC_SHA
    )
    assert got == GOLDEN_PLAIN
    # sticker, product and biz-cover-photo share the Image keys
    for kind in ("sticker", "product", "biz-cover-photo"):
        assert decrypt_media(GOLDEN_BLOB, GOLDEN_KEY, kind) == GOLDEN_PLAIN


def test_key_expansion_matches_baileys() -> None:
    keys = derive_media_keys(GOLDEN_KEY, "ptt")
    assert (keys.iv.hex(), keys.cipher_key.hex(), keys.mac_key.hex()) == GOLDEN_PTT_KEYS
    assert len(keys.ref_key) == 32
    assert derive_media_keys(GOLDEN_KEY, "audio") == keys  # ptt uses the Audio keys


def test_every_kind_has_its_info_and_distinct_labels_give_distinct_keys() -> None:
    by_label: dict[str, bytes] = {}
    for kind in sorted(MEDIA_KINDS):
        keys = derive_media_keys(KEY, kind)
        cipher_key = by_label.setdefault(MEDIA_HKDF_INFO[kind], keys.cipher_key)
        assert keys.cipher_key == cipher_key
    assert len(set(by_label.values())) == len(by_label)


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_sizes(size: int) -> None:
    data = random.Random(size).randbytes(size)
    sealed = encrypt_media(data, "document", KEY)
    assert isinstance(sealed, EncryptedMedia)
    assert len(sealed.blob) == sealed.blob_length == (size // 16 + 1) * 16 + 10
    assert sealed.file_length == size
    assert sealed.file_sha256 == hashlib.sha256(data).digest()
    assert sealed.file_enc_sha256 == hashlib.sha256(sealed.blob).digest()
    assert sealed.blob[-10:] == sealed.mac
    checks = {"file_sha256": sealed.file_sha256, "file_enc_sha256": sealed.file_enc_sha256}
    assert decrypt_media(sealed.blob, KEY, "document", **checks) == data
    assert decrypt_media(sealed.blob, KEY, "document") == data
    # streamed both ways in 16-byte-multiple and odd pieces gives the same bytes
    for piece in (16, 7, 65536) if size < 100_000 else (4093, 65536):
        enc = MediaEncryptor("document", KEY)
        assert stream_encrypt(enc, chunks(data, iter(lambda p=piece: p, None))) == sealed.blob
        assert enc.result == MediaEncryptionResult(**_result_fields(sealed))
        dec = MediaDecryptor(KEY, "document", **checks)
        out = stream_decrypt(dec, chunks(sealed.blob, iter(lambda p=piece: p, None)))
        assert out == data
        assert dec.plaintext_length == size and dec.bytes_received == len(sealed.blob)


def _result_fields(sealed: EncryptedMedia) -> dict[str, Any]:
    return {
        "media_key": sealed.media_key,
        "kind": sealed.kind,
        "file_sha256": sealed.file_sha256,
        "file_enc_sha256": sealed.file_enc_sha256,
        "file_length": sealed.file_length,
        "mac": sealed.mac,
    }


@pytest.mark.parametrize("kind", sorted(MEDIA_KINDS))
def test_every_kind_round_trips(kind: str) -> None:
    data = os.urandom(100)
    sealed = encrypt_media(data, kind)
    assert len(sealed.media_key) == 32
    assert decrypt_media(sealed.blob, sealed.media_key, kind) == data


def test_accepts_bytearray_and_memoryview() -> None:
    data = bytearray(os.urandom(1000))
    sealed = encrypt_media(memoryview(data), "image", bytearray(KEY))
    assert sealed.blob == encrypt_media(bytes(data), "image", KEY).blob
    assert decrypt_media(bytearray(sealed.blob), memoryview(KEY), "image") == data
    dec = MediaDecryptor(KEY, "image")
    assert dec.update(b"") == b""
    out = dec.update(memoryview(sealed.blob)) + dec.update(bytearray()) + dec.finalize()
    assert out == data
    # multi-byte item formats are counted and cut in bytes, not items
    words = array.array("I", range(100))
    sealed = encrypt_media(words, "image", KEY)
    assert sealed.file_length == len(words.tobytes())
    enc = MediaEncryptor("image", KEY)
    assert enc.update(memoryview(words)) + enc.finalize() == sealed.blob
    dec = MediaDecryptor(KEY, "image")
    assert dec.update(array.array("B", sealed.blob)) + dec.finalize() == words.tobytes()


def test_repr_leaks_neither_key_nor_blob() -> None:
    sealed = encrypt_media(b"secret", "image", KEY)
    assert KEY.hex() not in repr(sealed) and repr(KEY) not in repr(sealed)
    assert "blob" not in repr(sealed)
    assert repr(derive_media_keys(KEY, "image")) == "MediaKeys()"


def test_update_into_writes_the_same_ciphertext() -> None:
    data = os.urandom(70_000)
    enc = MediaEncryptor("video", KEY)
    scratch = bytearray(65536 + 15)
    parts = []
    for piece in chunks(data, iter(lambda: 65536, None)):
        parts.append(bytes(scratch[: enc.update_into(piece, scratch)]))
    parts.append(enc.finalize())
    assert b"".join(parts) == encrypt_media(data, "video", KEY).blob


def test_random_media_key_when_none_given() -> None:
    a, b = encrypt_media(b"x", "image"), encrypt_media(b"x", "image")
    assert a.media_key != b.media_key and a.blob != b.blob
    assert len(generate_media_key()) == 32
    assert MediaEncryptor("image").media_key != MediaEncryptor("image").media_key


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=3000),
    enc_cuts=st.lists(st.integers(0, 200), max_size=40),
    dec_cuts=st.lists(st.integers(0, 200), max_size=40),
)
def test_any_chunking_gives_the_same_bytes(
    data: bytes, enc_cuts: list[int], dec_cuts: list[int]
) -> None:
    sealed = encrypt_media(data, "audio", KEY)
    enc = MediaEncryptor("audio", KEY)
    assert stream_encrypt(enc, chunks(data, iter(enc_cuts))) == sealed.blob
    assert enc.result.file_enc_sha256 == sealed.file_enc_sha256
    dec = MediaDecryptor(
        KEY, "audio", file_sha256=sealed.file_sha256, file_enc_sha256=sealed.file_enc_sha256
    )
    released = 0
    pieces = []
    for piece in chunks(sealed.blob, iter(dec_cuts)):
        out = dec.update(piece)
        released += len(piece)
        # never more than the input minus the held-back final block and MAC
        assert dec.plaintext_length <= max(0, released - 26)
        pieces.append(out)
    pieces.append(dec.finalize())
    assert b"".join(pieces) == data


# --- failures ----------------------------------------------------------------------------------


def sealed_sample(size: int = 100) -> EncryptedMedia:
    return encrypt_media(random.Random(7).randbytes(size), "image", KEY)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 300), where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_any_flipped_bit_is_an_integrity_error(size: int, where: float, bit: int) -> None:
    sealed = encrypt_media(random.Random(size).randbytes(size), "image", KEY)
    blob = bytearray(sealed.blob)
    blob[int(where * len(blob))] ^= 1 << bit
    with pytest.raises(MediaIntegrityError):
        decrypt_media(blob, KEY, "image")
    dec = MediaDecryptor(KEY, "image")
    with pytest.raises(MediaIntegrityError):
        stream_decrypt(dec, chunks(bytes(blob), iter(lambda: 33, None)))


@pytest.mark.parametrize("index", [0, 15, 16, 50, -27, -26, -11, -10, -1])
def test_tampered_regions(index: int) -> None:
    sealed = sealed_sample()
    blob = flip(sealed.blob, index)
    with pytest.raises(MediaIntegrityError, match="MAC"):
        decrypt_media(blob, KEY, "image")
    with pytest.raises(MediaIntegrityError, match="MAC"):
        stream_decrypt(MediaDecryptor(KEY, "image"), iter([blob]))


def test_wrong_key_or_kind_is_an_integrity_error() -> None:
    sealed = sealed_sample()
    with pytest.raises(MediaIntegrityError):
        decrypt_media(sealed.blob, bytes(32), "image")
    with pytest.raises(MediaIntegrityError):
        decrypt_media(sealed.blob, KEY, "video")
    with pytest.raises(MediaIntegrityError):
        stream_decrypt(MediaDecryptor(KEY, "thumbnail-image"), iter([sealed.blob]))


def test_hash_mismatches_are_integrity_errors() -> None:
    sealed = sealed_sample()
    bad = bytes(32)
    for check in ({"file_sha256": bad}, {"file_enc_sha256": bad}):
        with pytest.raises(MediaIntegrityError, match="Sha256"):
            decrypt_media(sealed.blob, KEY, "image", **check)
        with pytest.raises(MediaIntegrityError, match="Sha256"):
            stream_decrypt(MediaDecryptor(KEY, "image", **check), iter([sealed.blob]))


@pytest.mark.parametrize("size", [0, 1, 16, 100])
def test_every_truncation_is_an_integrity_error(size: int) -> None:
    sealed = sealed_sample(size)
    for cut in range(len(sealed.blob)):
        short = sealed.blob[:cut]
        with pytest.raises(MediaIntegrityError):
            decrypt_media(short, KEY, "image")
        with pytest.raises(MediaIntegrityError):
            stream_decrypt(MediaDecryptor(KEY, "image"), iter([short[:5], short[5:]]))
        if cut < 26 or (cut - 10) % 16:
            with pytest.raises(MediaTruncatedError):
                decrypt_media(short, KEY, "image")


def test_trailing_garbage_is_an_integrity_error() -> None:
    sealed = sealed_sample()
    for extra in (b"\x00", bytes(16), os.urandom(26)):
        with pytest.raises(MediaIntegrityError):
            decrypt_media(sealed.blob + extra, KEY, "image")
        with pytest.raises(MediaIntegrityError):
            stream_decrypt(MediaDecryptor(KEY, "image"), iter([sealed.blob, extra]))


def forge(plain_blocks: bytes, kind: str = "image") -> bytes:
    """A blob with a valid MAC over a ciphertext whose plaintext is ``plain_blocks`` unpadded."""
    keys = derive_media_keys(KEY, kind)
    enc = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).encryptor()
    ct = enc.update(plain_blocks) + enc.finalize()
    mac = hmac.HMAC(keys.mac_key, hashes.SHA256())
    mac.update(keys.iv + ct)
    return ct + mac.finalize()[:10]


@pytest.mark.parametrize(
    "last_block",
    [bytes(16), b"A" * 15 + b"\x11", b"A" * 14 + b"\x01\x02", b"B" * 13 + b"\x02\x03\x03"],
)
def test_bad_padding_under_a_valid_mac_is_an_integrity_error(last_block: bytes) -> None:
    blob = forge(b"x" * 32 + last_block)
    with pytest.raises(MediaIntegrityError, match="padding"):
        decrypt_media(blob, KEY, "image")
    with pytest.raises(MediaIntegrityError, match="padding"):
        stream_decrypt(MediaDecryptor(KEY, "image"), iter([blob]))
    # the same forging with valid padding decrypts: the MAC really was valid
    assert decrypt_media(forge(b"x" * 32 + b"\x10" * 16), KEY, "image") == b"x" * 32


def test_errors_are_typed() -> None:
    assert issubclass(MediaIntegrityError, CryptoError)
    assert issubclass(MediaTruncatedError, MediaIntegrityError)
    assert issubclass(MediaKeyError, CryptoError)
    assert issubclass(UnknownMediaKindError, ProtocolError)
    for bad_key in (b"", bytes(31), bytes(33)):
        with pytest.raises(MediaKeyError):
            encrypt_media(b"x", "image", bad_key)
        with pytest.raises(MediaKeyError):
            decrypt_media(GOLDEN_BLOB, bad_key, "image")
        with pytest.raises(MediaKeyError):
            MediaDecryptor(bad_key, "image")
    with pytest.raises(MediaKeyError):
        derive_media_keys("not bytes", "image")  # type: ignore[arg-type]
    for bad_kind in ("imagE", "voice", ""):
        with pytest.raises(UnknownMediaKindError):
            encrypt_media(b"x", bad_kind, KEY)
        with pytest.raises(UnknownMediaKindError):
            decrypt_media(GOLDEN_BLOB, KEY, bad_kind)


def test_finished_streams_refuse_more_work() -> None:
    enc = MediaEncryptor("image", KEY)
    with pytest.raises(RuntimeError):
        _ = enc.result
    enc.update(b"abc")
    enc.finalize()
    assert enc.result.file_length == 3
    with pytest.raises(RuntimeError):
        enc.update(b"more")
    with pytest.raises(RuntimeError):
        enc.finalize()
    dec = MediaDecryptor(KEY, "image")
    dec.update(GOLDEN_BLOB[:5])
    with pytest.raises(MediaTruncatedError):
        dec.finalize()
    with pytest.raises(RuntimeError):
        dec.update(GOLDEN_BLOB[5:])
    with pytest.raises(RuntimeError):
        dec.finalize()


# --- streaming memory bound --------------------------------------------------------------------


def test_100_mb_streams_through_without_being_held() -> None:
    """Encryptor output is piped straight into the decryptor in 64 KiB pieces; Python's
    allocations never exceed a few pieces, and the hashes prove every byte made it."""
    piece_size, count = 64 * 1024, 1600  # 100 MiB
    base = bytearray(os.urandom(piece_size))
    plain_hash, out_hash, enc_hash = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()

    def plaintext() -> Iterator[bytes]:
        for i in range(count):
            base[:8] = i.to_bytes(8, "big")  # every piece differs
            plain_hash.update(base)
            yield base

    enc = MediaEncryptor("video", KEY)
    dec = MediaDecryptor(KEY, "video")
    out_length = 0

    def feed(blob_piece: bytes) -> None:
        nonlocal out_length
        enc_hash.update(blob_piece)
        out = dec.update(blob_piece)
        out_hash.update(out)
        out_length += len(out)

    tracemalloc.start()
    try:
        for piece in plaintext():
            feed(enc.update(piece))
        feed(enc.finalize())
        tail = dec.finalize()
        out_hash.update(tail)
        out_length += len(tail)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total = piece_size * count
    assert peak < 1 << 20, f"peak traced allocation {peak} bytes"
    assert out_length == total == enc.result.file_length
    assert out_hash.digest() == plain_hash.digest() == enc.result.file_sha256
    assert enc_hash.digest() == enc.result.file_enc_sha256
    assert dec.bytes_received == enc.result.blob_length
