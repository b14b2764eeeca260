// The kiosk page of an organisation's tablet (DESIGN.md §8).
//
// - Not paired: enter the pairing code; the device token is kept in localStorage.
// - Paired: the stand's activities (with capacity use), scan a visitor (camera + vendored jsQR)
//   or type the letter's code, then register interest: activities, warmth, note.
// - A registration is queued in localStorage with its nonce before it is sent, so a short
//   network loss loses nothing: it is sent again later (the server answers a repeated nonce
//   with the first answer and writes nothing).
// - A 401 (the coordinator revoked this tablet) stops the page at once and forgets the token.
// Texts come translated from the server (json_script "kiosk-strings"), keyed by Dutch msgid.

const STORE_TOKEN = "vm.kiosk.token";
const STORE_QUEUE = "vm.kiosk.queue";
const STORE_STAND = "vm.kiosk.stand";
const POLL_MS = 20000;
const RETRY_MS = 5000;
const NOTE_MAX = 1000;

const $ = (id) => document.getElementById(id);
const app = $("kiosk-app");
const API = app.dataset.api;
const STRINGS = JSON.parse($("kiosk-strings").textContent);
const LANGUAGES = JSON.parse($("kiosk-languages").textContent);

function t(msgid, params) {
  const text = STRINGS[msgid] ?? msgid;
  return params ? text.replace(/%\((\w+)\)s/g, (_m, key) => String(params[key] ?? "")) : text;
}

const state = {
  token: localStorage.getItem(STORE_TOKEN),
  stand: readJSON(STORE_STAND, null),
  stopped: false,
  visitor: null,        // {ref: {token}|{code}, client: {display_name, language}|null}
  chosen: new Set(),
  warmth: null,
  stream: null,
  scanFrame: null,
  pollTimer: null,
  retryTimer: null,
  flushing: Promise.resolve(),
};

class Revoked extends Error {}
class Offline extends Error {}

function readJSON(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

function newNonce() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- network ---------------------------------------------------------------------------------

async function api(path, { method = "GET", body } = {}) {
  if (state.stopped) throw new Revoked();
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Device ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, {
      method, headers, credentials: "omit", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    setOnline(false);
    throw new Offline();
  }
  setOnline(true);
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.status === 401 && state.token) {
    stop();
    throw new Revoked();
  }
  return { status: response.status, data, retryAfter: response.headers.get("Retry-After") };
}

function setOnline(online) {
  const net = $("kiosk-net");
  net.textContent = online ? t("Online") : t("Offline");
  net.classList.toggle("offline", !online);
}

function errorText(result) {
  if (result.status === 429) return t("Te veel pogingen. Wacht %(s)s seconden en probeer het opnieuw.", { s: result.retryAfter || "60" });
  return (result.data && result.data.message) || t("Er ging iets mis. Probeer het opnieuw.");
}

// ---- screens ---------------------------------------------------------------------------------

const SCREENS = ["pair", "stopped", "home", "visitor", "done"];

function show(name, focusId) {
  for (const screen of SCREENS) $(`screen-${screen}`).hidden = screen !== name;
  if (name !== "home") stopCamera();
  const target = focusId ? $(focusId) : $(`screen-${name}`).querySelector("h1");
  if (target) {
    if (!target.hasAttribute("tabindex") && !/^(INPUT|BUTTON|TEXTAREA)$/.test(target.tagName)) target.tabIndex = -1;
    target.focus();
  }
}

function say(text) {
  $("kiosk-announce").textContent = text;
}

function showError(id, text) {
  const el = $(id);
  el.textContent = text || "";
  el.hidden = !text;
}

// ---- revoked: stop at once -------------------------------------------------------------------

function stop() {
  if (state.stopped) return;
  state.stopped = true;
  state.token = null;
  state.stand = null;
  localStorage.removeItem(STORE_TOKEN);
  localStorage.removeItem(STORE_STAND);
  localStorage.removeItem(STORE_QUEUE);  // registrations that can never be sent: visitor tokens must not linger
  clearInterval(state.pollTimer);
  clearInterval(state.retryTimer);
  stopCamera();
  $("kiosk-org").textContent = "";
  $("stopped-message").textContent = t("Deze tablet is afgemeld door de coördinator. U kunt hier niets meer registreren. Vraag de coördinator om een nieuwe koppelcode.");
  show("stopped");
}

$("stopped-pair").addEventListener("click", () => {
  state.stopped = false;
  show("pair", "pair-code");
});

// ---- pairing ---------------------------------------------------------------------------------

$("pair-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("pair-code").value.trim();
  if (!code) return;
  const button = $("pair-submit");
  button.disabled = true;
  showError("pair-error", "");
  say(t("Koppelen…"));
  try {
    const result = await api("kiosk/pair", { method: "POST", body: { code, label: $("pair-label").value.trim() } });
    if (result.status === 200) {
      state.token = result.data.token;
      localStorage.setItem(STORE_TOKEN, state.token);
      $("pair-code").value = "";
      await start();
    } else {
      showError("pair-error", errorText(result));
    }
  } catch (error) {
    if (error instanceof Offline) showError("pair-error", t("Geen verbinding. Probeer het zo opnieuw."));
  } finally {
    button.disabled = false;
  }
});

// ---- the stand -------------------------------------------------------------------------------

async function loadStand() {
  try {
    const result = await api("kiosk/stand");
    if (result.status === 200) {
      state.stand = result.data;
      localStorage.setItem(STORE_STAND, JSON.stringify(result.data));
    }
  } catch (error) {
    if (error instanceof Revoked) return false;
    // Offline: keep showing the stand we already know.
  }
  renderStand();
  return true;
}

function renderStand() {
  const stand = state.stand;
  if (!stand) return;
  $("kiosk-org").textContent = stand.organisation.name;
  $("home-title").textContent = stand.organisation.name;
  $("home-stand").textContent = stand.stand.location ? t("Stand: %(location)s", { location: stand.stand.location }) : stand.stand.market.name;
  const list = $("activity-list");
  list.replaceChildren();
  for (const activity of stand.activities) {
    const item = document.createElement("li");
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = activity.title;
    const use = document.createElement("span");
    use.className = "use";
    use.textContent = t("Aanmeldingen: %(leads)s · bezet: %(agreements)s van %(capacity)s plaatsen · begeleiding voor: %(guidance)s", {
      leads: activity.leads, agreements: activity.agreements, capacity: activity.capacity, guidance: activity.guidance_capacity,
    });
    item.append(title, use);
    if (activity.agreements >= activity.capacity) {
      const full = document.createElement("span");
      full.className = "full";
      full.textContent = ` · ${t("Vol")}`;
      item.append(full);
    }
    item.dataset.activity = activity.id;
    list.append(item);
  }
}

// ---- scanning --------------------------------------------------------------------------------

$("scan-start").addEventListener("click", startCamera);
$("scan-stop").addEventListener("click", stopCamera);

async function startCamera() {
  showError("home-error", "");
  $("scan-box").hidden = false;
  $("scan-status").textContent = t("Camera starten…");
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch {
    $("scan-box").hidden = true;
    showError("home-error", t("De camera werkt niet. Typ de code van de brief."));
    $("visitor-code").focus();
    return;
  }
  const video = $("scan-video");
  video.srcObject = state.stream;
  await video.play().catch(() => {});
  $("scan-status").textContent = t("Houd de QR-code van de brief voor de camera.");
  $("scan-start").hidden = true;
  scanLoop();
}

function scanLoop() {
  const video = $("scan-video");
  const canvas = $("scan-canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const tick = () => {
    if (!state.stream) return;
    if (video.readyState >= video.HAVE_ENOUGH_DATA && video.videoWidth && window.jsQR) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      const frame = context.getImageData(0, 0, canvas.width, canvas.height);
      const code = window.jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" });
      if (code && code.data) {
        stopCamera();
        lookup({ token: code.data });
        return;
      }
    }
    state.scanFrame = requestAnimationFrame(tick);
  };
  state.scanFrame = requestAnimationFrame(tick);
}

function stopCamera() {
  if (state.scanFrame) cancelAnimationFrame(state.scanFrame);
  state.scanFrame = null;
  if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  state.stream = null;
  $("scan-video").srcObject = null;
  $("scan-box").hidden = true;
  $("scan-start").hidden = false;
}

$("code-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const code = $("visitor-code").value.trim();
  if (code) lookup({ code });
});

const REASONS = {
  not_checked_in: "Deze bezoeker is nog niet binnen gemeld. Stuur de bezoeker eerst naar de ingang.",
  unknown: "Deze code of QR-code kennen we niet. Controleer de code.",
  revoked: "Deze uitnodiging is ingetrokken. Stuur de bezoeker naar de ingang.",
  wrong_market: "Deze uitnodiging is voor een andere markt.",
  activity_not_at_stand: "Een gekozen activiteit hoort niet bij deze stand. De lijst is ververst; kies opnieuw.",
};

async function lookup(ref) {
  showError("home-error", "");
  say(t("Bezoeker zoeken…"));
  try {
    const result = await api("kiosk/visitor", { method: "POST", body: ref });
    if (result.status !== 200) {
      showError("home-error", errorText(result));
      return;
    }
    if (result.data.status !== "ok") {
      showError("home-error", t(REASONS[result.data.reason] || "Er ging iets mis. Probeer het opnieuw."));
      return;
    }
    $("visitor-code").value = "";
    openVisitor(ref, result.data.client);
  } catch (error) {
    if (error instanceof Offline) {
      // No connection: register anyway; the queue sends it later and the server checks it then.
      $("visitor-code").value = "";
      openVisitor(ref, null);
    }
  }
}

// ---- the visitor -----------------------------------------------------------------------------

function openVisitor(ref, client) {
  state.visitor = { ref, client };
  state.chosen = new Set();
  state.warmth = null;
  $("visitor-name").textContent = client ? client.display_name : t("Bezoeker");
  const language = $("visitor-language");
  language.replaceChildren();
  if (client) {
    // The language's own name, marked with its lang so a screen reader pronounces it right.
    const [before, after] = t("Taal: %(language)s").split("%(language)s");
    const name = document.createElement("span");
    name.lang = client.language;
    name.textContent = LANGUAGES[client.language] || client.language;
    language.append(before || "", name, after || "");
  }
  const offline = $("visitor-offline");
  offline.textContent = client ? "" : t("Geen verbinding: naam niet bekend. De aanmelding wordt bewaard en later verstuurd.");
  offline.hidden = Boolean(client);
  const list = $("visitor-activities");
  list.replaceChildren();
  for (const activity of (state.stand ? state.stand.activities : [])) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn toggle";
    button.dataset.activity = activity.id;
    button.setAttribute("aria-pressed", "false");
    button.textContent = activity.title;
    list.append(button);
  }
  for (const button of document.querySelectorAll(".warmth")) button.setAttribute("aria-pressed", "false");
  $("visitor-note").value = "";
  showError("visitor-error", "");
  show("visitor");
}

$("visitor-activities").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-activity]");
  if (!button) return;
  const id = Number(button.dataset.activity);
  const pressed = !state.chosen.has(id);
  if (pressed) state.chosen.add(id); else state.chosen.delete(id);
  button.setAttribute("aria-pressed", String(pressed));
});

for (const button of document.querySelectorAll(".warmth")) {
  button.addEventListener("click", () => {
    state.warmth = button.dataset.warmth;
    for (const other of document.querySelectorAll(".warmth")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
  });
}

$("interest-cancel").addEventListener("click", () => {
  state.visitor = null;
  show("home");
});

$("interest-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const note = $("visitor-note").value.trim();
  if (state.chosen.size === 0) return showError("visitor-error", t("Kies minstens één activiteit."));
  if (!state.warmth) return showError("visitor-error", t("Kies koud, warm of heet."));
  if (note.length > NOTE_MAX) return showError("visitor-error", t("Een notitie is hoogstens 1000 tekens."));
  showError("visitor-error", "");
  const nonce = newNonce();
  const item = {
    nonce,
    name: state.visitor.client ? state.visitor.client.display_name : null,
    body: { ...state.visitor.ref, activities: [...state.chosen], warmth: state.warmth, note, nonce },
  };
  const queue = readJSON(STORE_QUEUE, []);
  queue.push(item);
  localStorage.setItem(STORE_QUEUE, JSON.stringify(queue));
  const submit = $("interest-submit");
  submit.disabled = true;
  say(t("Versturen…"));
  const results = await flushQueue();
  submit.disabled = false;
  if (state.stopped) return;
  showDone(results.get(nonce) || { kind: "waiting" }, item);
});

// ---- the queue -------------------------------------------------------------------------------

async function sendItem(item) {
  try {
    const result = await api("kiosk/interests", { method: "POST", body: item.body });
    if (result.status === 200) return { kind: "done", data: result.data };
    if (result.status === 429 || result.status >= 500) return { kind: "waiting" };
    return { kind: "failed", message: errorText(result) };
  } catch (error) {
    if (error instanceof Revoked) return { kind: "stopped" };
    return { kind: "waiting" };
  }
}

function flushQueue() {
  // One flush at a time: a new flush waits for the running one (nonces make resending safe anyway).
  const run = state.flushing.then(async () => {
    const results = new Map();
    let queue = readJSON(STORE_QUEUE, []);
    while (queue.length && !state.stopped) {
      const item = queue[0];
      const result = await sendItem(item);
      results.set(item.nonce, result);
      if (result.kind === "waiting" || result.kind === "stopped") break;
      queue = readJSON(STORE_QUEUE, []).filter((other) => other.nonce !== item.nonce);
      localStorage.setItem(STORE_QUEUE, JSON.stringify(queue));
      logSent(item, result);
    }
    renderQueue();
    return results;
  });
  state.flushing = run.catch(() => new Map());
  return run;
}

function logSent(item, result) {
  if (!item.background) return;
  const line = document.createElement("li");
  const name = item.name || (result.data && result.data.client && result.data.client.display_name) || t("Bezoeker");
  if (result.kind === "done" && result.data.status === "ok") {
    line.textContent = t("Verstuurd: %(name)s", { name });
  } else {
    const message = result.kind === "done" ? t(REASONS[result.data.reason] || "") : result.message;
    line.textContent = t("Niet gelukt voor %(name)s: %(message)s", { name, message });
  }
  $("queue-log").prepend(line);
}

function renderQueue() {
  const queue = readJSON(STORE_QUEUE, []);
  $("queue-box").hidden = queue.length === 0;
  $("queue-text").textContent = queue.length ? t("Wacht op verbinding: %(n)s aanmelding(en)", { n: queue.length }) : "";
}

function markBackground() {
  // Items still queued when the tablet goes on are reported in the log when they go out.
  const queue = readJSON(STORE_QUEUE, []).map((item) => ({ ...item, background: true }));
  localStorage.setItem(STORE_QUEUE, JSON.stringify(queue));
}

// ---- the answer ------------------------------------------------------------------------------

function showDone(result, item) {
  const box = $("done-box");
  box.classList.remove("alert-ok", "alert-warn", "alert-error");
  let title;
  let text;
  if (result.kind === "done" && result.data.status === "ok") {
    const data = result.data;
    const name = data.client ? data.client.display_name : (item.name || t("Bezoeker"));
    const activities = data.lead.activities.map((a) => a.title).join(", ");
    title = t("Aangemeld");
    text = data.lead.created
      ? t("%(name)s is aangemeld voor: %(activities)s.", { name, activities })
      : t("De aanmelding van %(name)s is bijgewerkt: %(activities)s.", { name, activities });
    box.classList.add("alert-ok");
  } else if (result.kind === "done") {
    title = t("Niet aangemeld");
    text = t(REASONS[result.data.reason] || "Er ging iets mis. Probeer het opnieuw.");
    box.classList.add("alert-error");
  } else if (result.kind === "failed") {
    title = t("Niet aangemeld");
    text = result.message;
    box.classList.add("alert-error");
  } else {
    title = t("Bewaard, nog niet verstuurd");
    text = t("Er is nu geen verbinding. De aanmelding is bewaard op deze tablet en wordt vanzelf verstuurd.");
    box.classList.add("alert-warn");
  }
  $("done-title").textContent = title;
  $("done-text").textContent = text;
  box.setAttribute("role", result.kind === "done" && result.data.status === "ok" ? "status" : "alert");
  show("done", "done-title");
  loadStand();
}

$("done-next").addEventListener("click", () => {
  state.visitor = null;
  markBackground();
  renderQueue();
  show("home", "scan-start");
});

// ---- start -----------------------------------------------------------------------------------

async function start() {
  if (!state.token) {
    show("pair", "pair-code");
    return;
  }
  renderStand();
  const ok = await loadStand();
  if (!ok || state.stopped) return;
  markBackground();
  renderQueue();
  show("home", "scan-start");
  clearInterval(state.pollTimer);
  clearInterval(state.retryTimer);
  // Poll the stand: fresh capacity use, and a revoked tablet stops even when nobody touches it.
  state.pollTimer = setInterval(loadStand, POLL_MS);
  state.retryTimer = setInterval(() => {
    if (readJSON(STORE_QUEUE, []).length) flushQueue();
  }, RETRY_MS);
  flushQueue();
}

window.addEventListener("online", () => { setOnline(true); flushQueue(); });
window.addEventListener("offline", () => setOnline(false));
setOnline(navigator.onLine);
start();
