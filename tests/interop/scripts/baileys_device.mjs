// One real Baileys 7.0.0-rc.9 companion device, remote-controlled over stdio.
//
// Why: the interop tests must prove that *unmodified* Baileys links to and logs in to the Buzpo
// sandbox. This process plays the role of a bot application: it keeps a useMultiFileAuthState
// folder, recreates the socket after every close except loggedOut (Baileys never reconnects by
// itself), and reports what happens as JSON lines on stdout. Commands arrive as JSON lines on
// stdin. Baileys' own logs go to stderr so they never corrupt the event stream.
//
// Usage: node baileys_device.mjs '{"url": "ws://127.0.0.1:PORT/ws/chat", "auth": "DIR",
//                                  "logLevel": "silent"}'
// Events  (stdout): {"event": <name>, "t": <ms since start>, ...}
//   ready                      the process is up and listening for commands
//   socket {n}                 socket number n was created (1, 2, ...)
//   qr {qr}                    Baileys showed a QR string
//   connection {connection, statusCode?, message?, isNewLogin?, receivedPendingNotifications?}
//   creds {me, registered, platform, hasAccount}   creds were saved to the auth folder
//   pairing_code {code}        answer to requestPairingCode
//   logged_out {statusCode}    closed with 401: no reconnect
//   message {upsertType, key, text, quotedId, stub, stubParams, ciphertext, status, pushName,
//            mediaType, mimetype, caption, fileName, fileLength}
//                              one message of messages.upsert (received, or our own sent copy:
//                              key.fromMe). key = {remoteJid, id, fromMe, participant,
//                              remoteJidAlt, participantAlt}; text = conversation or
//                              extendedTextMessage.text; quotedId = contextInfo.stanzaId;
//                              upsertType 'notify' (live) or 'append' (offline/own);
//                              ciphertext = true for the CIPHERTEXT stub of a failed decryption;
//                              mediaType = image|video|audio|ptt|document|sticker (null for
//                              non-media), with mimetype, caption, fileName, fileLength (number)
//   status {key, id, status, source, userJid?}   delivery progress of a message: status is
//                              Baileys' WAMessageStatus (0 error, 1 pending, 2 server ack,
//                              3 delivered, 4 read, 5 played); source says where it came from:
//                              'update' (messages.update), 'upsert' (status merged into a
//                              buffered upsert) or 'receipt' (message-receipt.update / upsert
//                              userReceipt, group receipts: userJid is the reader)
//   result {id, cmd, ...} / error {id?, cmd?, message}   answers to commands
//   exit {code}                about to exit
// Commands (stdin): {"cmd": "requestPairingCode", "phone": "15551234567", "code"?: "ABCD1234", "id"?}
//   {"cmd": "end"}     close the current socket from the client side (the driver reconnects)
//   {"cmd": "logout"}  sock.logout() (sends remove-companion-device, ends with 401)
//   {"cmd": "stop"}    close without reconnecting, wait for pending creds writes, exit 0
//   {"cmd": "sendMessage", "to": jid, "text": "...", "quotedId"?: id}
//                      sock.sendMessage(to, {text}, {quoted}); the quoted message must have been
//                      seen by this process (received or sent). result {messageId, key}
//   {"cmd": "readMessages", "ids"?: [id...], "keys"?: [WAMessageKey...]}
//                      sock.readMessages(keys); ids are looked up among the seen messages
//   {"cmd": "groupMetadata", "jid": group jid}   result {metadata}
//   {"cmd": "sendMedia", "to": jid, "mediaType": image|video|audio|ptt|document|sticker,
//    "base64"?: data | "path"?: local file, "caption"?, "fileName"?, "mimetype"?, "ptt"?: bool}
//                      sock.sendMessage(to, {image|video|audio|document|sticker: ...}); 'ptt' (or
//                      ptt: true) sends a voice note. result {messageId, key, mediaType, mimetype,
//                      fileLength, directPath, url}
//   {"cmd": "downloadMedia", "id": message id}
//                      downloadMediaMessage(seen message, 'buffer') -> result {base64, length}
// Media needs the preload: `node --import rewrite_fetch.mjs` with BUZPO_MEDIA_ORIGIN set (the
// Python driver does both), so Baileys' https media URLs reach the sandbox's plain-HTTP host.
import { createInterface } from 'node:readline';
import { format } from 'node:util';
import pino from 'pino';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import makeWASocket, {
  DisconnectReason,
  downloadMediaMessage,
  normalizeMessageContent,
  useMultiFileAuthState,
} from '@whiskeysockets/baileys';

// libsignal prints session changes with console.log/info: keep stdout for events only.
for (const name of ['log', 'info', 'warn', 'debug']) {
  console[name] = (...args) => process.stderr.write(format(...args) + '\n');
}

const config = JSON.parse(process.argv[2] || '{}');
const started = Date.now();
const emit = (event, fields = {}) => {
  process.stdout.write(JSON.stringify({ event, t: Date.now() - started, ...fields }) + '\n');
};

const logger = pino({ level: config.logLevel || 'silent' }, pino.destination(2));
const { state, saveCreds } = await useMultiFileAuthState(config.auth);

let sock = null;
let socketCount = 0;
let stopping = false;
let failures = 0; // consecutive closes without reaching open: paces reconnects to a dead server
let pendingSaves = Promise.resolve();
const seen = new Map(); // message id -> WAMessage (received or sent), for quoting and reading

const keyOf = (key) => ({
  remoteJid: key?.remoteJid ?? null,
  id: key?.id ?? null,
  fromMe: !!key?.fromMe,
  participant: key?.participant ?? null,
  remoteJidAlt: key?.remoteJidAlt ?? null,
  participantAlt: key?.participantAlt ?? null,
});

function textOf(message) {
  const m = message ?? {};
  const ext = m.extendedTextMessage;
  return {
    text: m.conversation ?? ext?.text ?? null,
    quotedId: ext?.contextInfo?.stanzaId ?? null,
  };
}

const MEDIA_FIELDS = {
  imageMessage: 'image',
  videoMessage: 'video',
  audioMessage: 'audio',
  documentMessage: 'document',
  stickerMessage: 'sticker',
};

// The media part of a message (unwrapping documentWithCaption / ephemeral / view-once).
function mediaOf(message) {
  const m = normalizeMessageContent(message) ?? {};
  for (const [field, kind] of Object.entries(MEDIA_FIELDS)) {
    const media = m[field];
    if (!media) continue;
    return {
      mediaType: kind === 'audio' && media.ptt ? 'ptt' : kind,
      mimetype: media.mimetype ?? null,
      caption: media.caption ?? null,
      fileName: media.fileName ?? null,
      fileLength: media.fileLength == null ? null : Number(media.fileLength),
    };
  }
  return { mediaType: null, mimetype: null, caption: null, fileName: null, fileLength: null };
}

function mediaMeta(message) {
  const m = normalizeMessageContent(message) ?? {};
  for (const field of Object.keys(MEDIA_FIELDS)) {
    if (m[field]) return { directPath: m[field].directPath ?? null, url: m[field].url ?? null };
  }
  return { directPath: null, url: null };
}

// Baileys 7.0.0-rc.9's encryptedStream resolves before its temp file is fully written (seen
// as ENOENT or a short file under load), and its uploader then posts a truncated blob that the
// sandbox rightly refuses (a body must hash to its token): "Media upload failed on all hosts".
// The driver hands Baileys' own uploader the file only once its SHA-256 equals the
// fileEncSha256 Baileys computed (bounded wait); nothing else about the upload changes.
async function settledUpload(filePath, opts) {
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      const digest = createHash('sha256').update(await readFile(filePath)).digest('base64');
      if (digest === opts.fileEncSha256B64) break;
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
    if (Date.now() > deadline) throw new Error(`Baileys never finished writing ${filePath}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return sock.waUploadToServer(filePath, opts);
}

async function mediaContent(command) {
  const kind = command.mediaType;
  let data;
  if (typeof command.base64 === 'string') data = Buffer.from(command.base64, 'base64');
  else if (typeof command.path === 'string') data = await readFile(command.path);
  else throw new Error('sendMedia needs base64 or path');
  const extra = {};
  if (command.mimetype) extra.mimetype = command.mimetype;
  switch (kind) {
    case 'image':
    case 'video':
      return { [kind]: data, ...(command.caption != null ? { caption: command.caption } : {}), ...extra };
    case 'audio':
    case 'ptt':
      return { audio: data, ptt: kind === 'ptt' || !!command.ptt, ...extra };
    case 'document':
      return {
        document: data,
        mimetype: command.mimetype || 'application/octet-stream',
        fileName: command.fileName ?? 'file',
        ...(command.caption != null ? { caption: command.caption } : {}),
      };
    case 'sticker':
      return { sticker: data, ...extra };
    default:
      throw new Error(`unknown mediaType ${JSON.stringify(kind)}`);
  }
}

function reportReceipts(key, receipts, socket) {
  for (const r of receipts ?? []) {
    const status = r.readTimestamp ? 4 : r.receiptTimestamp ? 3 : null;
    if (status) emit('status', { socket, key: keyOf(key), id: key?.id, status, source: 'receipt', userJid: r.userJid });
  }
}

function start() {
  socketCount += 1;
  const n = socketCount;
  const s = makeWASocket({
    waWebSocketUrl: config.url,
    auth: state,
    logger,
    printQRInTerminal: false,
    shouldSyncHistoryMessage: () => false,
    markOnlineOnConnect: false,
    ...(config.socket || {}),
  });
  sock = s;
  emit('socket', { n });
  s.ev.on('creds.update', () => {
    pendingSaves = pendingSaves.then(saveCreds).then(() => {
      const c = state.creds;
      emit('creds', {
        socket: n,
        me: c.me ?? null,
        registered: !!c.registered,
        platform: c.platform ?? null,
        hasAccount: !!c.account,
      });
    }).catch((err) => emit('error', { message: `saveCreds: ${err}` }));
  });
  s.ev.on('messages.upsert', ({ messages, type }) => {
    for (const msg of messages) {
      const stub = msg.messageStubType ?? null;
      if (msg.key?.id && (msg.message || !seen.has(msg.key.id))) seen.set(msg.key.id, msg);
      emit('message', {
        socket: n,
        upsertType: type,
        key: keyOf(msg.key),
        ...textOf(msg.message),
        stub,
        stubParams: msg.messageStubParameters ?? null,
        ciphertext: stub === 2,
        status: msg.status ?? null,
        pushName: msg.pushName ?? null,
        ...mediaOf(msg.message),
      });
      if (msg.key?.fromMe && typeof msg.status === 'number') {
        emit('status', { socket: n, key: keyOf(msg.key), id: msg.key.id, status: msg.status, source: 'upsert' });
      }
      reportReceipts(msg.key, msg.userReceipt, n);
    }
  });
  s.ev.on('messages.update', (updates) => {
    for (const { key, update } of updates) {
      if (typeof update?.status === 'number') {
        emit('status', { socket: n, key: keyOf(key), id: key?.id, status: update.status, source: 'update' });
      }
    }
  });
  s.ev.on('message-receipt.update', (updates) => {
    for (const { key, receipt } of updates) reportReceipts(key, [receipt], n);
  });
  s.ev.on('connection.update', (update) => {
    const { connection, lastDisconnect, qr, isNewLogin, receivedPendingNotifications } = update;
    if (qr) emit('qr', { socket: n, qr });
    if (isNewLogin) emit('connection', { socket: n, isNewLogin: true });
    if (receivedPendingNotifications) emit('connection', { socket: n, receivedPendingNotifications: true });
    if (connection === 'open') {
      failures = 0;
      emit('connection', { socket: n, connection: 'open', me: state.creds.me ?? null });
    } else if (connection === 'connecting') {
      emit('connection', { socket: n, connection: 'connecting' });
    } else if (connection === 'close') {
      const statusCode = lastDisconnect?.error?.output?.statusCode ?? null;
      const message = lastDisconnect?.error?.message ?? null;
      emit('connection', { socket: n, connection: 'close', statusCode, message });
      if (s !== sock || stopping) return;
      if (statusCode === DisconnectReason.loggedOut) {
        emit('logged_out', { socket: n, statusCode });
        return;
      }
      if (statusCode === DisconnectReason.restartRequired) {
        start();
      } else {
        failures += 1;
        setTimeout(() => { if (!stopping && s === sock) start(); }, Math.min(2000, 50 * 2 ** failures));
      }
    }
  });
  return s;
}

async function handle(command) {
  const { cmd, id } = command;
  switch (cmd) {
    case 'requestPairingCode': {
      const code = await sock.requestPairingCode(command.phone, command.code);
      emit('pairing_code', { id, code });
      return;
    }
    case 'end':
      sock.end(undefined);
      emit('result', { id, cmd });
      return;
    case 'logout':
      await sock.logout();
      emit('result', { id, cmd });
      return;
    case 'stop':
      await stop(0);
      return;
    case 'sendMessage': {
      const quoted = command.quotedId ? seen.get(command.quotedId) : undefined;
      if (command.quotedId && !quoted) throw new Error(`no message ${command.quotedId} to quote`);
      const sent = await sock.sendMessage(command.to, { text: command.text }, quoted ? { quoted } : {});
      seen.set(sent.key.id, sent);
      emit('result', { id, cmd, messageId: sent.key.id, key: keyOf(sent.key) });
      return;
    }
    case 'readMessages': {
      const keys = [...(command.keys ?? [])];
      for (const msgId of command.ids ?? []) {
        const msg = seen.get(msgId);
        if (!msg) throw new Error(`no message ${msgId} to read`);
        keys.push(msg.key);
      }
      await sock.readMessages(keys);
      emit('result', { id, cmd, count: keys.length });
      return;
    }
    case 'groupMetadata': {
      const metadata = await sock.groupMetadata(command.jid);
      emit('result', { id, cmd, metadata });
      return;
    }
    case 'sendMedia': {
      const content = await mediaContent(command);
      const sent = await sock.sendMessage(command.to, content, { upload: settledUpload });
      seen.set(sent.key.id, sent);
      const info = mediaOf(sent.message);
      emit('result', {
        id, cmd, messageId: sent.key.id, key: keyOf(sent.key),
        mediaType: info.mediaType, mimetype: info.mimetype, fileLength: info.fileLength,
        ...mediaMeta(sent.message),
      });
      return;
    }
    case 'downloadMedia': {
      const msg = seen.get(command.id);
      if (!msg?.message) throw new Error(`no message ${command.id} to download`);
      const data = await downloadMediaMessage(msg, 'buffer', {}, { logger, reuploadRequest: sock.updateMediaMessage });
      emit('result', { id, cmd, base64: data.toString('base64'), length: data.length });
      return;
    }
    default:
      throw new Error(`unknown command ${JSON.stringify(cmd)}`);
  }
}

async function stop(code) {
  stopping = true;
  try { sock?.end(undefined); } catch { /* already closed */ }
  await pendingSaves;
  emit('exit', { code });
  process.exit(code);
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
  } catch (err) {
    emit('error', { message: `bad command line: ${err.message}` });
    return;
  }
  handle(command).catch((err) => emit('error', { id: command.id, cmd: command.cmd, message: String(err?.stack || err) }));
});
rl.on('close', () => { if (!stopping) stop(0); });
process.on('unhandledRejection', (err) => emit('error', { message: `unhandled: ${err?.stack || err}` }));

emit('ready', { auth: config.auth });
start();
