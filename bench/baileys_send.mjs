// Baileys 7.0.0-rc.9 side of bench/send.py and bench/idle.py, using Baileys' own API only.
//
// Mode "send": node bench/baileys_send.mjs '{"mode":"send","url":WS,"http":CONTROL,"auth":DIR,
//              "targets":{"name":JID,...},"latency":N,"throughput":M,"concurrency":C,"warmup":W,
//              "bursts":[{"from","to","count"}],"drops":D}'
//   Creates a socket on a useMultiFileAuthState folder, prints {"event":"qr","qr","index":0}
//   until the harness links it, and once open, for each target in turn (a user or a group jid;
//   groups through cachedGroupMetadata, as Baileys' README recommends): W warm-up messages,
//   then N sends one after another and M sends with up to C in flight. Every send is
//   `sock.sendMessage(to, {text})`; it counts as done when the server's <ack class=message id>
//   for its id arrives (Baileys' sendMessage itself resolves when the stanza is written, so the
//   ack is read from Baileys' own socket events, `sock.ws.on('CB:ack,class:message')`).
//   Then receive: asks the sandbox's control API for the bursts (phones writing to this
//   account) and times until messages.upsert has delivered every "burst n" text. Then
//   reconnect: D times, asks the sandbox to drop this device's socket and times until
//   connection.update says open again (Baileys never reconnects by itself: like every Baileys
//   app, this harness makes a new socket on close).
//   Prints {"event":"result","targets":{name: {"latency_ms":[...],
//   "throughput":{"messages","seconds"}, "errors"}}, "receive":{"messages","seconds",
//   "produced_seconds"}, "reconnect_ms":[...]}.
// Mode "idle" (run with --expose-gc): {"mode":"idle","url","auth","count","parallel","settle"}:
//   `count` accounts (auth folders auth/0..), linked `parallel` at a time (qr events carry
//   their index); {"event":"result","before","after","count","open","heap_before","heap_after"}:
//   RSS (and V8 heapUsed) after gc() before the first socket and once all are open and idle
//   for `settle` ms.
// Mode "signal": {"mode":"signal","seconds":S,"runs":R} -> {"event":"signal","ops":[...]}:
//   encrypt+decrypt round trips per CPU-second between two Baileys Signal repositories
//   (DEFAULT_CONNECTION_CONFIG.makeSignalRepository over an in-memory key store that keeps every
//   value as the JSON text useMultiFileAuthState would write, with addTransactionCapability).
// Baileys is loaded through baileys_common.mjs (from tests/interop/node_modules, by path).
import { B, config, emit, logger } from './baileys_common.mjs';
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

// One Baileys account on a useMultiFileAuthState folder, re-created on every close the way
// Baileys apps do (Baileys itself never reconnects): `onOpen` waiters, `onText` counters, and
// the <ack class=message> of each sent id.
async function account(auth, index = 0) {
  const { state, saveCreds } = await B.useMultiFileAuthState(auth);
  const acks = new Map(); // id -> resolve
  const early = new Set(); // acks that beat their waiter
  const groups = new Map(); // cachedGroupMetadata, as Baileys' README recommends for groups
  const opens = []; // resolvers waiting for the next 'open'
  const texts = []; // handlers of received texts
  const self = { sock: undefined, errors: 0, reconnect: true };
  const start = () => {
    const sock = B.makeWASocket({
      waWebSocketUrl: config.url,
      auth: state,
      logger,
      printQRInTerminal: false,
      shouldSyncHistoryMessage: () => false,
      markOnlineOnConnect: false,
      cachedGroupMetadata: async (jid) => groups.get(jid),
    });
    self.sock = sock;
    sock.ev.on('creds.update', saveCreds);
    sock.ev.on('groups.upsert', (list) => list.forEach((g) => groups.set(g.id, g)));
    sock.ws.on('CB:ack,class:message', (node) => {
      if (node.attrs.error) self.errors += 1;
      const done = acks.get(node.attrs.id);
      if (done) {
        acks.delete(node.attrs.id);
        done();
      } else {
        early.add(node.attrs.id);
      }
    });
    sock.ev.on('messages.upsert', ({ messages }) => {
      for (const m of messages) {
        if (m.key.fromMe) continue;
        const text = m.message?.conversation ?? m.message?.extendedTextMessage?.text;
        if (text) texts.forEach((fn) => fn(text));
      }
    });
    sock.ev.on('connection.update', ({ connection, qr, lastDisconnect }) => {
      if (qr) emit('qr', { qr, index });
      if (connection === 'open') opens.splice(0).forEach((fn) => fn(now()));
      if (connection === 'close') {
        const code = lastDisconnect?.error?.output?.statusCode;
        if (code === B.DisconnectReason.restartRequired) start();
        else if (code !== B.DisconnectReason.loggedOut && self.reconnect) start();
        else emit('closed', { code, index });
      }
    });
  };
  self.nextOpen = () => new Promise((resolveOpen) => opens.push(resolveOpen));
  self.onText = (fn) => {
    texts.push(fn);
    return () => texts.splice(texts.indexOf(fn), 1);
  };
  self.ackOf = (id) => new Promise((done) => {
    if (early.delete(id)) done();
    else acks.set(id, done);
  });
  self.cacheGroup = async (jid) => groups.set(jid, await self.sock.groupMetadata(jid));
  self.start = () => {
    const opened = self.nextOpen();
    start();
    return opened;
  };
  return self;
}

const control = async (path, body) => {
  const r = await fetch(config.http + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
};

async function sendBench() {
  const me = await account(config.auth);
  await me.start();
  const sendOne = async (to, text) => {
    const t0 = now();
    const msg = await me.sock.sendMessage(to, { text });
    await me.ackOf(msg.key.id);
    return now() - t0;
  };
  const results = {};
  for (const [name, to] of Object.entries(config.targets)) {
    if (to.endsWith('@g.us')) await me.cacheGroup(to);
    const errorsBefore = me.errors;
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
    results[name] = { latency_ms: latency, throughput: { messages: total, seconds }, errors: me.errors - errorsBefore };
  }
  // Receive: the phones write bursts to this account; done when all are decrypted and emitted.
  const expected = config.bursts.reduce((n, b) => n + b.count, 0);
  let got = 0;
  let allIn;
  const done = new Promise((r) => (allIn = r));
  const stop = me.onText((text) => {
    if (text.startsWith('burst ') && ++got === expected) allIn(now());
  });
  const r0 = now();
  const produced = Promise.all(
    config.bursts.map((b) => control(`/sandbox/phones/${b.from}/messages/burst`, { to: b.to, text: 'burst', count: b.count })),
  ).then(() => now());
  const [producedAt, receivedAt] = await Promise.all([produced, done]);
  stop();
  const receive = { messages: expected, seconds: (receivedAt - r0) / 1000, produced_seconds: (producedAt - r0) / 1000 };
  // Reconnect: the sandbox drops the socket; time until the (new) socket is open again.
  const reconnect = [];
  const jid = me.sock.user.id;
  for (let i = 0; i < (config.drops ?? 5); i++) {
    const opened = me.nextOpen();
    const t0 = now();
    await control('/sandbox/faults', { action: 'drop', jid });
    reconnect.push((await opened) - t0);
  }
  emit('result', { targets: results, receive, reconnect_ms: reconnect });
  me.reconnect = false;
  me.sock.end(undefined);
  await new Promise((r) => setTimeout(r, 50)); // let creds writes settle before exit
  process.exit(0);
}

// Mode "idle": `count` accounts in this process, linked `parallel` at a time; RSS after a GC
// before the first socket and once all are open and have been idle for `settle` ms.
async function idleBench() {
  const rss = () => {
    globalThis.gc();
    globalThis.gc();
    const { rss, heapUsed } = process.memoryUsage();
    return [rss, heapUsed];
  };
  const [before, heapBefore] = rss();
  const accounts = [];
  let next = 0;
  const worker = async () => {
    while (next < config.count) {
      const i = next++;
      const acc = await account(`${config.auth}/${i}`, i);
      accounts.push(acc);
      await acc.start();
    }
  };
  await Promise.all(Array.from({ length: config.parallel ?? 10 }, worker));
  await new Promise((r) => setTimeout(r, config.settle ?? 2000));
  const [after, heapAfter] = rss();
  const open = accounts.filter((a) => a.sock.user && a.sock.ws.isOpen).length;
  emit('result', { before, after, count: config.count, open, heap_before: heapBefore, heap_after: heapAfter });
  for (const a of accounts) {
    a.reconnect = false;
    a.sock.end(undefined);
  }
  await new Promise((r) => setTimeout(r, 50));
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
else if (config.mode === 'idle') await idleBench();
else await sendBench();
