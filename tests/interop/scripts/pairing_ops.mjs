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
