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
  for (const type of ["session", "messages"]) {
    source.addEventListener(type, (e) => emit(type, JSON.parse(e.data)));
  }
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

const TICKS = {
  queued: ["○", "queued"],
  sent: ["✓", "sent"],
  delivered: ["✓✓", "delivered"],
  read: ["✓✓", "read"],
  played: ["✓✓", "played"],
  failed: ["✗", "failed"],
  received: ["", "received"],
};

async function sessionPage(id) {
  const title = h("h1", {}, "Session");
  const badge = h("span");
  const linkBox = h("div", { class: "qr", "aria-live": "polite" });
  const errorBox = h("p", { class: "error", role: "alert" });
  const list = h("ul", { class: "messages", "aria-label": "Recent messages", "aria-live": "polite" });
  let started = false;

  function showSession(s, qr) {
    title.textContent = s.name;
    badge.replaceChildren(statusBadge(s.status));
    errorBox.textContent = s.lastError && s.status !== "open" ? `Last error: ${s.lastError.message}` : "";
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
        return h(
          "li",
          { class: `msg ${m.direction === "outgoing" || m.direction === "out" ? "out" : "in"}`, "data-message": m.id },
          h("div", {}, m.text || m.caption || `[${m.type}]`),
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
    h("div", {}, h("label", { for: "c-text" }, "Message"), h("textarea", { id: "c-text", name: "text", required: true, rows: 2 })),
    h("div", {}, h("button", { type: "submit" }, "Send")),
  );
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
    try {
      await api(`/api/sessions/${id}/send?internal=1`, { method: "POST", body: { to: compose.to.value, text: compose.text.value, replyToId: replyToId ?? undefined } });
      compose.text.value = "";
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
      h("section", { class: "card", "aria-labelledby": "link-h" }, h("h2", { id: "link-h" }, "Linking"), linkBox, errorBox),
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
  listeners.add((type) => {
    if (type === "messages" || type === "ready") load();
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
    else await sessionsPage();
    main.focus({ preventScroll: true });
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
