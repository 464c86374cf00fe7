// Dumps Baileys 7.0.0-rc.9's binary-node token tables (lib/WABinary/constants.js).
//
//   node scripts/dump_tokens.mjs            -> JSON {single, double, tags} on stdout (the interop
//                                              test compares it with buzpo_nb/wa/binary/tokens.py)
//   node scripts/dump_tokens.mjs --python   -> the text of buzpo_nb/wa/binary/tokens.py
//
// Run from tests/interop so the Baileys install resolves. The tables are protocol data (the
// strings WhatsApp Web ships); this script only serialises them, it is not part of the package.
import * as C from '@whiskeysockets/baileys/lib/WABinary/constants.js';

const single = C.SINGLE_BYTE_TOKENS;
const double = C.DOUBLE_BYTE_TOKENS;

if (!process.argv.includes('--python')) {
  process.stdout.write(JSON.stringify({ single, double, tags: C.TAGS }));
} else {
  // Python string literal via JSON (all tokens are printable ASCII; JSON escapes are valid Python).
  const lit = (s) => JSON.stringify(s);
  const rows = (tokens, indent) => {
    const lines = [];
    let line = '';
    for (const t of tokens) {
      const item = lit(t) + ',';
      if (line && indent.length + line.length + 1 + item.length > 100) {
        lines.push(indent + line);
        line = item;
      } else {
        line = line ? line + ' ' + item : item;
      }
    }
    if (line) lines.push(indent + line);
    return lines.join('\n');
  };
  const out = [];
  out.push('"""Tag bytes and token tables of the WhatsApp binary node format.');
  out.push('');
  out.push('Generated from Baileys 7.0.0-rc.9 `lib/WABinary/constants.js` by');
  out.push('`tests/interop/scripts/dump_tokens.mjs --python`; `tests/interop/test_tokens_interop.py` checks');
  out.push('they still equal what Baileys ships. Do not edit by hand: the byte values are the protocol.');
  out.push('');
  out.push('A single-byte token is written as its index (1..235; index 0 is the empty string). A');
  out.push('double-byte token is written as ``236 + dictionary`` followed by its index in that dictionary.');
  out.push('"""');
  out.push('');
  out.push('from __future__ import annotations');
  out.push('');
  out.push('# Tag bytes (Baileys `TAGS`): what the byte in front of a string or list means.');
  for (const [name, value] of Object.entries(C.TAGS)) out.push(`${name} = ${value}`);
  out.push('');
  out.push(`SINGLE_BYTE_TOKENS: tuple[str, ...] = (\n${rows(single, '    ')}\n)`);
  out.push('');
  out.push('DOUBLE_BYTE_TOKENS: tuple[tuple[str, ...], ...] = (');
  for (const d of double) out.push(`    (\n${rows(d, '        ')}\n    ),`);
  out.push(')');
  out.push('');
  process.stdout.write(out.join('\n'));
}
