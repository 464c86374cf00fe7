// Pairing / creds / ClientPayload oracle for tests/interop/test_pairing_interop.py.
// stdin: {"ops": [{"op": ..., ...}]} with bytes as hex; stdout: {"results": [...]}.
// Each op reports {"error": message} instead of crashing, so a test can assert on rejections.
import { createRequire } from 'node:module';
import * as B from '@whiskeysockets/baileys';

const require = createRequire(import.meta.url);
const curve = require('libsignal/src/curve');
const { proto } = B;

const hex = (b) => Buffer.from(b).toString('hex');
const buf = (h) => Buffer.from(h, 'hex');
const pair = (kp) => ({ private: buf(kp.private), public: buf(kp.public) });
const signal = (pub) => Buffer.concat([Buffer.from([5]), pub]);

const handlers = {
  // Companion side in Baileys: feed a pair-success built from the given device-identity bytes.
  configure: ({ deviceIdentity, advSecretKey, identity, jid, lid, platform, id }) => {
    const children = [{ tag: 'device-identity', attrs: {}, content: buf(deviceIdentity) }];
    if (platform) children.push({ tag: 'platform', attrs: { name: platform } });
    children.push({ tag: 'device', attrs: lid ? { jid, lid } : { jid } });
    const stanza = {
      tag: 'iq',
      attrs: { id, type: 'set', from: 's.whatsapp.net', xmlns: 'md' },
      content: [{ tag: 'pair-success', attrs: {}, content: children }],
    };
    const creds = { advSecretKey, signedIdentityKey: pair(identity), signalIdentities: [] };
    const { creds: update, reply } = B.configureSuccessfulPairing(stanza, creds);
    const sign = reply.content[0].content[0];
    // libsignal's boolean verdict on the account signature (Baileys' own check accepts anything)
    const acct = update.account;
    const device = proto.ADVDeviceIdentity.decode(acct.details);
    const prefix = device.deviceType === proto.ADVEncryptionType.HOSTED ? [6, 5] : [6, 0];
    const accountSigOk = curve.verifySignature(
      signal(Buffer.from(acct.accountSignatureKey)),
      Buffer.concat([Buffer.from(prefix), Buffer.from(acct.details), buf(identity.public)]),
      Buffer.from(acct.accountSignature),
    );
    return {
      replyTag: reply.content[0].tag,
      replyAttrs: reply.attrs,
      keyIndex: sign.attrs['key-index'],
      replyIdentity: hex(sign.content),
      deviceSignature: hex(acct.deviceSignature),
      accountWithKey: hex(B.encodeSignedDeviceIdentity(acct, true)),
      accountSigOk,
      credsJson: JSON.stringify(update, B.BufferJSON.replacer),
    };
  },
  // Phone side in JS: pair-success device-identity with Curve.sign + hmacSign.
  buildPairSuccess: ({ account, companionIdentityPub, advSecretKey, rawId, keyIndex, timestamp, prefix }) => {
    const details = proto.ADVDeviceIdentity.encode({ rawId, timestamp, keyIndex }).finish();
    const msg = Buffer.concat([Buffer.from(prefix ?? [6, 0]), details, buf(companionIdentityPub)]);
    const accountSignature = B.Curve.sign(buf(account.private), msg);
    const signed = proto.ADVSignedDeviceIdentity.encode({
      details,
      accountSignatureKey: buf(account.public),
      accountSignature,
    }).finish();
    const hmac = B.hmacSign(signed, Buffer.from(advSecretKey, 'base64'));
    return { deviceIdentity: hex(proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish()) };
  },
  // --- pairing code (Baileys' helpers, composed exactly as socket.js / messages-recv.js do) ---
  crockford: ({ data }) => ({ code: B.bytesToCrockford(buf(data)) }),
  derivePairingCodeKey: async ({ code, salt }) => ({ key: hex(await B.derivePairingCodeKey(code, buf(salt))) }),
  // socket.js generatePairingKey with injected salt/iv
  companionHello: async ({ code, pub, salt, iv }) => {
    const key = await B.derivePairingCodeKey(code, buf(salt));
    return { wrapped: hex(Buffer.concat([buf(salt), buf(iv), B.aesEncryptCTR(buf(pub), key, buf(iv))])) };
  },
  // messages-recv.js case 'link_code_companion_reg' with injected random/salt/iv
  companionFinish: async ({ code, wrappedPrimary, primaryIdentityPub, pairingEphemeral, identity, random, salt, iv }) => {
    const wrapped = buf(wrappedPrimary);
    const secretKey = await B.derivePairingCodeKey(code, wrapped.slice(0, 32));
    const primaryEph = B.aesDecryptCTR(wrapped.slice(48, 80), secretKey, wrapped.slice(32, 48));
    const companionShared = B.Curve.sharedKey(buf(pairingEphemeral.private), primaryEph);
    const expanded = await B.hkdf(companionShared, 32, { salt: buf(salt), info: 'link_code_pairing_key_bundle_encryption_key' });
    const payload = Buffer.concat([buf(identity.public), buf(primaryIdentityPub), buf(random)]);
    const sealed = B.aesEncryptGCM(payload, expanded, buf(iv), Buffer.alloc(0));
    const identityShared = B.Curve.sharedKey(buf(identity.private), buf(primaryIdentityPub));
    const adv = await B.hkdf(Buffer.concat([companionShared, identityShared, buf(random)]), 32, { info: 'adv_secret' });
    return { bundle: hex(Buffer.concat([buf(salt), buf(iv), sealed])), advSecretKey: adv.toString('base64') };
  },
  // --- creds.json (BufferJSON) ---
  initCreds: () => ({ json: JSON.stringify(B.initAuthCreds(), B.BufferJSON.replacer) }),
  // a creds object as a paired Baileys device holds it (JS phone + configureSuccessfulPairing),
  // plus the later optional fields, written the way useMultiFileAuthState writes creds.json
  pairedCreds: () => {
    const creds = B.initAuthCreds();
    const account = B.Curve.generateKeyPair();
    const details = proto.ADVDeviceIdentity.encode({ rawId: 7, timestamp: 1764000000, keyIndex: 1 }).finish();
    const accountSignature = B.Curve.sign(account.private, Buffer.concat([Buffer.from([6, 0]), details, creds.signedIdentityKey.public]));
    const signed = proto.ADVSignedDeviceIdentity.encode({ details, accountSignatureKey: account.public, accountSignature }).finish();
    const hmac = B.hmacSign(signed, Buffer.from(creds.advSecretKey, 'base64'));
    const stanza = { tag: 'iq', attrs: { id: '1', type: 'set' }, content: [{ tag: 'pair-success', attrs: {}, content: [
      { tag: 'device-identity', attrs: {}, content: Buffer.from(proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish()) },
      { tag: 'platform', attrs: { name: 'smba' } },
      { tag: 'device', attrs: { jid: '15550001111:9@s.whatsapp.net', lid: '987654321:9@lid' } },
      { tag: 'biz', attrs: { name: 'Shop' } },
    ] }] };
    Object.assign(creds, B.configureSuccessfulPairing(stanza, creds).creds);
    creds.routingInfo = Buffer.from([8, 5, 8, 2]);
    creds.lastPropHash = '3R2Gd4';
    creds.myAppStateKeyId = 'AAAAAOtA';
    creds.lastAccountSyncTimestamp = 1764000123;
    creds.processedHistoryMessages.push({ key: { remoteJid: '1@s.whatsapp.net', fromMe: false, id: 'ABC' }, messageTimestamp: 1764000000 });
    return { json: JSON.stringify(creds, B.BufferJSON.replacer) };
  },
  // how Baileys' reviver reads a Buzpo creds.json, and whether it can use it
  reviveCreds: ({ json }) => {
    const c = JSON.parse(json, B.BufferJSON.reviver);
    const isBuf = (v) => Buffer.isBuffer(v);
    const types = {
      noiseKey: isBuf(c.noiseKey.private) && isBuf(c.noiseKey.public),
      pairingEphemeralKeyPair: isBuf(c.pairingEphemeralKeyPair.private) && isBuf(c.pairingEphemeralKeyPair.public),
      signedIdentityKey: isBuf(c.signedIdentityKey.private) && isBuf(c.signedIdentityKey.public),
      signedPreKey: isBuf(c.signedPreKey.keyPair.private) && isBuf(c.signedPreKey.keyPair.public) && isBuf(c.signedPreKey.signature) && typeof c.signedPreKey.keyId === 'number',
      registrationId: typeof c.registrationId === 'number',
      advSecretKey: typeof c.advSecretKey === 'string' && Buffer.from(c.advSecretKey, 'base64').length === 32,
      processedHistoryMessages: Array.isArray(c.processedHistoryMessages),
      numbers: [c.nextPreKeyId, c.firstUnuploadedPreKeyId, c.accountSyncCounter].every((n) => typeof n === 'number'),
      accountSettings: c.accountSettings.unarchiveChats === false,
      registered: c.registered === false,
    };
    const spkOk = curve.verifySignature(signal(c.signedIdentityKey.public), signal(c.signedPreKey.keyPair.public), c.signedPreKey.signature);
    const noisePubOk = curve.getPublicFromPrivateKey(c.noiseKey.private).slice(1).equals(c.noiseKey.public);
    const out = { types, spkOk, noisePubOk, keys: Object.keys(c) };
    if (c.account) out.accountWithKey = hex(B.encodeSignedDeviceIdentity(c.account, true));
    if (c.signalIdentities) out.signalIdentityKeyIsBuffer = isBuf(c.signalIdentities[0].identifierKey);
    return out;
  },
  // --- ClientPayload golden bytes ---
  registrationPayload: ({ credsJson, config }) => {
    const creds = JSON.parse(credsJson, B.BufferJSON.reviver);
    const node = B.generateRegistrationNode(creds, config);
    return { payload: hex(proto.ClientPayload.encode(node).finish()) };
  },
  loginPayload: ({ jid, config }) => {
    const node = B.generateLoginNode(jid, config);
    return { payload: hex(proto.ClientPayload.encode(node).finish()) };
  },
  defaultConfig: () => {
    const c = B.DEFAULT_CONNECTION_CONFIG;
    return { version: c.version, browser: c.browser, countryCode: c.countryCode, syncFullHistory: c.syncFullHistory };
  },
  libsignalVerify: ({ pub, msg, sig }) => ({ ok: curve.verifySignature(signal(buf(pub)), buf(msg), buf(sig)) === true }),
};

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { ops } = JSON.parse(input);
const results = [];
for (const op of ops) {
  try {
    results.push(await handlers[op.op](op));
  } catch (e) {
    results.push({ error: String(e?.message ?? e) });
  }
}
process.stdout.write(JSON.stringify({ results }));
