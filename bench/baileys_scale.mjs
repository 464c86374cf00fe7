// Baileys 7.0.0-rc.9 side of bench/scale.py: memory and idle CPU of many linked idle sockets.
//
// node --expose-gc bench/baileys_scale.mjs '{"url":WS,"auth":DIR,"sessions":N,"concurrency":C,
//                                           "settle":S,"idle":I}'
//   Prints {"event":"qr","index":i,"qr":...} for each socket's first QR (the harness links it
//   through the sandbox's control API) and {"event":"open","index":i} once it is open; up to C
//   sockets are linking at once. Each socket is Baileys' own makeWASocket on its own
//   useMultiFileAuthState folder (DIR/<i>), recreated after a close (the 515 restart after
//   pairing, or a blip) unless logged out, as Baileys' README shows. Once all N are open it
//   waits S seconds, runs the GC and reads its RSS (the first reading is taken the same way before
//   the first socket); then measures its CPU time over I seconds of idling and prints
//   {"event":"result","rss_before","rss_after","cpu_seconds","wall_seconds"} and exits.
// Baileys is loaded through baileys_common.mjs (from tests/interop/node_modules, by path).
import { join } from 'node:path';
import { B, config, emit, logger } from './baileys_common.mjs';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const collect = () => globalThis.gc && (globalThis.gc(), globalThis.gc());

const sockets = [];

async function openOne(index) {
  const { state, saveCreds } = await B.useMultiFileAuthState(join(config.auth, String(index)));
  let qrShown = false;
  return new Promise((resolveOpen, rejectOpen) => {
    const start = () => {
      const sock = B.makeWASocket({
        waWebSocketUrl: config.url,
        auth: state,
        logger,
        printQRInTerminal: false,
        shouldSyncHistoryMessage: () => false,
        markOnlineOnConnect: false,
      });
      sockets[index] = sock;
      sock.ev.on('creds.update', saveCreds);
      sock.ev.on('connection.update', ({ connection, qr, lastDisconnect }) => {
        if (qr && !qrShown) {
          qrShown = true;
          emit('qr', { index, qr });
        }
        if (connection === 'open') {
          emit('open', { index });
          resolveOpen();
        }
        if (connection === 'close') {
          const code = lastDisconnect?.error?.output?.statusCode;
          // As Baileys' README: reconnect unless logged out (515 after pairing, or a blip).
          if (code !== B.DisconnectReason.loggedOut) start();
          else rejectOpen(new Error(`socket ${index} logged out`));
        }
      });
    };
    start();
  });
}

collect();
const rssBefore = process.memoryUsage().rss;
let next = 0;
const worker = async () => {
  while (next < config.sessions) await openOne(next++);
};
await Promise.all(Array.from({ length: config.concurrency ?? 16 }, worker));
await sleep((config.settle ?? 5) * 1000);
collect();
const mem = process.memoryUsage();
emit('opened', { rss: mem.rss, heap: mem.heapUsed, external: mem.external });
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await sleep((config.idle ?? 0) * 1000);
const cpu = process.cpuUsage(cpu0);
emit('result', {
  rss_before: rssBefore,
  rss_after: mem.rss,
  cpu_seconds: (cpu.user + cpu.system) / 1e6,
  wall_seconds: (performance.now() - t0) / 1000,
});
for (const sock of sockets) sock?.end(undefined);
await sleep(100);
process.exit(0);
