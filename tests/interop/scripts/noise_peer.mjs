// Noise peer for tests/interop/test_noise_interop.py: one long-lived node process, JSON lines.
// stdin:  {"cmd": ..., "session": "<name>", ...}   (bytes as hex)
// stdout: {"ok": true, ...} or {"ok": false, "error": "<message>"}   (one line per request)
//
// Two roles, each kept per session:
// * "client_*": Baileys' OWN client-side Noise state machine (makeNoiseHandler), driven exactly
//   as lib/Socket/socket.js validateConnection drives it, against Buzpo's NoiseServer.
// * "server_*": a WhatsApp-side responder written here with Baileys' crypto helpers (hkdf,
//   aesEncryptGCM/aesDecryptGCM, sha256, Curve, proto) per protocol-map §1.5, against Buzpo's
//   NoiseClient. It is an independent implementation of the server role, not Buzpo's.
import readline from 'node:readline';
import * as B from '@whiskeysockets/baileys';
import P from 'pino';

const hex = (b) => Buffer.from(b).toString('hex');
const buf = (h) => Buffer.from(h, 'hex');
const logger = P({ level: 'silent' });
const sessions = new Map();

const CONFIG = { ...B.DEFAULT_CONNECTION_CONFIG, version: [2, 3000, 1027934701], countryCode: 'US' };
const LOGIN_JID = '15550001111:7@s.whatsapp.net';

// Binary nodes a Buzpo server sends to the Baileys client after the handshake; Baileys'
// decodeFrame decrypts AND decodes them, so they must be real nodes.
const SAMPLE_NODES = [
  { tag: 'iq', attrs: { id: 'pd-1', type: 'set', from: 's.whatsapp.net', xmlns: 'md' },
    content: [{ tag: 'pair-device', attrs: {}, content: [{ tag: 'ref', attrs: {}, content: Buffer.from('2@ref-one') }] }] },
  { tag: 'success', attrs: { t: '1700000000', lid: '123456789012345:7@lid' } },
  { tag: 'ib', attrs: { from: 's.whatsapp.net' }, content: [{ tag: 'offline', attrs: { count: '0' } }] },
  { tag: 'message', attrs: { id: 'big' }, content: Buffer.alloc(70000, 7) }, // several WS-sized chunks
];

const iv = (counter) => {
  const out = Buffer.alloc(12);
  out.writeUInt32BE(counter, 8);
  return out;
};

// ---- Baileys client (makeNoiseHandler) -----------------------------------------------------------
const client = {
  start({ session, routingInfo }) {
    const noiseKey = B.Curve.generateKeyPair();
    const ephemeral = B.Curve.generateKeyPair();
    const noise = B.makeNoiseHandler({
      keyPair: ephemeral,
      NOISE_HEADER: B.NOISE_WA_HEADER,
      logger,
      routingInfo: routingInfo ? buf(routingInfo) : undefined,
    });
    const hello = B.proto.HandshakeMessage.encode(
      B.proto.HandshakeMessage.fromObject({ clientHello: { ephemeral: ephemeral.public } }),
    ).finish();
    sessions.set(session, { noise, noiseKey, ephemeral });
    return {
      data: hex(noise.encodeFrame(hello)),
      noisePublic: hex(noiseKey.public),
      ephemeralPublic: hex(ephemeral.public),
      nodes: SAMPLE_NODES.map((n) => hex(B.encodeBinaryNode(n))),
    };
  },

  // Feed the ServerHello (possibly in chunks); answer with ClientFinish, then finishInit().
  async handshake({ session, chunks, payloadKind }) {
    const s = sessions.get(session);
    const frames = [];
    for (const c of chunks) await s.noise.decodeFrame(buf(c), (f) => frames.push(f));
    if (frames.length !== 1) throw new Error(`expected one handshake frame, got ${frames.length}`);
    const handshake = B.proto.HandshakeMessage.decode(frames[0]);
    const keyEnc = await s.noise.processHandshake(handshake, s.noiseKey);
    const node = payloadKind === 'registration'
      ? B.generateRegistrationNode(B.initAuthCreds(), CONFIG)
      : B.generateLoginNode(LOGIN_JID, CONFIG);
    const payload = B.proto.ClientPayload.encode(node).finish();
    const payloadEnc = s.noise.encrypt(payload);
    const finish = B.proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload: payloadEnc } }).finish();
    const data = s.noise.encodeFrame(finish);
    await s.noise.finishInit();
    return { data: hex(data), clientPayload: hex(payload) };
  },

  // Encrypt+frame transport payloads the way sendRawMessage does.
  send({ session, payloads }) {
    const s = sessions.get(session);
    return { data: hex(Buffer.concat(payloads.map((p) => s.noise.encodeFrame(buf(p))))) };
  },

  // Decrypt+decode transport frames with Baileys' decodeFrame; nodes come back re-encoded.
  async receive({ session, chunks }) {
    const s = sessions.get(session);
    const nodes = [];
    for (const c of chunks) await s.noise.decodeFrame(buf(c), (n) => nodes.push(n));
    return { nodes: nodes.map((n) => hex(B.encodeBinaryNode(n))), text: nodes.map(B.binaryNodeToString) };
  },
};

// ---- independent responder built from Baileys' crypto helpers ----------------------------------
class Responder {
  constructor(certKind) {
    this.static = B.Curve.generateKeyPair();
    this.ephemeral = B.Curve.generateKeyPair();
    this.certKind = certKind;
    this.h = Buffer.from(B.NOISE_MODE); // 32 bytes: used unhashed
    this.ck = this.h;
    this.key = null;
    this.n = 0;
    this.inBytes = Buffer.alloc(0);
    this.introDone = false;
    this.routingInfo = null;
    this.state = 'hello';
    this.mixHash(B.NOISE_WA_HEADER);
  }

  mixHash(data) { this.h = B.sha256(Buffer.concat([this.h, data])); }

  async mixKey(ikm) {
    const okm = await B.hkdf(Buffer.from(ikm), 64, { salt: this.ck, info: '' });
    this.ck = okm.subarray(0, 32);
    this.key = okm.subarray(32);
    this.n = 0;
  }

  seal(pt) { const ct = B.aesEncryptGCM(pt, this.key, iv(this.n++), this.h); this.mixHash(ct); return ct; }

  open(ct) { const pt = B.aesDecryptGCM(ct, this.key, iv(this.n++), this.h); this.mixHash(ct); return pt; }

  certChain() {
    const D = B.proto.CertChain.NoiseCertificate.Details;
    const inter = { serial: 1, issuerSerial: 0, key: Buffer.alloc(32), notBefore: 0, notAfter: 4102444800 };
    if (this.certKind === 'wrong-issuer') inter.issuerSerial = 5;
    const leaf = { serial: 2, issuerSerial: 1, key: this.static.public, notBefore: 0, notAfter: 4102444800 };
    const sig = Buffer.alloc(64);
    return B.proto.CertChain.encode({
      leaf: { details: D.encode(leaf).finish(), signature: sig },
      intermediate: { details: D.encode(inter).finish(), signature: sig },
    }).finish();
  }

  frame(payload) {
    const head = Buffer.alloc(3);
    head.writeUInt8(payload.length >> 16, 0);
    head.writeUInt16BE(payload.length & 0xffff, 1);
    return Buffer.concat([head, payload]);
  }

  takeIntro() {
    let b = this.inBytes;
    let off = 0;
    if (b.length >= 2 && b[0] === 0x45 && b[1] === 0x44) { // 'ED' 00 01 len3 routingInfo
      if (b.length < 7) return false;
      const len = (b[4] << 16) | b.readUInt16BE(5);
      if (b.length < 7 + len) return false;
      this.routingInfo = b.subarray(7, 7 + len);
      off = 7 + len;
    }
    if (b.length < off + 4) return false;
    if (!b.subarray(off, off + 4).equals(B.NOISE_WA_HEADER)) throw new Error('bad intro header');
    this.inBytes = b.subarray(off + 4);
    this.introDone = true;
    return true;
  }

  async receive(data) {
    this.inBytes = Buffer.concat([this.inBytes, data]);
    const out = [];
    const events = [];
    if (!this.introDone && !this.takeIntro()) return { out, events };
    while (this.inBytes.length >= 3) {
      const size = (this.inBytes[0] << 16) | this.inBytes.readUInt16BE(1);
      if (this.inBytes.length < size + 3) break;
      const f = this.inBytes.subarray(3, size + 3);
      this.inBytes = this.inBytes.subarray(size + 3);
      if (this.state === 'hello') {
        const { clientHello } = B.proto.HandshakeMessage.decode(f);
        this.mixHash(clientHello.ephemeral);
        this.mixHash(this.ephemeral.public);
        await this.mixKey(B.Curve.sharedKey(this.ephemeral.private, clientHello.ephemeral));
        const staticEnc = this.seal(this.static.public);
        await this.mixKey(B.Curve.sharedKey(this.static.private, clientHello.ephemeral));
        const certEnc = this.seal(this.certChain());
        out.push(this.frame(B.proto.HandshakeMessage.encode({
          serverHello: { ephemeral: this.ephemeral.public, static: staticEnc, payload: certEnc },
        }).finish()));
        this.state = 'finish';
        events.push({ type: 'server_hello_sent' });
      } else if (this.state === 'finish') {
        const { clientFinish } = B.proto.HandshakeMessage.decode(f);
        const clientStatic = this.open(clientFinish.static);
        await this.mixKey(B.Curve.sharedKey(this.ephemeral.private, clientStatic));
        const payload = this.open(clientFinish.payload);
        const okm = await B.hkdf(new Uint8Array(0), 64, { salt: this.ck, info: '' });
        this.readKey = okm.subarray(0, 32); // server reads with the client's write key
        this.writeKey = okm.subarray(32);
        this.readCounter = 0;
        this.writeCounter = 0;
        this.state = 'transport';
        events.push({ type: 'complete', clientStatic: hex(clientStatic), clientPayload: hex(payload) });
      } else {
        const pt = B.aesDecryptGCM(f, this.readKey, iv(this.readCounter++), Buffer.alloc(0));
        events.push({ type: 'payload', data: hex(pt) });
      }
    }
    return { out, events };
  }

  send(payload) {
    return this.frame(B.aesEncryptGCM(payload, this.writeKey, iv(this.writeCounter++), Buffer.alloc(0)));
  }
}

const server = {
  start({ session, certKind }) {
    const r = new Responder(certKind);
    sessions.set(session, r);
    return { staticPublic: hex(r.static.public), ephemeralPublic: hex(r.ephemeral.public) };
  },
  async receive({ session, chunks }) {
    const r = sessions.get(session);
    const out = [];
    const events = [];
    for (const c of chunks) {
      const res = await r.receive(buf(c));
      out.push(...res.out);
      events.push(...res.events);
    }
    return {
      data: hex(Buffer.concat(out)),
      events,
      routingInfo: r.routingInfo ? hex(r.routingInfo) : null,
      handshakeHash: hex(r.h),
    };
  },
  send({ session, payloads }) {
    const r = sessions.get(session);
    return { data: hex(Buffer.concat(payloads.map((p) => r.send(buf(p))))) };
  },
};

const commands = {
  client_start: client.start,
  client_handshake: client.handshake,
  client_send: client.send,
  client_receive: client.receive,
  server_start: server.start,
  server_receive: server.receive,
  server_send: server.send,
};

const rl = readline.createInterface({ input: process.stdin, terminal: false });
for await (const line of rl) {
  if (!line.trim()) continue;
  let reply;
  try {
    const req = JSON.parse(line);
    const fn = commands[req.cmd];
    if (!fn) throw new Error(`unknown command ${req.cmd}`);
    reply = { ok: true, ...(await fn(req)) };
  } catch (err) {
    reply = { ok: false, error: String(err?.message ?? err) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
