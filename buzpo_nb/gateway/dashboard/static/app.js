// Buzpo dashboard: plain ES module, no build step. Every read goes through the admin API;
// live changes arrive over Server-Sent Events (/api/events/stream), never by polling.

const main = document.getElementById("main");
const liveEl = document.getElementById("live");
const logoutBtn = document.getElementById("logout");
const listeners = new Set(); // (type, data) => void, for the page on screen
let source = null;

// -- tiny DOM helper (textContent only: nothing from the server is parsed as HTML) ----------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (res.status === 401) {
    showLogin();
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

// A burst of events means one re-read at a time, plus one more if any came in meanwhile.
function coalesced(load) {
  let running = null;
  let again = false;
  const run = () => {
    if (running) {
      again = true;
      return running;
    }
    running = Promise.resolve()
      .then(load)
      .catch(() => {})
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
    return running;
  };
  return run;
}

function statusBadge(status) {
  return h("span", { class: `status status-${status}`, "data-testid": "status" }, status);
}

// -- live events ------------------------------------------------------------------------------
function connectEvents() {
  if (source) source.close();
  source = new EventSource("/api/events/stream");
  source.addEventListener("ready", () => {
    liveEl.textContent = "live";
    emit("ready", {});
  });
  for (const type of ["session", "messages", "webhooks"]) {
    source.addEventListener(type, (e) => emit(type, JSON.parse(e.data)));
  }
  // The server is stopping: EventSource reconnects by itself once it is back.
  source.addEventListener("closing", () => {
    liveEl.textContent = "server stopping…";
  });
  source.onerror = () => {
    // EventSource retries by itself (the server sends `retry:`); just say so.
    liveEl.textContent = source.readyState === EventSource.CLOSED ? "offline" : "reconnecting…";
  };
}

function emit(type, data) {
  for (const fn of listeners) fn(type, data);
}

// -- auth -------------------------------------------------------------------------------------
function showLogin() {
  if (source) source.close();
  source = null;
  liveEl.textContent = "";
  logoutBtn.hidden = true;
  listeners.clear();
  main.replaceChildren(document.getElementById("login-tpl").content.cloneNode(true));
  const form = document.getElementById("login-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = document.getElementById("login-error");
    err.textContent = "";
    const res = await fetch("/api/admin/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: form.token.value }),
    });
    if (res.status === 204) {
      form.token.value = "";
      start();
    } else {
      const body = await res.json().catch(() => null);
      err.textContent = body?.error?.message || "Login failed";
    }
  });
  document.getElementById("token").focus();
}

logoutBtn.addEventListener("click", async () => {
  await fetch("/api/admin/logout", { method: "POST", credentials: "same-origin" });
  showLogin();
});

// -- pages ------------------------------------------------------------------------------------
async function sessionsPage() {
  const tbody = h("tbody");
  const error = h("p", { class: "error", role: "alert" });
  const secretBox = h("div", { "aria-live": "polite" });

  async function load() {
    const sessions = await api("/api/sessions");
    tbody.replaceChildren(
      ...sessions.map((s) =>
        h(
          "tr",
          { "data-session": s.id },
          h("td", {}, h("a", { href: `#/session/${s.id}` }, s.name)),
          h("td", {}, statusBadge(s.status)),
          h("td", {}, s.phone || h("span", { class: "muted" }, "not linked")),
          h("td", { class: "hide-sm" }, s.dmPolicy),
          h("td", { class: "hide-sm" }, s.webhookUrl || "—"),
          h(
            "td",
            {},
            h(
              "button",
              {
                type: "button",
                class: "danger",
                "aria-label": `Delete session ${s.name}`,
                onclick: async () => {
                  if (!confirm(`Delete session "${s.name}"? It is logged out and forgotten.`)) return;
                  await api(`/api/sessions/${s.id}`, { method: "DELETE" });
                  load();
                },
              },
              "Delete",
            ),
          ),
        ),
      ),
    );
    if (!sessions.length) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No sessions yet.")));
  }

  const form = h(
    "form",
    { class: "grid", "aria-label": "Create a session" },
    h("div", {}, h("label", { for: "s-name" }, "Name"), h("input", { id: "s-name", name: "name", required: true, maxlength: 100 })),
    h("div", {}, h("label", { for: "s-webhook" }, "Webhook URL (optional)"), h("input", { id: "s-webhook", name: "webhook", type: "url", placeholder: "https://example.com/hook" })),
    h(
      "div",
      {},
      h("label", { for: "s-dm" }, "DM policy"),
      h("select", { id: "s-dm", name: "dm" }, ...["open", "pairing", "allowlist", "disabled"].map((p) => h("option", { value: p }, p))),
    ),
    h("div", {}, h("button", { type: "submit" }, "Create session")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const body = { name: form.name.value, dmPolicy: form.dm.value };
    if (form.webhook.value) body.webhookUrl = form.webhook.value;
    try {
      const created = await api("/api/sessions", { method: "POST", body });
      form.reset();
      secretBox.replaceChildren(
        created.webhookSecret
          ? h("p", {}, "Webhook signing secret (shown once): ", h("code", {}, created.webhookSecret))
          : "",
      );
      await load();
    } catch (err) {
      error.textContent = err.message;
    }
  });

  main.replaceChildren(
    h("h1", {}, "Sessions"),
    h("section", { class: "card", "aria-labelledby": "new-s" }, h("h2", { id: "new-s" }, "New session"), form, error, secretBox),
    h(
      "section",
      { class: "card", "aria-labelledby": "all-s" },
      h("h2", { id: "all-s" }, "All sessions"),
      h("table", {}, h("thead", {}, h("tr", {}, ...["Name", "Status", "Number", "DM policy", "Webhook", ""].map((t, i) => h("th", { scope: "col", class: i === 3 || i === 4 ? "hide-sm" : null }, t)))), tbody),
    ),
  );
  listeners.add((type) => {
    if (type === "session" || type === "ready") load();
  });
  await load();
}

const MAX_UPLOAD = 16 * 1024 * 1024; // the gateway's default media limit (it checks too: 413)

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(new Error("The attachment could not be read"));
    reader.readAsDataURL(file);
  });
}

const TICKS = {
  queued: ["○", "queued"],
  sent: ["✓", "sent"],
  delivered: ["✓✓", "delivered"],
  read: ["✓✓", "read"],
  played: ["✓✓", "played"],
  failed: ["✗", "failed"],
  received: ["", "received"],
};

const CONNECTION_LOG = 20; // entries kept on a session's page

function seconds(s) {
  return s < 10 ? s.toFixed(1) : Math.round(s).toString();
}

async function sessionPage(id) {
  const title = h("h1", {}, "Session");
  const badge = h("span");
  const linkBox = h("div", { class: "qr", "aria-live": "polite" });
  const errorBox = h("p", { class: "error", role: "alert", "data-testid": "last-error" });
  const reconnect = h("p", { class: "muted", role: "status", "data-testid": "reconnect" });
  const connLog = h("ul", { class: "connlog", "aria-label": "Connection log", "data-testid": "connection-log" });
  const list = h("ul", { class: "messages", "aria-label": "Recent messages", "aria-live": "polite" });
  const pairBox = h("div");
  let started = false;
  let countdown = null;

  function logLine(text) {
    connLog.prepend(h("li", {}, h("time", {}, new Date().toLocaleTimeString()), " ", text));
    while (connLog.children.length > CONNECTION_LOG) connLog.lastChild.remove();
  }

  // The reconnect plan of the last ConnectionUpdate: "reconnecting in 2.0 s", counting down.
  function showConnection(c, s) {
    clearInterval(countdown);
    countdown = null;
    if (c.state === "close") {
      const why = s?.lastError?.message || c.reason || "connection closed";
      if (c.willReconnect) {
        const until = Date.now() + (c.retryIn || 0) * 1000;
        const tick = () => {
          const left = Math.max(0, (until - Date.now()) / 1000);
          reconnect.textContent = left > 0 ? `Reconnecting in ${seconds(left)} s…` : "Reconnecting…";
          if (left <= 0) clearInterval(countdown);
        };
        tick();
        if (c.retryIn) countdown = setInterval(tick, 250);
        logLine(`closed (${c.code ?? "?"}: ${why}); reconnecting${c.retryIn ? ` in ${seconds(c.retryIn)} s` : " now"}`);
      } else {
        reconnect.textContent = "Not reconnecting.";
        logLine(`closed (${c.code ?? "?"}: ${why}); not reconnecting`);
      }
    } else if (c.state === "connecting") {
      reconnect.textContent = "Connecting…";
      logLine("connecting");
    } else if (c.state === "open") {
      reconnect.textContent = "";
      logLine("open");
    }
  }

  function showSession(s, qr) {
    title.textContent = s.name;
    badge.replaceChildren(statusBadge(s.status));
    errorBox.textContent = s.lastError ? `Last error: ${s.lastError.message} (${when(s.lastError.at)})` : "";
    if (s.status === "open" || s.status === "qr") reconnect.textContent = "";
    pairBox.hidden = s.status === "open" || Boolean(s.phone);
    if (s.status === "open" || (s.phone && s.status !== "qr")) {
      linkBox.replaceChildren(h("p", {}, "Linked to ", h("strong", { "data-testid": "linked-number" }, `+${s.phone}`)));
    } else if (qr) {
      linkBox.replaceChildren(
        h("img", { src: qr, alt: "QR code: scan it in WhatsApp › Linked devices", "data-testid": "qr" }),
        h("p", { class: "muted" }, "Scan with WhatsApp › Settings › Linked devices. It refreshes by itself."),
      );
    } else if (s.status !== "qr") {
      linkBox.replaceChildren(
        h("button", { type: "button", onclick: () => link(true) }, "Show a QR code"),
      );
    }
  }

  // Link by number: WhatsApp › Linked devices › Link with phone number, then type the code.
  const pairForm = h(
    "form",
    { class: "grid", "aria-label": "Link with a phone number" },
    h("div", {}, h("label", { for: "p-phone" }, "Phone number (international)"), h("input", { id: "p-phone", name: "phone", required: true, inputmode: "tel", autocomplete: "tel", placeholder: "+15551234567" })),
    h("div", {}, h("button", { type: "submit", class: "secondary" }, "Get pairing code")),
  );
  const pairOut = h("div", { "aria-live": "polite" });
  const pairErr = h("p", { class: "error", role: "alert" });
  pairForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    pairErr.textContent = "";
    pairOut.replaceChildren();
    try {
      const r = await api(`/api/sessions/${id}/pairing-code`, { method: "POST", body: { phone: pairForm.phone.value } });
      const code = r.code || "";
      pairOut.replaceChildren(
        h("p", {}, "On the phone: WhatsApp › Linked devices › Link with phone number, then type:"),
        h("output", { class: "paircode", "data-testid": "pairing-code", "data-code": code, "aria-label": `Pairing code ${code.split("").join(" ")}` }, code.length === 8 ? `${code.slice(0, 4)}-${code.slice(4)}` : code),
      );
    } catch (err) {
      pairErr.textContent = err.message;
    }
  });
  pairBox.append(h("h3", {}, "Or link with a phone number"), pairForm, pairOut, pairErr);

  async function link(refresh = false) {
    const q = await api(`/api/sessions/${id}/qr${refresh ? "?refresh=1" : ""}`, { method: "POST" });
    const s = await api(`/api/sessions/${id}`);
    showSession(s, q.qr);
  }

  async function loadMessages() {
    const messages = await api(`/api/sessions/${id}/messages?limit=50`);
    list.replaceChildren(
      ...messages.map((m) => {
        const [tick, label] = TICKS[m.status] || ["", m.status];
        const body = m.text || m.caption || (m.thumbnail ? "" : `[${m.type}${m.fileName ? `: ${m.fileName}` : ""}]`);
        return h(
          "li",
          { class: `msg ${m.direction === "outgoing" || m.direction === "out" ? "out" : "in"}`, "data-message": m.id },
          m.thumbnail ? h("img", { class: "thumb", src: m.thumbnail, alt: `${m.type} preview${m.caption ? `: ${m.caption}` : ""}`, "data-testid": "thumbnail", loading: "lazy" }) : "",
          body ? h("div", {}, body) : "",
          m.held ? h("div", { class: "muted" }, "held until the sender is approved (Pairing requests)") : "",
          h(
            "div",
            { class: "meta" },
            `${m.direction === "incoming" || m.direction === "in" ? m.sender || m.chat : m.to} · ${when(m.createdAt)} `,
            tick ? h("span", { class: `tick-${m.status}`, "aria-label": label, title: label, "data-status": m.status }, tick) : "",
            m.direction === "in"
              ? h("button", { type: "button", class: "link", onclick: () => replyTo(m) }, "Reply")
              : "",
          ),
        );
      }),
    );
  }

  const compose = h(
    "form",
    { class: "grid", "aria-label": "Compose a message" },
    h("div", {}, h("label", { for: "c-to" }, "To (number)"), h("input", { id: "c-to", name: "to", required: true, inputmode: "tel", placeholder: "15551234567" })),
    h("div", {}, h("label", { for: "c-text" }, "Message"), h("textarea", { id: "c-text", name: "text", required: true, rows: 2, "aria-describedby": "c-text-hint" }), h("span", { id: "c-text-hint", class: "muted small" }, "With an attachment, this is its caption (optional).")),
    h("div", {}, h("label", { for: "c-file" }, "Attachment (optional)"), h("input", { id: "c-file", name: "file", type: "file", accept: "image/*,video/*,audio/*,application/pdf,text/plain" })),
    h("div", {}, h("button", { type: "submit" }, "Send")),
  );
  compose.file.addEventListener("change", () => {
    compose.text.required = !compose.file.files.length;
  });
  const composeErr = h("p", { class: "error", role: "alert" });
  const replyNote = h("p", { class: "muted", "aria-live": "polite" });
  let replyToId = null;
  function replyTo(m) {
    replyToId = m.id;
    compose.to.value = (m.sender || m.chat).split("@")[0].split(":")[0];
    replyNote.textContent = `Replying to: ${(m.text || "").slice(0, 60)}`;
    compose.text.focus();
  }
  compose.addEventListener("submit", async (e) => {
    e.preventDefault();
    composeErr.textContent = "";
    const file = compose.file.files[0];
    const body = { to: compose.to.value, replyToId: replyToId ?? undefined };
    try {
      if (file) {
        if (file.size > MAX_UPLOAD) throw new Error(`The attachment is larger than ${MAX_UPLOAD / 1024 / 1024} MiB`);
        body.mediaData = await base64Of(file);
        body.fileName = file.name;
        if (compose.text.value.trim()) body.caption = compose.text.value;
      } else {
        body.text = compose.text.value;
      }
      await api(`/api/sessions/${id}/send?internal=1`, { method: "POST", body });
      compose.text.value = "";
      compose.file.value = "";
      compose.text.required = true;
      replyToId = null;
      replyNote.textContent = "";
      await loadMessages();
    } catch (err) {
      composeErr.textContent = err.message;
    }
  });

  main.replaceChildren(
    h("p", {}, h("a", { href: "#/sessions" }, "‹ All sessions")),
    h("div", { class: "top-line" }, title, badge),
    h(
      "div",
      { class: "split" },
      h(
        "section",
        { class: "card", "aria-labelledby": "link-h" },
        h("h2", { id: "link-h" }, "Linking"),
        linkBox,
        pairBox,
        h("h3", {}, "Connection"),
        reconnect,
        errorBox,
        connLog,
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "msg-h" },
        h("h2", { id: "msg-h" }, "Messages"),
        list,
        h("h2", {}, "Compose"),
        replyNote,
        compose,
        composeErr,
      ),
    ),
  );

  listeners.add((type, data) => {
    if (type === "ready") {
      api(`/api/sessions/${id}`).then((s) => showSession(s, null)).then(loadMessages);
      return;
    }
    if (data.sessionId !== id) return;
    if (type === "session" && data.session) showSession(data.session, data.qr);
    if (type === "session" && data.connection) showConnection(data.connection, data.session);
    if (type === "session" && data.deleted) location.hash = "#/sessions";
    if (type === "messages") loadMessages();
  });

  const s = await api(`/api/sessions/${id}`);
  showSession(s, null);
  if (s.status !== "open" && !started) {
    started = true;
    await link(false);
  }
  await loadMessages();
}

async function keysPage() {
  const tbody = h("tbody");
  const shown = h("div", { "aria-live": "polite" });
  async function load() {
    const keys = await api("/api/api-keys");
    tbody.replaceChildren(
      ...keys.map((k) =>
        h(
          "tr",
          { "data-key": k.id },
          h("td", {}, k.label || "—"),
          h("td", {}, h("code", {}, k.hint)),
          h("td", { class: "hide-sm" }, when(k.createdAt)),
          h("td", { class: "hide-sm" }, when(k.lastUsedAt)),
          h("td", {}, k.revokedAt ? statusBadge("revoked") : statusBadge("active")),
          h(
            "td",
            {},
            k.revokedAt
              ? ""
              : h(
                  "button",
                  {
                    type: "button",
                    class: "danger",
                    "aria-label": `Revoke key ${k.label || k.id}`,
                    onclick: async () => {
                      if (!confirm(`Revoke key "${k.label || k.id}"? Requests with it fail at once.`)) return;
                      await api(`/api/api-keys?id=${encodeURIComponent(k.id)}`, { method: "DELETE" });
                      load();
                    },
                  },
                  "Revoke",
                ),
          ),
        ),
      ),
    );
  }
  const form = h(
    "form",
    { class: "grid", "aria-label": "Mint an API key" },
    h("div", {}, h("label", { for: "k-label" }, "Label"), h("input", { id: "k-label", name: "label", required: true, maxlength: 100 })),
    h("div", {}, h("button", { type: "submit" }, "Mint key")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const created = await api("/api/api-keys", { method: "POST", body: { label: form.label.value } });
    form.reset();
    const input = h("input", { id: "new-key", readonly: true, value: created.key, "aria-label": "New API key" });
    const status = h("span", { role: "status" });
    shown.replaceChildren(
      h("p", {}, h("strong", {}, "Copy this key now: it is not shown again.")),
      h(
        "div",
        { class: "keybox" },
        input,
        h(
          "button",
          {
            type: "button",
            onclick: async () => {
              input.select();
              try {
                await navigator.clipboard.writeText(created.key);
                status.textContent = "Copied";
              } catch {
                status.textContent = "Press Ctrl+C to copy";
              }
            },
          },
          "Copy",
        ),
        status,
      ),
    );
    await load();
  });
  main.replaceChildren(
    h("h1", {}, "API keys"),
    h("section", { class: "card", "aria-labelledby": "new-k" }, h("h2", { id: "new-k" }, "New key"), form, shown),
    h(
      "section",
      { class: "card", "aria-labelledby": "all-k" },
      h("h2", { id: "all-k" }, "Keys"),
      h("table", {}, h("thead", {}, h("tr", {}, ...["Label", "Key", "Created", "Last used", "State", ""].map((t, i) => h("th", { scope: "col", class: i === 2 || i === 3 ? "hide-sm" : null }, t)))), tbody),
    ),
  );
  await load();
}

async function webhooksPage() {
  const body = h("div");
  async function load() {
    const sessions = (await api("/api/sessions")).filter((s) => s.webhookUrl);
    if (!sessions.length) {
      body.replaceChildren(h("p", { class: "muted" }, "No session has a webhook URL."));
      return;
    }
    const sections = [];
    for (const s of sessions) {
      const rows = await api(`/api/sessions/${s.id}/webhooks/deliveries?limit=50`);
      sections.push(
        h(
          "section",
          { class: "card", "aria-label": `Deliveries of ${s.name}` },
          h("h2", {}, s.name, " ", h("span", { class: "muted" }, s.webhookUrl)),
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, ...["Event", "Status", "Attempts", "Last response", "Next retry", ""].map((t) => h("th", { scope: "col" }, t)))),
            h(
              "tbody",
              {},
              ...rows.map((d) =>
                h(
                  "tr",
                  { "data-delivery": d.id },
                  h("td", {}, d.event, d.replay ? h("span", { class: "muted" }, " (replay)") : ""),
                  h("td", {}, statusBadge(d.status)),
                  h("td", {}, d.attempts),
                  h("td", {}, d.lastStatus ?? d.lastError ?? "—"),
                  h("td", {}, when(d.nextAttemptAt)),
                  h(
                    "td",
                    {},
                    h(
                      "button",
                      {
                        type: "button",
                        class: "secondary",
                        "aria-label": `Replay ${d.event} ${d.id}`,
                        onclick: async () => {
                          await api(`/api/sessions/${s.id}/webhooks/deliveries/${d.id}/replay`, { method: "POST" });
                          load();
                        },
                      },
                      "Replay",
                    ),
                  ),
                ),
              ),
            ),
          ),
        ),
      );
    }
    body.replaceChildren(...sections);
  }
  main.replaceChildren(h("h1", {}, "Webhook deliveries"), body);
  // Each attempt and replay is pushed (``webhooks``); sessions may come and go.
  const reload = coalesced(load);
  listeners.add((type) => {
    if (["webhooks", "session", "ready"].includes(type)) reload();
  });
  await load();
}

async function pairingPage() {
  const body = h("div");
  const note = h("p", { role: "status", "aria-live": "polite" });
  async function load() {
    const sessions = (await api("/api/sessions")).filter((s) => s.dmPolicy === "pairing");
    if (!sessions.length) {
      body.replaceChildren(h("p", { class: "muted" }, "No session uses the pairing DM policy."));
      return;
    }
    const sections = [];
    for (const s of sessions) {
      const rows = await api(`/api/sessions/${s.id}/pairing`);
      sections.push(
        h(
          "section",
          { class: "card", "aria-label": `Pairing requests of ${s.name}` },
          h("h2", {}, s.name, " ", h("span", { class: "muted" }, s.phone ? `+${s.phone}` : "not linked")),
          rows.length
            ? h(
                "table",
                {},
                h("thead", {}, h("tr", {}, ...["From", "Code", "Held messages", "Expires", ""].map((t) => h("th", { scope: "col" }, t)))),
                h(
                  "tbody",
                  {},
                  ...rows.map((r) =>
                    h(
                      "tr",
                      { "data-pairing": r.code },
                      h("td", {}, `+${r.sender.split("@")[0]}`),
                      h("td", {}, h("code", {}, r.code)),
                      h("td", {}, r.heldMessages),
                      h("td", {}, when(r.expiresAt)),
                      h(
                        "td",
                        {},
                        h(
                          "button",
                          {
                            type: "button",
                            "aria-label": `Approve +${r.sender.split("@")[0]}`,
                            onclick: async () => {
                              const ok = await api(`/api/sessions/${s.id}/pairing/${encodeURIComponent(r.code)}/approve`, { method: "POST" });
                              note.textContent = `Approved +${ok.sender.split("@")[0]}: ${ok.releasedMessages} held message(s) delivered.`;
                              await load();
                            },
                          },
                          "Approve",
                        ),
                      ),
                    ),
                  ),
                ),
              )
            : h("p", { class: "muted" }, "No pending requests."),
        ),
      );
    }
    body.replaceChildren(...sections);
  }
  main.replaceChildren(
    h("h1", {}, "Pairing requests"),
    h("p", { class: "muted" }, "Under the pairing DM policy, a stranger's first message gets a code and waits here until you approve it."),
    note,
    body,
  );
  // A stranger's message (held) arrives as a ``messages`` event of its session.
  const reload = coalesced(load);
  listeners.add((type) => {
    if (["messages", "session", "ready"].includes(type)) reload();
  });
  await load();
}

// -- router -----------------------------------------------------------------------------------
async function route() {
  listeners.clear();
  const hash = location.hash || "#/sessions";
  for (const a of document.querySelectorAll(".top nav a")) {
    a.toggleAttribute("aria-current", hash.startsWith(a.getAttribute("href")));
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
  try {
    const m = hash.match(/^#\/session\/([\w-]+)/);
    if (m) await sessionPage(m[1]);
    else if (hash.startsWith("#/keys")) await keysPage();
    else if (hash.startsWith("#/webhooks")) await webhooksPage();
    else if (hash.startsWith("#/pairing")) await pairingPage();
    else await sessionsPage();
    // Move focus to the new page, unless the user already went into it while it loaded.
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      main.replaceChildren(h("p", { class: "error", role: "alert" }, `Error: ${err.message}`));
    }
  }
}

async function start() {
  try {
    await api("/api/admin/me");
  } catch {
    return; // showLogin() ran
  }
  logoutBtn.hidden = false;
  connectEvents();
  await route();
}

window.addEventListener("hashchange", route);
start();
