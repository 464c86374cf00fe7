// Media oracle for tests/interop/test_media_interop.py: Baileys 7.0.0-rc.9's own media helpers.
// stdin (bytes as hex; big payloads travel as files in `dir`, never through JSON):
//   {"keyProbe": hex, "kinds": [...],
//    "encrypt": [{"kind", "file"}],                  plaintext files for B.encryptedStream
//    "decrypt": [{"kind", "mediaKey", "file"}],      Python-made blobs for downloadContentFromMessage
//    "retry": {"mediaKey", "id", "remoteJid", "me", "notifications": [{"id", "ciphertext", "iv"}]},
//    "tokens": [hex digest, ...]}
// stdout: {"tables", "keys", "encrypt", "decrypt", "retry", "tokens"}; see the handlers below.
// encryptedStream leaves its blob in a temp file (path returned; the Python side reads and
// deletes it). It resolves before that file is fully written, so this waits for full length.
import * as Crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as B from '@whiskeysockets/baileys';

const hex = (b) => Buffer.from(b).toString('hex');
const buf = (h) => Buffer.from(h, 'hex');

const input = [];
for await (const chunk of process.stdin) input.push(chunk);
const job = JSON.parse(Buffer.concat(input).toString('utf-8'));

const blobLength = (size) => (Math.floor(size / 16) + 1) * 16 + 10;
const flushed = async (path, size) => {
  for (let i = 0; i < 100000; i++) {
    const onDisk = await fs.stat(path).then((st) => st.size, () => -1);
    if (onDisk === blobLength(size)) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`temp file ${path} never reached ${blobLength(size)} bytes`);
};

// The media host for downloads: https://mmg.whatsapp.net/<path> answered from `blobs` in
// 64 KiB pieces, so Baileys' decipher Transform sees a network-like stream.
const blobs = new Map();
globalThis.fetch = async (url) => {
  const blob = blobs.get(new URL(url).pathname);
  if (!blob) return new Response('not found', { status: 404 });
  let offset = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (offset >= blob.length) return controller.close();
      controller.enqueue(blob.subarray(offset, offset + 65536));
      offset += 65536;
    },
  });
  return new Response(body, { status: 200 });
};

const out = {};
out.tables = {
  pathMap: B.MEDIA_PATH_MAP,
  hkdfMapping: B.MEDIA_HKDF_KEY_MAPPING,
  hkdfInfo: Object.fromEntries(job.kinds.map((k) => [k, B.hkdfInfoKey(k)])),
};

out.keys = {};
for (const kind of job.kinds) {
  const k = await B.getMediaKeys(buf(job.keyProbe), kind);
  out.keys[kind] = { iv: hex(k.iv), cipherKey: hex(k.cipherKey), macKey: hex(k.macKey) };
}

out.encrypt = [];
for (const { kind, file } of job.encrypt) {
  const plain = await fs.readFile(file);
  const r = await B.encryptedStream(plain, kind, {});
  await flushed(r.encFilePath, plain.length);
  out.encrypt.push({
    mediaKey: hex(r.mediaKey),
    mac: hex(r.mac),
    fileSha256: hex(r.fileSha256),
    fileEncSha256: hex(r.fileEncSha256),
    fileLength: r.fileLength,
    encFilePath: r.encFilePath,
  });
}

out.decrypt = [];
for (const [i, { kind, mediaKey, file }] of job.decrypt.entries()) {
  const directPath = `/v/t62.7118-24/${i}.enc`;
  blobs.set(directPath, await fs.readFile(file));
  const stream = await B.downloadContentFromMessage({ mediaKey: buf(mediaKey), directPath }, kind);
  const sha = Crypto.createHash('sha256');
  let length = 0;
  for await (const piece of stream) {
    sha.update(piece);
    length += piece.length;
  }
  blobs.delete(directPath);
  out.decrypt.push({ sha256: sha.digest('hex'), length });
}

const { mediaKey, id, remoteJid, me, notifications } = job.retry;
const request = await B.encryptMediaRetryRequest({ id, remoteJid, fromMe: false }, buf(mediaKey), me);
const encrypt = request.content.find((n) => n.tag === 'encrypt').content;
out.retry = {
  attrs: request.attrs,
  encP: hex(encrypt.find((n) => n.tag === 'enc_p').content),
  encIv: hex(encrypt.find((n) => n.tag === 'enc_iv').content),
  receipt: hex(B.proto.ServerErrorReceipt.encode({ stanzaId: id }).finish()),
  decoded: [],
};
for (const n of notifications) {
  const msg = await B.decryptMediaRetryData({ ciphertext: buf(n.ciphertext), iv: buf(n.iv) }, buf(mediaKey), n.id);
  out.retry.decoded.push({ stanzaId: msg.stanzaId, directPath: msg.directPath, result: msg.result });
}

out.tokens = job.tokens.map((h) => B.encodeBase64EncodedStringForUpload(buf(h).toString('base64')));

process.stdout.write(JSON.stringify(out));
