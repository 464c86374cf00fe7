// Preload for real Baileys against the sandbox's media host: `node --import rewrite_fetch.mjs app.mjs`.
//
// Why: Baileys uploads to `https://<media_conn host>/mms/...` and always downloads from
// `https://mmg.whatsapp.net<directPath>` (hard-coded). The sandbox serves both over plain HTTP on
// its own port, so this preload wraps globalThis.fetch (all of Baileys' media I/O goes through it)
// and rewrites those URLs to `http://127.0.0.1:<port>` + the same path and query. It is the only
// change to Baileys' environment: no TLS, no DNS, no Baileys config (media-spike.md).
//
// Environment: BUZPO_MEDIA_ORIGIN   the sandbox origin, e.g. http://127.0.0.1:8080 (required to
//                                   rewrite anything; without it fetch is left untouched)
//              BUZPO_MEDIA_HOSTS    extra comma-separated https hosts to rewrite (host[:port]);
//                                   mmg.whatsapp.net and the origin's own host:port always are.
const origin = process.env.BUZPO_MEDIA_ORIGIN;
if (origin) {
  const target = new URL(origin);
  const hosts = new Set(['mmg.whatsapp.net', target.host]);
  for (const h of (process.env.BUZPO_MEDIA_HOSTS || '').split(',')) if (h.trim()) hosts.add(h.trim());
  const original = globalThis.fetch;
  const rewrite = (url) => {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' || !hosts.has(parsed.host)) return null;
    return `${target.origin}${parsed.pathname}${parsed.search}`;
  };
  globalThis.fetch = (input, init) => {
    if (typeof input === 'string' || input instanceof URL) {
      const url = rewrite(String(input));
      return original(url ?? input, init);
    }
    if (input && typeof input.url === 'string') {
      const url = rewrite(input.url);
      if (url) return original(new Request(url, input), init);
    }
    return original(input, init);
  };
}
