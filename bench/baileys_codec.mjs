// Baileys 7.0.0-rc.9 side of bench/codec.py: ops/s of encodeBinaryNode and decoding.
//
// stdin:  {"seconds": s, "runs": n, "cases": {"name": N, ...}} with N in the JSON node form of
//         tests/interop/scripts/codec_check.mjs ({"tag","attrs","content": null|str|{"b64"}|[N]}).
// stdout: {"name": {"encode": ops/s, "decode_sync": ops/s, "decode_async": ops/s, "hex": "..."}}
// decode_sync is decodeDecompressedBinaryNode on the payload minus its flag byte (Baileys' decoding
// work alone); decode_async is decodeBinaryNode, what Baileys' socket awaits per frame.
// Baileys is loaded from tests/interop/node_modules by path (this script lives outside that tree).
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wabinary = resolve(here, '../tests/interop/node_modules/@whiskeysockets/baileys/lib/WABinary');
const load = (file) => import(pathToFileURL(resolve(wabinary, file)).href);
const { encodeBinaryNode } = await load('encode.js');
const { decodeBinaryNode, decodeDecompressedBinaryNode } = await load('decode.js');
const constants = await load('constants.js');

const fromJson = (n) => {
  const node = { tag: n.tag, attrs: n.attrs };
  const c = n.content;
  if (c === null || c === undefined) return node;
  if (typeof c === 'string') node.content = c;
  else if (Array.isArray(c)) node.content = c.map(fromJson);
  else node.content = Buffer.from(c.b64, 'base64');
  return node;
};

// CPU time of this process in nanoseconds: robust against other processes on a shared machine.
const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return BigInt(user + system) * 1000n;
};

// Best of `runs` runs of `seconds` CPU time each, after a warm-up run (lets V8 optimise).
// Synchronous functions are called without `await`, so no microtask overhead is charged to them.
const rate = async (fn, seconds, runs, isAsync = false) => {
  let best = 0;
  for (let round = 0; round <= runs; round++) {
    let ops = 0;
    const start = cpuNow();
    const limit = BigInt(Math.round(seconds * 1e9));
    let elapsed = 0n;
    while (elapsed < limit) {
      if (isAsync) for (let i = 0; i < 20; i++) await fn();
      else for (let i = 0; i < 20; i++) fn();
      ops += 20;
      elapsed = cpuNow() - start;
    }
    if (round > 0) best = Math.max(best, ops / (Number(elapsed) / 1e9));
  }
  return best;
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { seconds, runs, cases } = JSON.parse(Buffer.concat(chunks).toString('utf-8'));

const out = {};
for (const [name, json] of Object.entries(cases)) {
  const node = fromJson(json);
  const encoded = encodeBinaryNode(node);
  const body = encoded.subarray(1);
  out[name] = {
    hex: encoded.toString('hex'),
    encode: await rate(() => encodeBinaryNode(node), seconds, runs),
    decode_sync: await rate(() => decodeDecompressedBinaryNode(body, constants), seconds, runs),
    decode_async: await rate(() => decodeBinaryNode(encoded), seconds, runs, true),
  };
}
process.stdout.write(JSON.stringify(out));
