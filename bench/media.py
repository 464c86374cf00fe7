"""Media crypto throughput: Buzpo against Baileys 7.0.0-rc.9, in one run.

    python bench/media.py [--runs 7] [--no-write]

Encrypts and decrypts 1 MiB and 10 MiB of random bytes as an ``image`` and reports MB/s
(10^6 bytes of plaintext per second), best of ``--runs`` after one warm-up, both wall-clock
and process CPU time, for Buzpo in this process and for Baileys via
``node bench/baileys_media.mjs``. Prints a table and rewrites the "## Media crypto" section of
bench/RESULTS.md (other sections are left as they are).

What is compared (64 KiB pieces wherever something streams):

* encrypt, in memory: ``encrypt_media(data)`` (blob as ``bytes``) vs ``encryptedStream(buffer)``
  (Baileys writes the blob to a temp file; timed until the call resolves).
* encrypt, streamed: ``MediaEncryptor.update`` per piece, output dropped, vs ``encryptedStream``
  fed a Readable of pieces (temp file as above).
* decrypt, streamed: ``MediaDecryptor`` per piece, output dropped, MAC verified, vs
  ``downloadContentFromMessage`` with ``fetch`` answered from memory in pieces, output dropped;
  Baileys verifies nothing on this path.
* decrypt to one buffer: ``decrypt_media(blob)`` (MAC verified before returning) vs the same
  download collected with ``Buffer.concat``.
* Buzpo also with ``file_sha256`` + ``file_enc_sha256`` checked (Baileys has no such option).
* Reference rows (not Baileys): the same streamed work done by bare ``node:crypto`` (AES-CBC,
  HMAC, SHA-256 on 64 KiB slices, no files, no streams), i.e. what OpenSSL gives Node.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import ssl
import time
from collections.abc import Callable
from typing import Any

from benchlib import BENCH_DIR, RESULTS, cpu_name, run_node_sync, today, write_section
from cryptography.hazmat.backends.openssl import backend

from buzpo_nb.wa.media import MediaDecryptor, MediaEncryptor, decrypt_media, encrypt_media

SECTION = "## Media crypto"
SIZES = [1 << 20, 10 << 20]
PIECE = 64 * 1024
KIND = "image"


def measure(size: int, fn: Callable[[], object], runs: int) -> dict[str, float]:
    """Best-of-``runs`` MB/s (wall and CPU) of ``fn`` after one warm-up call."""
    best_wall = best_cpu = float("inf")
    for round_ in range(runs + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if round_:
            best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return {"wall": size / best_wall / 1e6, "cpu": size / max(best_cpu, 1e-9) / 1e6}


def pieces(data: bytes) -> list[memoryview]:
    view = memoryview(data)
    return [view[i : i + PIECE] for i in range(0, len(data), PIECE)]


def buzpo_cases(size: int, runs: int) -> dict[str, dict[str, float]]:
    data = os.urandom(size)
    key = os.urandom(32)
    sealed = encrypt_media(data, KIND, key)
    plain_pieces, blob_pieces = pieces(data), pieces(sealed.blob)
    hashes = {"file_sha256": sealed.file_sha256, "file_enc_sha256": sealed.file_enc_sha256}

    def encrypt_stream() -> None:
        encryptor = MediaEncryptor(KIND, key)
        for piece in plain_pieces:
            encryptor.update(piece)
        encryptor.finalize()

    def decrypt_stream(**check: bytes) -> Callable[[], None]:
        def run() -> None:
            decryptor = MediaDecryptor(key, KIND, **check)
            got = sum(len(decryptor.update(piece)) for piece in blob_pieces)
            got += len(decryptor.finalize())
            assert got == size

        return run

    def decrypt_buffer(**check: bytes) -> Callable[[], None]:
        def run() -> None:
            assert len(decrypt_media(sealed.blob, key, KIND, **check)) == size

        return run

    assert decrypt_media(sealed.blob, key, KIND, **hashes) == data
    return {
        "encrypt_buffer": measure(size, lambda: encrypt_media(data, KIND, key), runs),
        "encrypt_stream": measure(size, encrypt_stream, runs),
        "decrypt_stream": measure(size, decrypt_stream(), runs),
        "decrypt_buffer": measure(size, decrypt_buffer(), runs),
        "decrypt_stream_hashes": measure(size, decrypt_stream(**hashes), runs),
        "decrypt_buffer_hashes": measure(size, decrypt_buffer(**hashes), runs),
    }


def baileys_cases(runs: int) -> dict[str, Any]:
    payload = json.dumps({"sizes": SIZES, "runs": runs, "chunk": PIECE})
    return json.loads(run_node_sync(BENCH_DIR / "baileys_media.mjs", {}, payload))


ROWS = [
    ("encrypt, in memory", "encrypt_buffer", "encrypt_buffer"),
    ("encrypt, streamed", "encrypt_stream", "encrypt_stream"),
    ("decrypt, streamed (Buzpo checks MAC)", "decrypt_stream", "decrypt_stream"),
    ("decrypt to one buffer (Buzpo checks MAC)", "decrypt_buffer", "decrypt_buffer"),
    ("decrypt, streamed, + both hashes", "decrypt_stream_hashes", "decrypt_stream"),
    ("decrypt to one buffer, + both hashes", "decrypt_buffer_hashes", "decrypt_buffer"),
    ("ref: encrypt streamed vs bare node:crypto", "encrypt_stream", "node_crypto_enc"),
    ("ref: decrypt streamed vs bare node:crypto + MAC", "decrypt_stream", "node_crypto_dec"),
]


def table(buzpo: dict[int, Any], baileys: dict[str, Any]) -> str:
    lines = [
        "| size | operation | Buzpo wall | Baileys wall | ratio "
        "| Buzpo CPU | Baileys CPU | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in SIZES:
        for label, ours, theirs in ROWS:
            b, j = buzpo[size][ours], baileys[str(size)][theirs]
            lines.append(
                f"| {size >> 20} MiB | {label} | {b['wall']:,.0f} | {j['wall']:,.0f} | "
                f"{b['wall'] / j['wall']:.2f} | {b['cpu']:,.0f} | {j['cpu']:,.0f} | "
                f"{b['cpu'] / j['cpu']:.2f} |"
            )
    return "\n".join(lines)


def section(body: str, runs: int, node_version: str) -> str:
    return f"""{SECTION}

`python bench/media.py` on {today()}: {cpu_name()}, {os.cpu_count()} CPUs, \
Linux {platform.release()}; CPython {platform.python_version()} (`cryptography` on \
{backend.openssl_version_text()}, hashlib on {ssl.OPENSSL_VERSION}), Node {node_version}.
MB/s = 10^6 plaintext bytes per second, best of {runs} runs after a warm-up; wall-clock and
process CPU time (Node's includes its GC and file-writing threads). Ratio = Buzpo ÷ Baileys.
Pieces of 64 KiB wherever something streams. Same work per row except where noted: Baileys
never checks the MAC or a hash when it decrypts; Buzpo always checks the MAC (rows 3–4) and
optionally both hashes (rows 5–6, compared with the same unchecked Baileys numbers).

{body}

What each side runs: encrypt in memory = `encrypt_media(data)` (blob as `bytes`) vs
`encryptedStream(buffer, 'image')`, which writes the blob to a temp file (timed until it
resolves; it does not wait for the write to finish). Encrypt streamed = `MediaEncryptor.update`
per piece, output dropped, vs `encryptedStream` fed a Readable of pieces (temp file again).
Decrypt streamed = `MediaDecryptor` per piece, output dropped, vs `downloadContentFromMessage`
with `globalThis.fetch` answering from memory in pieces (its real decipher Transform), output
dropped. Decrypt to one buffer = `decrypt_media(blob)` vs the same download joined with
`Buffer.concat` (what `downloadMediaMessage(…, 'buffer')` does). The two `ref:` rows compare
Buzpo's streamed numbers with bare `node:crypto` doing the same primitives on the same slices
(no streams, no files): what Node's OpenSSL gives when nothing else is in the way.

Reading it: both sides run OpenSSL's AES-256-CBC, HMAC-SHA256 and SHA-256, so the work per byte
sets the ceiling, and the machine is shared, so single rows move by ±20% between runs.
Encryption is one AES-CBC pass (serial by construction) plus three SHA-256 passes on both
sides; Buzpo streamed sits at that ceiling (~360 MB/s here) and at or above Baileys. Decryption
is where the sides do different work: Baileys checks nothing, so it is bounded by AES-CBC
decryption (~4 GB/s) plus its stream overhead, which dominates at 1 MiB but not at 10 MiB;
Buzpo always checks the MAC, an extra HMAC-SHA256 pass (~1.7 GB/s alone), which caps its
streamed decryption at ~1.2-1.3 GB/s, and the optional hashes cost one SHA-256 pass each.
The weak row is one whole-file `bytes` at 10 MiB: an immutable `bytes` result needs a second
whole-file buffer, and on this VM fresh pages are expensive while glibc returns freed
whole-file buffers to the kernel between calls (a 10 MiB `bytes(bytearray(n))` alone takes
~13 ms). Returning the working `bytearray` instead measured ~2.5x faster for `decrypt_media`
(1,340 vs 525 MB/s, separate run); `bytes` was kept because callers (protobuf fields,
Starlette responses) expect it. Large media should use the streamed classes, which never hold
a whole file.
"""


def measure_all(runs: int) -> tuple[dict[int, Any], dict[str, Any]]:
    """``(buzpo, baileys)`` MB/s per size and case (Baileys' sizes are strings: JSON keys)."""
    return {size: buzpo_cases(size, runs) for size in SIZES}, baileys_cases(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    buzpo, baileys = measure_all(args.runs)
    body = table(buzpo, baileys)
    print(body)
    if not args.no_write:
        write_section(SECTION, section(body, args.runs, baileys["node"]))
        print(f"wrote {SECTION!r} in {RESULTS}")


if __name__ == "__main__":
    main()
