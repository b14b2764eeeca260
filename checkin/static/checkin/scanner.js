// Scanner page for hosts (DESIGN.md §7). Camera scanning with the vendored jsQR, manual code
// entry, an offline queue (localStorage) uploaded through /api/v1/checkin/sync, walk-ins.
// Every scan gets a nonce when it is made, so sending it again (retry, sync) is always safe.
// A peer mediator can switch what a scan does: check in, or find the client's leads at this
// market to add a note to one (DESIGN.md §2); that mode needs the network and queues nothing.

const config = JSON.parse(document.getElementById("scanner-config").textContent);
const S = config.strings;
const MARKET = config.market;
const QUEUE_KEY = `vm.scanner.queue.${MARKET}`;
const LOG_KEY = `vm.scanner.log.${MARKET}`;
const SESSION_KEY = `vm.scanner.session.${MARKET}`;
const MODE_KEY = `vm.scanner.mode.${MARKET}`;
const DEBOUNCE_MS = 4000;
const SYNC_EVERY_MS = 15000;
const COUNT_EVERY_MS = 30000;
const SYNC_BATCH = 50;
const LOG_MAX = 20;

const $ = (id) => document.getElementById(id);
const els = {
  result: $("result"), icon: $("result-icon"), title: $("result-title"), name: $("result-name"),
  message: $("result-message"), net: $("net-status"), countMarket: $("count-market"),
  countInvited: $("count-invited"), countSession: $("count-session"), video: $("camera-video"),
  canvas: $("camera-canvas"), hint: $("camera-hint"), toggle: $("camera-toggle"), codeForm: $("code-form"),
  codeInput: $("code-input"), codeSubmit: $("code-submit"), log: $("scan-log"), queueSummary: $("queue-summary"),
};

// ---------------------------------------------------------------------------------------------
// small helpers
// ---------------------------------------------------------------------------------------------

function fmt(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_m, key) => String(values[key] ?? ""));
}

function newNonce() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function load(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key));
    return value ?? fallback;
  } catch (_e) {
    return fallback;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch (_e) { /* storage full or blocked: the scan still shows on screen */ }
}

class NetworkError extends Error {}

async function api(method, url, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Accept": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (_e) {
    throw new NetworkError("network");
  }
  if (response.status === 401) {
    showResult("error", S.error, "", S.logged_out);
    window.location.assign(config.urls.login);
    throw new Error("logged out");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (_e) {
    if (response.status >= 500 || response.status === 0) throw new NetworkError("server");
  }
  if (response.status >= 502) throw new NetworkError("server");  // proxy/server down: keep queued
  return {status: response.status, data, retryAfter: response.headers.get("Retry-After")};
}

// ---------------------------------------------------------------------------------------------
// result display, sound, vibration
// ---------------------------------------------------------------------------------------------

const ICONS = {ok: "✓", warn: "!", error: "✕", wait: "…", info: "i", idle: ""};
let audio = null;

function beep(kind) {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const tones = kind === "ok" ? [[880, 0, 0.12]] : kind === "wait" ? [[520, 0, 0.1]]
      : [[300, 0, 0.15], [300, 0.22, 0.15]];
    for (const [freq, start, length] of tones) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + start);
      osc.stop(audio.currentTime + start + length);
    }
  } catch (_e) { /* no audio: colour, icon and text still say it */ }
  if (navigator.vibrate) {
    navigator.vibrate(kind === "ok" ? 80 : kind === "wait" ? [40, 60, 40] : [200, 100, 200]);
  }
}

function showResult(kind, title, name, message) {
  els.result.className = `result result-${kind}`;
  els.result.dataset.state = kind;
  els.icon.textContent = ICONS[kind] || "";
  els.title.textContent = title;
  els.name.textContent = name || "";
  els.message.textContent = message || "";
  void els.result.offsetWidth;  // restart the flash animation
  els.result.classList.add("flash");
  revealResult();
}

// On a phone the typed-code field sits below the camera: after Enter the page is scrolled down
// to it (and the keyboard is open), so the result panel would be above the screen. Bring it
// into view; the field keeps its focus for the next code.
function revealResult() {
  const box = els.result.getBoundingClientRect();
  const visible = window.visualViewport ? window.visualViewport.height : window.innerHeight;
  if (box.top >= 0 && box.bottom <= visible) return;
  const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  els.result.scrollIntoView({block: "start", behavior: smooth ? "smooth" : "auto"});
}

// A refusal that is not a scan outcome (429 after too many unknown codes, another 4xx): in red,
// in words.
function showRefusal(status, data, retryAfter) {
  if (status === 429) {
    const seconds = retryAfter || (data && data.extra && data.extra.retry_after) || 60;
    showResult("error", S.error, "", fmt(S.rate_limited, {seconds}));
  } else {
    showResult("error", S.error, "", (data && data.message) || String(status));
  }
  beep("error");
}

function kindOf(answer) {
  if (answer.status === "ok") return "ok";
  if (answer.reason === "already_checked_in" || answer.reason === "excused") return "warn";
  return "error";
}

function titleOf(answer) {
  if (answer.status === "ok") return S.ok;
  return S[answer.reason] || S.error;
}

// ---------------------------------------------------------------------------------------------
// counts and the log of recent scans
// ---------------------------------------------------------------------------------------------

let sessionCount = Number(sessionStorage.getItem(SESSION_KEY) || 0);
let marketCount = Number(config.checked_in || 0);

function renderCounts() {
  els.countSession.textContent = String(sessionCount);
  els.countMarket.textContent = String(marketCount);
}

function countOk() {
  sessionCount += 1;
  marketCount += 1;
  sessionStorage.setItem(SESSION_KEY, String(sessionCount));
  renderCounts();
}

async function refreshCount() {
  try {
    const {status, data} = await api("GET", config.urls.count);
    if (status === 200 && data) {
      marketCount = data.checked_in;
      els.countInvited.textContent = String(data.invited);
      renderCounts();
    }
  } catch (_e) { /* offline: keep the local count */ }
}

let log = load(LOG_KEY, []);

function logEntry(scan, state, label) {
  const existing = log.find((item) => item.nonce === scan.nonce);
  const entry = existing || {nonce: scan.nonce, what: describe(scan), at: scan.scanned_at};
  entry.state = state;
  entry.label = label;
  if (!existing) log.unshift(entry);
  log = log.slice(0, LOG_MAX);
  save(LOG_KEY, log);
  renderLog();
}

function describe(scan) {
  if (scan.code) return `${S.typed_code} ${scan.code.toUpperCase()}`;
  if (scan.walk_in) return S.walk_in;
  return S.scan_qr;
}

function renderLog() {
  els.log.replaceChildren(...log.map((item) => {
    const li = document.createElement("li");
    li.className = `log-${item.state}`;
    li.dataset.nonce = item.nonce;
    li.dataset.state = item.state;
    const what = document.createElement("span");
    const time = item.at ? new Date(item.at).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}) : "";
    what.textContent = `${time} ${item.what}`;
    const state = document.createElement("span");
    state.className = "log-state";
    state.textContent = item.label;
    li.append(what, state);
    return li;
  }));
  const waiting = queue.length;
  els.queueSummary.textContent = waiting ? fmt(S.queue_count, {count: waiting}) : "";
}

// ---------------------------------------------------------------------------------------------
// the offline queue
// ---------------------------------------------------------------------------------------------

let queue = load(QUEUE_KEY, []);
let syncing = false;

function enqueue(scan) {
  if (!queue.some((item) => item.nonce === scan.nonce)) queue.push(scan);
  save(QUEUE_KEY, queue);
  logEntry(scan, "wait", S.waiting);
}

function applyAnswer(scan, answer, {show}) {
  const kind = kindOf(answer);
  const name = answer.client ? answer.client.display_name : "";
  logEntry(scan, kind, name ? `${titleOf(answer)}: \u2068${name}\u2069` : titleOf(answer));  // name isolated (RTL)
  if (answer.status === "ok" && !answer.replayed) countOk();
  if (show) {
    showResult(kind, titleOf(answer), name, answer.message);
    beep(kind);
  }
}

async function syncQueue() {
  if (syncing || queue.length === 0 || navigator.onLine === false) return;
  syncing = true;
  try {
    while (queue.length) {
      const batch = queue.slice(0, SYNC_BATCH);
      const {status, data} = await api("POST", config.urls.sync, {scans: batch});
      if (status !== 200 || !data) break;
      const keep = [];
      data.results.forEach((result, i) => {
        const scan = batch[i];
        const error = result.error;
        if (error && (error.status === 429 || error.status >= 500)) {
          keep.push(scan);  // try again later
        } else if (error && error.code === "scanned_at_in_future") {
          delete scan.scanned_at;  // the device clock is off: the server's time is used
          keep.push(scan);
        } else if (error) {
          logEntry(scan, "error", `${S.error}: ${error.message}`);
        } else {
          applyAnswer(scan, result, {show: false});
        }
      });
      const sent = new Set(batch.map((scan) => scan.nonce));
      queue = [...keep, ...queue.filter((scan) => !sent.has(scan.nonce))];
      save(QUEUE_KEY, queue);
      renderLog();
      if (keep.length === batch.length) break;  // nothing moved; wait for the next round
    }
  } catch (_e) {
    /* still offline: the queue stays */
  } finally {
    syncing = false;
    renderLog();
  }
}

function setOnline(online) {
  els.net.textContent = online ? S.online : S.offline;
  els.net.className = `net-status ${online ? "net-online" : "net-offline"}`;
  if (online) {
    syncQueue().then(refreshCount);
  }
}

// ---------------------------------------------------------------------------------------------
// redeem one scan
// ---------------------------------------------------------------------------------------------

async function redeem(fields) {
  const scan = {market: MARKET, nonce: newNonce(), scanned_at: new Date().toISOString(), ...fields};
  if (navigator.onLine === false) {
    enqueue(scan);
    showResult("wait", S.waiting, "", S.waiting_long);
    beep("wait");
    return;
  }
  showResult("wait", S.sending, "", "");
  try {
    const {status, data, retryAfter} = await api("POST", config.urls.redeem, scan);
    if (status === 200) {
      applyAnswer(scan, data, {show: true});
      syncQueue();
    } else if (status === 422 && data && data.code === "scanned_at_in_future") {
      delete scan.scanned_at;
      enqueue(scan);
      syncQueue();
    } else {
      showRefusal(status, data, retryAfter);
      if (status !== 429) logEntry(scan, "error", S.error);
    }
  } catch (err) {
    if (err instanceof NetworkError) {
      enqueue(scan);
      showResult("wait", S.waiting, "", S.waiting_long);
      beep("wait");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the camera
// ---------------------------------------------------------------------------------------------

let stream = null;
let timer = null;
let lastText = "";
let lastAt = 0;

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    els.hint.textContent = S.camera_denied;
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false});
  } catch (_e) {
    els.hint.textContent = S.camera_denied;
    return;
  }
  els.video.srcObject = stream;
  try {
    await els.video.play();
  } catch (_e) { /* autoplay of a muted stream is allowed; ignore odd browsers */ }
  els.hint.textContent = S.camera_on;
  els.toggle.textContent = S.camera_stop;
  els.toggle.setAttribute("aria-pressed", "true");
  timer = setInterval(scanFrame, 150);
}

function stopCamera() {
  clearInterval(timer);
  timer = null;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  els.video.srcObject = null;
  els.hint.textContent = S.camera_off;
  els.toggle.textContent = S.camera_start;
  els.toggle.setAttribute("aria-pressed", "false");
}

function scanFrame() {
  const video = els.video;
  if (!window.jsQR || video.readyState < 2 || !video.videoWidth) return;
  const scale = Math.min(1, 640 / video.videoWidth);
  const width = Math.round(video.videoWidth * scale);
  const height = Math.round(video.videoHeight * scale);
  const canvas = els.canvas;
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  ctx.drawImage(video, 0, 0, width, height);
  const frame = ctx.getImageData(0, 0, width, height);
  const found = window.jsQR(frame.data, width, height, {inversionAttempts: "dontInvert"});
  if (!found || !found.data) return;
  const now = Date.now();
  if (found.data === lastText && now - lastAt < DEBOUNCE_MS) {
    lastAt = now;  // the same letter is still in view: wait until it was away for a few seconds
    return;
  }
  lastText = found.data;
  lastAt = now;
  scanned({token: found.data});
}

// ---------------------------------------------------------------------------------------------
// manual code entry
// ---------------------------------------------------------------------------------------------

function normaliseCode(raw) {
  return raw.toUpperCase().replace(/[\s\-_.]/g, "");
}

els.codeInput.addEventListener("input", () => {
  const clean = normaliseCode(els.codeInput.value).slice(0, 8);
  const shown = clean.length > 4 ? `${clean.slice(0, 4)}-${clean.slice(4)}` : clean;
  if (shown !== els.codeInput.value) els.codeInput.value = shown;
});

els.codeForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const code = normaliseCode(els.codeInput.value);
  if (code.length !== 8) {
    showResult("error", S.error, "", S.code_invalid);
    els.codeInput.focus();
    return;
  }
  els.codeInput.value = "";
  scanned({code: `${code.slice(0, 4)}-${code.slice(4)}`});
  els.codeInput.focus();
});

els.toggle.addEventListener("click", () => (stream ? stopCamera() : startCamera()));

// ---------------------------------------------------------------------------------------------
// walk-ins (online only)
// ---------------------------------------------------------------------------------------------

const walkIn = {
  searchForm: $("walkin-search-form"), q: $("walkin-q"), results: $("walkin-results"),
  newForm: $("walkin-new-form"),
};

async function registerWalkIn(body) {
  if (navigator.onLine === false) {
    showResult("error", S.error, "", S.walk_in_offline);
    return;
  }
  const scan = {nonce: newNonce(), scanned_at: new Date().toISOString(), walk_in: true};
  try {
    const {status, data} = await api("POST", config.urls.walk_ins, {nonce: scan.nonce, ...body});
    if (status === 200) {
      applyAnswer(scan, data, {show: true});
      walkIn.results.replaceChildren();
      walkIn.newForm.reset();
    } else {
      showRefusal(status, data);
    }
  } catch (err) {
    if (err instanceof NetworkError) showResult("error", S.error, "", S.walk_in_offline);
  }
}

if (walkIn.searchForm) {
  walkIn.searchForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = walkIn.q.value.trim();
    if (q.length < 2) return;
    try {
      const {status, data} = await api("GET", `${config.urls.clients}?q=${encodeURIComponent(q)}`);
      if (status !== 200) return;
      if (!data.length) {
        const li = document.createElement("li");
        li.textContent = S.no_results;
        walkIn.results.replaceChildren(li);
        return;
      }
      // Hosts see no client number: namesakes look the same, so say so instead of letting the
      // host pick one at random (the other would become a no-show).
      const seen = {};
      data.forEach((hit) => { seen[hit.display_name] = (seen[hit.display_name] || 0) + 1; });
      walkIn.results.replaceChildren(...data.map((hit) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-secondary";
        const state = hit.invitation_state === "checked_in" ? S.checked_in
          : hit.invitation_state ? S.invited : "";
        const number = hit.client_number ? ` (${hit.client_number})` : "";
        button.textContent = `${hit.display_name}${number}${state ? ` – ${state}` : ""} · ${S.register}`;
        button.addEventListener("click", () => registerWalkIn({client: hit.id}));
        li.append(button);
        if (seen[hit.display_name] > 1 && !hit.client_number) {
          const warning = document.createElement("p");
          warning.className = "walkin-namesake";
          warning.textContent = S.namesake;
          li.append(warning);
        }
        return li;
      }));
    } catch (_e) {
      showResult("error", S.error, "", S.walk_in_offline);
    }
  });
  walkIn.newForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(walkIn.newForm);
    const given = String(form.get("given_name") || "").trim();
    const family = String(form.get("family_name") || "").trim();
    if (!given || !family) {
      (given ? $("walkin-family") : $("walkin-given")).focus();
      return;
    }
    const body = {given_name: given, family_name: family, language: form.get("language") || "nl"};
    const number = String(form.get("client_number") || "").trim();
    if (number) body.client_number = number;
    registerWalkIn(body);
  });
}

// ---------------------------------------------------------------------------------------------
// peer mediators: a scan finds the client's open leads here, and a note goes to one of them
// ---------------------------------------------------------------------------------------------

const notes = {
  modes: document.querySelectorAll('input[name="scan-mode"]'), box: $("notes"), form: $("note-form"),
  choices: $("note-lead-choices"), text: $("note-text"), submit: $("note-submit"),
  status: $("note-status"),
};
const registerLabel = els.codeSubmit.textContent;
let mode = "checkin";

function setMode(value) {
  mode = config.can_note && value === "note" ? "note" : "checkin";
  sessionStorage.setItem(MODE_KEY, mode);
  notes.modes.forEach((radio) => { radio.checked = radio.value === mode; });
  els.codeSubmit.textContent = mode === "note" ? S.look_up : registerLabel;
  if (notes.box && mode !== "note") notes.box.hidden = true;
  lastText = "";  // the letter still in front of the camera is read again, in the new mode
}

function scanned(fields) {
  return mode === "note" ? lookUp(fields) : redeem(fields);
}

function noteStatus(text, isError) {
  notes.status.textContent = text;
  notes.status.classList.toggle("note-error", Boolean(isError));
}

function leadLabel(lead) {
  const titles = lead.activities.map((activity) => activity.title).join(", ");
  const organisation = lead.organisation || S.no_organisation;
  return titles ? `${organisation}: ${titles}` : organisation;
}

function showLeads(leads) {
  notes.choices.replaceChildren(...leads.map((lead, i) => {
    const label = document.createElement("label");
    label.className = "choice";
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "note-lead";
    radio.value = String(lead.id);
    radio.checked = leads.length === 1 || i === 0;
    const text = document.createElement("span");
    text.textContent = leadLabel(lead);
    label.append(radio, text);
    return label;
  }));
  // A note typed for the previous client must never land on this one's lead.
  notes.text.value = "";
  notes.box.hidden = leads.length === 0;
  noteStatus("", false);
}

async function lookUp(fields) {
  notes.box.hidden = true;
  if (navigator.onLine === false) {
    showResult("error", S.error, "", S.note_offline);
    beep("error");
    return;
  }
  showResult("wait", S.sending, "", "");
  try {
    const {status, data, retryAfter} = await api("POST", config.urls.note_lookup, fields);
    if (status === 200 && data.status === "ok") {
      showResult("info", S.note, data.client.display_name, data.message);
      showLeads(data.leads);
    } else if (status === 200) {
      showResult("error", titleOf(data), "", data.message);
      beep("error");
    } else {
      showRefusal(status, data, retryAfter);
    }
  } catch (err) {
    if (err instanceof NetworkError) showResult("error", S.error, "", S.note_offline);
  }
}

if (notes.form) {
  notes.modes.forEach((radio) => radio.addEventListener("change", () => setMode(radio.value)));
  notes.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = notes.form.querySelector('input[name="note-lead"]:checked');
    const text = notes.text.value.trim();
    if (!chosen) {
      noteStatus(S.note_pick, true);
      return;
    }
    if (!text) {
      noteStatus(S.note_empty, true);
      notes.text.focus();
      return;
    }
    notes.submit.disabled = true;  // one tap, one note
    try {
      const {status, data} = await api("POST", config.urls.notes.replace("{lead}", chosen.value), {text});
      if (status === 201) {
        notes.text.value = "";
        noteStatus(S.note_saved, false);
      } else {
        noteStatus((data && data.message) || String(status), true);
      }
    } catch (err) {
      noteStatus(S.note_offline, true);
    } finally {
      notes.submit.disabled = false;
    }
  });
  setMode(sessionStorage.getItem(MODE_KEY) || "checkin");
}

// ---------------------------------------------------------------------------------------------
// start
// ---------------------------------------------------------------------------------------------

window.addEventListener("online", () => setOnline(true));
window.addEventListener("offline", () => setOnline(false));
setInterval(() => syncQueue(), SYNC_EVERY_MS);
setInterval(() => refreshCount(), COUNT_EVERY_MS);
renderCounts();
renderLog();
setOnline(navigator.onLine !== false);
startCamera();
document.documentElement.dataset.scannerReady = "1";
