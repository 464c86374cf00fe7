// Signal oracle for tests/interop/test_signal_interop.py: real Baileys 7.0.0-rc.9 Signal
// repositories (libsignal 6.0.0 underneath), driven one JSON command per stdin line, one JSON
// answer per stdout line. Bytes travel as base64. Each "actor" is one Baileys device: fresh
// initAuthCreds(), a key store that keeps every value as the exact text useMultiFileAuthState
// would write to <type>-<id>.json (JSON.stringify with BufferJSON.replacer, parsed back with
// BufferJSON.reviver), wrapped by addTransactionCapability as in a real socket.
import * as B from '@whiskeysockets/baileys';
import P from 'pino';
import readline from 'node:readline';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const libsignal = require('libsignal');

// libsignal logs with console.info/log (stdout): keep stdout for answers only.
console.log = console.info = console.debug = (...args) => console.error(...args);

const logger = P({ level: 'silent' });
const b64 = (b) => Buffer.from(b).toString('base64');
const buf = (s) => Buffer.from(s, 'base64');
const actors = new Map();

function makeActor(preKeyCount) {
  const files = new Map(); // "<type>-<id>" -> file text
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
  const creds = B.initAuthCreds();
  const keys = B.addTransactionCapability(mem, logger, { maxCommitRetries: 1, delayBetweenTriesMs: 1 });
  const repo = B.DEFAULT_CONNECTION_CONFIG.makeSignalRepository({ creds, keys }, logger, async () => []);
  const preKeys = [];
  for (let id = 1; id <= preKeyCount; id++) {
    const kp = B.Curve.generateKeyPair();
    files.set(`pre-key-${id}`, JSON.stringify(kp, B.BufferJSON.replacer));
    preKeys.push({ keyId: id, public: b64(kp.public), private: b64(kp.private) });
  }
  return { files, creds, repo, preKeys };
}

const handlers = {
  init: ({ actor, preKeys = 3 }) => {
    const a = makeActor(preKeys);
    actors.set(actor, a);
    const c = a.creds;
    return {
      registrationId: c.registrationId,
      identity: { public: b64(c.signedIdentityKey.public), private: b64(c.signedIdentityKey.private) },
      signedPreKey: {
        keyId: c.signedPreKey.keyId,
        public: b64(c.signedPreKey.keyPair.public),
        private: b64(c.signedPreKey.keyPair.private),
        signature: b64(c.signedPreKey.signature),
      },
      preKeys: a.preKeys,
    };
  },
  // bundle keys raw 32 bytes (as on the wire); Baileys adds the 05 prefix like parseAndInjectE2ESessions
  inject: async ({ actor, jid, bundle }) => {
    const session = {
      registrationId: bundle.registrationId,
      identityKey: B.generateSignalPubKey(buf(bundle.identity)),
      signedPreKey: {
        keyId: bundle.signedPreKey.keyId,
        publicKey: B.generateSignalPubKey(buf(bundle.signedPreKey.public)),
        signature: buf(bundle.signedPreKey.signature),
      },
    };
    if (bundle.preKey) {
      session.preKey = { keyId: bundle.preKey.keyId, publicKey: B.generateSignalPubKey(buf(bundle.preKey.public)) };
    }
    await actors.get(actor).repo.injectE2ESession({ jid, session });
    return {};
  },
  encrypt: async ({ actor, jid, data }) => {
    const { type, ciphertext } = await actors.get(actor).repo.encryptMessage({ jid, data: buf(data) });
    return { type, ciphertext: b64(ciphertext) };
  },
  decrypt: async ({ actor, jid, type, ciphertext }) => {
    const plaintext = await actors.get(actor).repo.decryptMessage({ jid, type, ciphertext: buf(ciphertext) });
    return { plaintext: b64(plaintext) };
  },
  encryptGroup: async ({ actor, group, meId, data }) => {
    const r = await actors.get(actor).repo.encryptGroupMessage({ group, meId, data: buf(data) });
    return { ciphertext: b64(r.ciphertext), skdm: b64(r.senderKeyDistributionMessage) };
  },
  processSkdm: async ({ actor, group, authorJid, skdm }) => {
    await actors.get(actor).repo.processSenderKeyDistributionMessage({
      authorJid,
      item: { groupId: group, axolotlSenderKeyDistributionMessage: buf(skdm) },
    });
    return {};
  },
  decryptGroup: async ({ actor, group, authorJid, msg }) => {
    const plaintext = await actors.get(actor).repo.decryptGroupMessage({ group, authorJid, msg: buf(msg) });
    return { plaintext: b64(plaintext) };
  },
  // the exact text of <type>-<id>.json (null when absent) and its replacement
  readFile: ({ actor, type, id }) => ({ text: actors.get(actor).files.get(`${type}-${id}`) ?? null }),
  writeFile: ({ actor, type, id, text }) => {
    const files = actors.get(actor).files;
    if (text === null) files.delete(`${type}-${id}`);
    else files.set(`${type}-${id}`, text);
    return {};
  },
  // libsignal's own load+save of a session record: JSON.stringify(deserialize(obj).serialize())
  resaveSession: ({ text }) => ({
    text: JSON.stringify(libsignal.SessionRecord.deserialize(JSON.parse(text)).serialize()),
  }),
  hasOpenSession: async ({ actor, jid }) => actors.get(actor).repo.validateSession(jid),
};

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  let reply;
  try {
    reply = { ok: true, result: await handlers[cmd.op](cmd) };
  } catch (e) {
    reply = { ok: false, error: { name: e?.name ?? 'Error', message: String(e?.message ?? e) } };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
