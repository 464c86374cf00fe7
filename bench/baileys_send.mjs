// Baileys 7.0.0-rc.9 side of bench/send.py, using Baileys' own API only.
//
// Mode "send": node bench/baileys_send.mjs '{"mode":"send","url":WS,"auth":DIR,
//              "targets":{"name":JID,...},"latency":N,"throughput":M,"concurrency":C,"warmup":W}'
//   Creates a socket on a useMultiFileAuthState folder, prints {"event":"qr","qr":...} until the
//   harness links it, and once open, for each target in turn: W warm-up messages, then N sends
//   one after another and M sends with up to C in flight. Every send is
//   `sock.sendMessage(to, {text})`; it counts as done when the server's <ack class=message id>
//   for its id arrives (Baileys' sendMessage itself resolves when the stanza is written, so the
//   ack is read from Baileys' own socket events, `sock.ws.on('CB:ack,class:message')`).
//   Prints {"event":"result","targets":{name: {"latency_ms":[...],
//   "throughput":{"messages","seconds"}, "errors"}}}.
// Mode "signal": {"mode":"signal","seconds":S,"runs":R} -> {"event":"signal","ops":[...]}:
//   encrypt+decrypt round trips per CPU-second between two Baileys Signal repositories
//   (DEFAULT_CONNECTION_CONFIG.makeSignalRepository over an in-memory key store that keeps every
//   value as the JSON text useMultiFileAuthState would write, with addTransactionCapability).
// Baileys is loaded from tests/interop/node_modules by path (this script lives outside that tree).
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = resolve(here, '../tests/interop/node_modules');
const load = (p) => import(pathToFileURL(resolve(modules, p)).href);
const B = await load('@whiskeysockets/baileys/lib/index.js');
const pino = (await load('pino/pino.js')).default;

const config = JSON.parse(process.argv[2] || '{}');
const emit = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
const logger = pino({ level: 'silent' });
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

async function sendBench() {
  const { state, saveCreds } = await B.useMultiFileAuthState(config.auth);
  const acks = new Map(); // id -> resolve
  const early = new Set(); // acks that beat their waiter
  let errors = 0;
  let sock;
  const opened = new Promise((resolveOpen) => {
    const start = () => {
      sock = B.makeWASocket({
        waWebSocketUrl: config.url,
        auth: state,
        logger,
        printQRInTerminal: false,
        shouldSyncHistoryMessage: () => false,
        markOnlineOnConnect: false,
      });
      sock.ev.on('creds.update', saveCreds);
      sock.ws.on('CB:ack,class:message', (node) => {
        if (node.attrs.error) errors += 1;
        const done = acks.get(node.attrs.id);
        if (done) {
          acks.delete(node.attrs.id);
          done();
        } else {
          early.add(node.attrs.id);
        }
      });
      sock.ev.on('connection.update', ({ connection, qr, lastDisconnect }) => {
        if (qr) emit('qr', { qr });
        if (connection === 'open') resolveOpen();
        if (connection === 'close') {
          const code = lastDisconnect?.error?.output?.statusCode;
          if (code === B.DisconnectReason.restartRequired) start();
          else emit('closed', { code });
        }
      });
    };
    start();
  });
  await opened;
  const ackOf = (id) => new Promise((done) => {
    if (early.delete(id)) done();
    else acks.set(id, done);
  });
  const sendOne = async (to, text) => {
    const t0 = now();
    const msg = await sock.sendMessage(to, { text });
    await ackOf(msg.key.id);
    return now() - t0;
  };
  const results = {};
  for (const [name, to] of Object.entries(config.targets)) {
    const errorsBefore = errors;
    for (let i = 0; i < (config.warmup ?? 5); i++) await sendOne(to, `warm-up ${i}`);
    const latency = [];
    for (let i = 0; i < (config.latency ?? 100); i++) latency.push(await sendOne(to, `latency ${i}`));
    const total = config.throughput ?? 500;
    const concurrency = config.concurrency ?? 50;
    let next = 0;
    const t0 = now();
    const worker = async () => {
      while (next < total) {
        const i = next++;
        await sendOne(to, `throughput ${i}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (now() - t0) / 1000;
    results[name] = { latency_ms: latency, throughput: { messages: total, seconds }, errors: errors - errorsBefore };
  }
  emit('result', { targets: results });
  sock.end(undefined);
  await new Promise((r) => setTimeout(r, 50)); // let creds writes settle before exit
  process.exit(0);
}

function memoryKeys() {
  const files = new Map();
  const mem = {
    get: async (type, ids) => {
      const out = {};
      for (const id of ids) {
        const text = files.get(`${type}-${id}`);
        out[id] = text === undefined ? undefined : JSON.parse(text, B.BufferJSON.reviver);
      }
      return out;
    },
    set: async (data) => {
      for (const [type, values] of Object.entries(data)) {
        for (const [id, value] of Object.entries(values)) {
          if (value === null || value === undefined) files.delete(`${type}-${id}`);
          else files.set(`${type}-${id}`, JSON.stringify(value, B.BufferJSON.replacer));
        }
      }
    },
  };
  return { files, keys: B.addTransactionCapability(mem, logger, { maxCommitRetries: 1, delayBetweenTriesMs: 1 }) };
}

async function signalBench() {
  const alice = { creds: B.initAuthCreds(), ...memoryKeys() };
  const bob = { creds: B.initAuthCreds(), ...memoryKeys() };
  const make = (who) => B.DEFAULT_CONNECTION_CONFIG.makeSignalRepository({ creds: who.creds, keys: who.keys }, logger, async () => []);
  const ra = make(alice);
  const rb = make(bob);
  const aJid = '15550001111:7@s.whatsapp.net';
  const bJid = '15550002222:9@s.whatsapp.net';
  const pre = B.Curve.generateKeyPair();
  bob.files.set('pre-key-1', JSON.stringify(pre, B.BufferJSON.replacer));
  await ra.injectE2ESession({
    jid: bJid,
    session: {
      registrationId: bob.creds.registrationId,
      identityKey: B.generateSignalPubKey(bob.creds.signedIdentityKey.public),
      signedPreKey: {
        keyId: bob.creds.signedPreKey.keyId,
        publicKey: B.generateSignalPubKey(bob.creds.signedPreKey.keyPair.public),
        signature: bob.creds.signedPreKey.signature,
      },
      preKey: { keyId: 1, publicKey: B.generateSignalPubKey(pre.public) },
    },
  });
  const data = B.encodeWAMessage({ conversation: 'hello world, this is a benchmark message' });
  const roundTrip = async () => {
    const { type, ciphertext } = await ra.encryptMessage({ jid: bJid, data });
    await rb.decryptMessage({ jid: aJid, type, ciphertext });
  };
  await roundTrip(); // pkmsg: session set up on both sides
  const back = await rb.encryptMessage({ jid: aJid, data });
  await ra.decryptMessage({ jid: bJid, type: back.type, ciphertext: back.ciphertext });
  const cpu = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  };
  const ops = [];
  for (let run = 0; run <= (config.runs ?? 5); run++) {
    let n = 0;
    const start = cpu();
    while (cpu() - start < (config.seconds ?? 0.5)) {
      await roundTrip();
      n += 1;
    }
    if (run > 0) ops.push(n / (cpu() - start)); // run 0 warms V8 up
  }
  emit('signal', { ops });
}

if (config.mode === 'signal') await signalBench();
else await sendBench();
