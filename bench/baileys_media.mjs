// Baileys 7.0.0-rc.9 side of bench/media.py: media encryption and decryption throughput.
//
// stdin:  {"sizes": [bytes, ...], "runs": n, "chunk": bytes}
// stdout: {"<size>": {"<case>": {"wall": MB/s, "cpu": MB/s}, ...}, "node": version}
// Each case is timed best of `runs` (after one warm-up), both in wall-clock and in this
// process's CPU time (which includes libuv's file-writing threads). MB = 10^6 bytes of plaintext.
// Cases:
//   encrypt_buffer   B.encryptedStream(buffer, 'image', {}): what sendMessage({image: buffer})
//                    does; it writes enc||mac to a temp file. Timed until it resolves; the rest
//                    of the file write (it does not wait for it) and the unlink are not timed.
//   encrypt_stream   the same with a Readable yielding `chunk`-byte pieces (a file or HTTP input).
//   decrypt_stream   B.downloadContentFromMessage({mediaKey, directPath}, 'image') with
//                    globalThis.fetch answering from memory in `chunk`-byte pieces; output
//                    chunks consumed and dropped. Baileys' download path checks no MAC or hash.
//   decrypt_buffer   the same, collected into one Buffer (what downloadMediaMessage 'buffer' does).
//   node_crypto_enc  reference, not Baileys: node:crypto alone doing Baileys' encryption work
//                    (AES-CBC, HMAC, two SHA-256) over `chunk` slices, no file.
//   node_crypto_dec  reference, not Baileys: node:crypto alone doing Buzpo's streamed decryption
//                    work (AES-CBC decipher + HMAC check) over `chunk` slices, output dropped.
// Baileys is loaded from tests/interop/node_modules by path (this script lives outside that tree).
import * as Crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const baileys = resolve(here, '../tests/interop/node_modules/@whiskeysockets/baileys/lib/index.js');
const B = await import(pathToFileURL(baileys).href);

const input = [];
for await (const piece of process.stdin) input.push(piece);
const { sizes, runs, chunk } = JSON.parse(Buffer.concat(input).toString('utf-8'));

// The media host: downloads of https://mmg.whatsapp.net/<path> are answered from `blobs`,
// streamed in `chunk`-byte pieces as a network body would arrive.
const blobs = new Map();
globalThis.fetch = async (url) => {
  const path = new URL(url).pathname;
  const blob = blobs.get(path);
  let offset = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (offset >= blob.length) return controller.close();
      controller.enqueue(blob.subarray(offset, offset + chunk));
      offset += chunk;
    },
  });
  return new Response(body, { status: 200 });
};

const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

// Best of `runs` timings after one warm-up; `fn` returns an optional cleanup run untimed.
const measure = async (size, fn) => {
  let bestWall = Infinity;
  let bestCpu = Infinity;
  for (let round = 0; round <= runs; round++) {
    const c0 = cpuNow();
    const w0 = process.hrtime.bigint();
    const cleanup = await fn();
    const wall = Number(process.hrtime.bigint() - w0) / 1e9;
    const cpu = cpuNow() - c0;
    if (cleanup) await cleanup();
    if (round > 0) {
      bestWall = Math.min(bestWall, wall);
      bestCpu = Math.min(bestCpu, cpu);
    }
  }
  return { wall: size / bestWall / 1e6, cpu: size / Math.max(bestCpu, 1e-9) / 1e6 };
};

// encryptedStream resolves before its temp file is completely written (it ends the write stream
// without waiting for 'finish'; the file may not even exist yet), so wait for its full length.
const blobLength = (size) => (Math.floor(size / 16) + 1) * 16 + 10;
const flushed = async (path, size) => {
  for (let i = 0; i < 100000; i++) {
    const onDisk = await fs.stat(path).then((st) => st.size, () => -1);
    if (onDisk === blobLength(size)) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`temp file ${path} never reached ${blobLength(size)} bytes`);
};
const removeWhenFlushed = (path, size) => async () => {
  await flushed(path, size);
  await fs.unlink(path);
};

const piecewise = (buffer) =>
  Readable.from(
    (function* () {
      for (let i = 0; i < buffer.length; i += chunk) yield buffer.subarray(i, i + chunk);
    })(),
    { objectMode: false }
  );

const out = { node: process.version };
for (const size of sizes) {
  const plain = Crypto.randomBytes(size);
  const result = {};
  result.encrypt_buffer = await measure(size, async () => {
    const r = await B.encryptedStream(plain, 'image', {});
    return removeWhenFlushed(r.encFilePath, size);
  });
  result.encrypt_stream = await measure(size, async () => {
    const r = await B.encryptedStream({ stream: piecewise(plain) }, 'image', {});
    return removeWhenFlushed(r.encFilePath, size);
  });
  result.node_crypto_enc = await measure(size, async () => {
    const mediaKey = Crypto.randomBytes(32);
    const { iv, cipherKey, macKey } = await B.getMediaKeys(mediaKey, 'image');
    const aes = Crypto.createCipheriv('aes-256-cbc', cipherKey, iv);
    const hmac = Crypto.createHmac('sha256', macKey).update(iv);
    const sha = Crypto.createHash('sha256');
    const shaEnc = Crypto.createHash('sha256');
    for (let i = 0; i < size; i += chunk) {
      const piece = plain.subarray(i, i + chunk);
      sha.update(piece);
      const enc = aes.update(piece);
      hmac.update(enc);
      shaEnc.update(enc);
    }
    const last = aes.final();
    hmac.update(last);
    shaEnc.update(last);
    shaEnc.update(hmac.digest().subarray(0, 10));
    sha.digest();
    shaEnc.digest();
  });

  // One blob made by Baileys itself, served by the fake host.
  const enc = await B.encryptedStream(plain, 'image', {});
  await flushed(enc.encFilePath, size);
  blobs.set('/v/bench.enc', await fs.readFile(enc.encFilePath));
  await fs.unlink(enc.encFilePath);
  const message = { mediaKey: enc.mediaKey, directPath: '/v/bench.enc' };

  result.node_crypto_dec = await measure(size, async () => {
    const { iv, cipherKey, macKey } = await B.getMediaKeys(enc.mediaKey, 'image');
    const blob = blobs.get('/v/bench.enc');
    const body = blob.subarray(0, blob.length - 10);
    const aes = Crypto.createDecipheriv('aes-256-cbc', cipherKey, iv);
    const hmac = Crypto.createHmac('sha256', macKey).update(iv);
    let got = 0;
    for (let i = 0; i < body.length; i += chunk) {
      const piece = body.subarray(i, i + chunk);
      hmac.update(piece);
      got += aes.update(piece).length;
    }
    got += aes.final().length;
    if (!hmac.digest().subarray(0, 10).equals(blob.subarray(blob.length - 10))) throw new Error('MAC');
    if (got !== size) throw new Error(`decrypted ${got} bytes, expected ${size}`);
  });
  result.decrypt_stream = await measure(size, async () => {
    const stream = await B.downloadContentFromMessage(message, 'image');
    let got = 0;
    for await (const piece of stream) got += piece.length;
    if (got !== size) throw new Error(`decrypted ${got} bytes, expected ${size}`);
  });
  result.decrypt_buffer = await measure(size, async () => {
    const stream = await B.downloadContentFromMessage(message, 'image');
    const pieces = [];
    for await (const piece of stream) pieces.push(piece);
    const buffer = Buffer.concat(pieces);
    if (!buffer.equals(plain)) throw new Error('decrypted bytes differ');
  });
  out[size] = result;
}
process.stdout.write(JSON.stringify(out));
