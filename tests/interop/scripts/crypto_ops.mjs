// Crypto oracle for tests/interop/test_crypto_interop.py: real libsignal 6.0.0 and Baileys helpers.
// stdin: {"ops": [{"op": ..., ...}]} with bytes as hex; stdout: {"results": [...]} (bytes as hex).
// libsignal's verifySignature is used for verification because Baileys' Curve.verify accepts
// any well-formed signature and so proves nothing.
import { createRequire } from 'node:module';
import * as B from '@whiskeysockets/baileys';

const require = createRequire(import.meta.url);
const curve = require('libsignal/src/curve');

const hex = (b) => Buffer.from(b).toString('hex');
const buf = (h) => Buffer.from(h, 'hex');

const handlers = {
  // libsignal XEdDSA signature (curve25519-js) over msg
  sign: ({ priv, msg }) => ({ sig: hex(curve.calculateSignature(buf(priv), buf(msg))) }),
  // libsignal's own boolean verdict; pub may be 32 or 33 bytes
  verify: ({ pub, msg, sig }) => {
    const key = buf(pub).length === 32 ? Buffer.concat([Buffer.from([5]), buf(pub)]) : buf(pub);
    return { ok: curve.verifySignature(key, buf(msg), buf(sig)) === true };
  },
  shared: ({ priv, pub }) => ({ shared: hex(B.Curve.sharedKey(buf(priv), buf(pub))) }),
  keypair: () => {
    const kp = B.Curve.generateKeyPair();
    return { private: hex(kp.private), public: hex(kp.public) };
  },
  signedKeyPair: ({ priv, pub, keyId }) => {
    const spk = B.signedKeyPair({ private: buf(priv), public: buf(pub) }, keyId);
    return {
      private: hex(spk.keyPair.private),
      public: hex(spk.keyPair.public),
      signature: hex(spk.signature),
      keyId: spk.keyId,
    };
  },
  publicFromPrivate: ({ priv }) => ({ pub: hex(curve.getPublicFromPrivateKey(buf(priv))) }),
};

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { ops } = JSON.parse(input);
const results = [];
for (const op of ops) {
  results.push(await handlers[op.op](op));
}
process.stdout.write(JSON.stringify({ results }));
