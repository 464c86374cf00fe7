// Binary node oracle for tests/interop/test_codec_interop.py: Baileys 7.0.0-rc.9's real
// encodeBinaryNode / decodeBinaryNode, driven in one batch.
//
// stdin:  {"ops": [op, ...]} where op is one of
//           {"op": "encode", "node": N}       -> {"hex": "<encodeBinaryNode(N)>"}
//           {"op": "decode", "hex": "..."}    -> {"node": N}   (decodeBinaryNode, flag byte incl.)
//           {"op": "deflate", "hex": "..."}   -> {"hex": "..."} (zlib.deflateSync, for flag 0x02)
//         any op may instead answer {"error": "<message>"}.
// stdout: {"results": [result, ...]} in op order.
// N (JSON node): {"tag": str, "attrs": {str: str}, "content": null | str | {"b64": str} | [N...]}
// (null = no content; {"b64"} = a Buffer).
import { deflateSync } from 'node:zlib';
import { decodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/decode.js';
import { encodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/encode.js';

const fromJson = (n) => {
  const node = { tag: n.tag, attrs: n.attrs };
  const c = n.content;
  if (c === null || c === undefined) return node;
  if (typeof c === 'string') node.content = c;
  else if (Array.isArray(c)) node.content = c.map(fromJson);
  else node.content = Buffer.from(c.b64, 'base64');
  return node;
};

const toJson = (n) => {
  const c = n.content;
  let content = null;
  if (typeof c === 'string') content = c;
  else if (Array.isArray(c)) content = c.map(toJson);
  else if (c instanceof Uint8Array) content = { b64: Buffer.from(c).toString('base64') };
  else if (c !== undefined) throw new Error('unexpected content type ' + typeof c);
  return { tag: n.tag, attrs: n.attrs, content };
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { ops } = JSON.parse(Buffer.concat(chunks).toString('utf-8'));

const results = [];
for (const op of ops) {
  try {
    if (op.op === 'encode') {
      results.push({ hex: encodeBinaryNode(fromJson(op.node)).toString('hex') });
    } else if (op.op === 'decode') {
      results.push({ node: toJson(await decodeBinaryNode(Buffer.from(op.hex, 'hex'))) });
    } else if (op.op === 'deflate') {
      results.push({ hex: deflateSync(Buffer.from(op.hex, 'hex')).toString('hex') });
    } else {
      throw new Error('unknown op ' + op.op);
    }
  } catch (err) {
    results.push({ error: String(err && err.message ? err.message : err) });
  }
}
process.stdout.write(JSON.stringify({ results }));
