// The lead workflow on the market dashboard (docs/leads.md): lead counters, a live arrivals
// timeline, arrivals search, the leads inbox (new / mine / all) with claim buttons, the lead
// detail with outcome forms and notes, and the coordinator's close + follow-up action.
//
// It plugs into dashboard.js: registerPanel() for rendering from the shared DashboardState,
// and a small wrapper around DashboardState.applyEntry for the entry kinds only this part
// shows (notes). Entries are applied idempotently by id. All texts come from the page's
// config (JSON in a data- attribute) (msgids in plain Dutch); no inline scripts.

import { DashboardState, registerPanel } from "./dashboard.js";

const root = document.querySelector("[data-market-dashboard]");
const cfgEl = document.getElementById("lead-workflow-config");
const cfg = cfgEl ? JSON.parse(cfgEl.dataset.config) : null;

const DONE = ["agreement", "exemption", "follow_up", "declined"];
const notesByLead = new Map(); // lead id → Map(note id → note)

function fmt(template, values) {
  return String(template || "").replace(/%\((\w+)\)s/g, (_, k) => (values && k in values ? String(values[k]) : ""));
}

function t(key, values) {
  return fmt((cfg && cfg.i18n[key]) || key, values);
}

// --- entries only this part needs -------------------------------------------------------------

function rememberNote(note) {
  if (!notesByLead.has(note.lead_id)) notesByLead.set(note.lead_id, new Map());
  notesByLead.get(note.lead_id).set(note.id, note);
}

const originalApply = DashboardState.prototype.applyEntry;
DashboardState.prototype.applyEntry = function applyEntry(entry) {
  const d = entry.data || {};
  if (entry.kind === "lead_note.created") rememberNote(d);
  if (entry.kind === "agreement.created" && d.lead_id) rememberAgreement(d.lead_id, d.id);
  // The open lead changed (another consultant, another tab): read its outcome again.
  const leadId = entry.kind === "lead.updated" ? d.id : entry.kind === "agreement.created" ? d.lead_id : null;
  if (leadId !== null && leadId === ui.selected) refreshDetailSoon(leadId);
  return originalApply.call(this, entry);
};

function rememberAgreement(leadId, agreementId) {
  // The newest version has the highest id; an older answer must not point the copy link back.
  if (!(ui.lastAgreement.get(leadId) > agreementId)) ui.lastAgreement.set(leadId, agreementId);
}

// --- API ------------------------------------------------------------------------------------

function csrfToken() {
  const input = document.querySelector("[data-csrf-form] input[name=csrfmiddlewaretoken]");
  if (input) return input.value;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(method, path, body) {
  let response;
  try {
    response = await fetch(`/api/v1/${path}`, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    // The browser's own text ("Failed to fetch") is English and says nothing to a consultant.
    const error = new Error(t("network_error"));
    error.status = 0;
    error.extra = {};
    throw error;
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const error = new Error((data && data.message) || t("error"));
    error.status = response.status;
    error.code = data && data.code;
    error.extra = (data && data.extra) || {};
    throw error;
  }
  return data;
}

// --- UI state -------------------------------------------------------------------------------

const ui = {
  tab: "new",
  selected: null, // lead id
  claimErrors: new Map(), // lead id → message
  inboxMessage: "", // the last lost claim, shown above the list
  lastAgreement: new Map(), // lead id → agreement id
  details: new Map(), // lead id → GET leads/{id} (outcome, agreement versions)
  detailRequests: new Map(), // lead id → number of the latest request (older answers are dropped)
  refillChange: false, // fill the change form with the newest version when it arrives
  state: null,
  rerender: () => {},
};

function announce(text) {
  const el = root.querySelector("[data-wf-announce]");
  if (el) el.textContent = text;
}

function leadsFor(state, tab) {
  const all = [...state.leads.values()];
  let list = all;
  if (tab === "new") list = all.filter((l) => l.state === "new");
  else if (tab === "mine") list = all.filter((l) => l.claimed_by === cfg.username);
  return list.sort((a, b) => (b.updated_at || "").localeCompare(a.updated_at || "") || b.id - a.id);
}

function leadTitle(lead) {
  const acts = (lead.activities || []).map((a) => a.title).join(", ");
  return [lead.display_name, lead.organisation, acts].filter(Boolean).join(" · ");
}

function stateText(lead) {
  if (lead.state === "claimed") return lead.claimed_by === cfg.username ? t("yours") : t("taken_by", { name: lead.claimed_by });
  const label = cfg.states[lead.state] || lead.state;
  return lead.claimed_by && lead.state !== "new" ? `${label} · ${lead.claimed_by}` : label;
}

// --- panels ---------------------------------------------------------------------------------

function renderLeadCounters(state) {
  const c = { new: 0, claimed: 0, done: 0 };
  for (const l of state.leads.values()) {
    if (l.state === "new") c.new += 1;
    else if (l.state === "claimed") c.claimed += 1;
    else if (DONE.includes(l.state)) c.done += 1;
  }
  for (const el of root.querySelectorAll("[data-lead-count]")) el.textContent = String(c[el.dataset.leadCount]);
}

const SVG = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function hhmm(date) {
  return date.toLocaleTimeString("nl-NL", { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Amsterdam" });
}

function renderTimeline(state) {
  const box = root.querySelector("[data-timeline]");
  if (!box) return;
  const times = [...state.arrivals.values()].map((a) => Date.parse(a.checked_in_at)).filter((x) => !Number.isNaN(x));
  const step = 15 * 60 * 1000;
  const marketStart = state.market && Date.parse(state.market.starts_at);
  const marketEnd = state.market && Date.parse(state.market.ends_at);
  let start = times.length ? Math.min(...times) : marketStart || Date.now();
  start = Math.floor(start / (60 * 60 * 1000)) * 60 * 60 * 1000; // whole hour
  let end = Math.max(times.length ? Math.max(...times) : start, Math.min(Date.now(), marketEnd || Date.now()));
  if (end - start < 2 * 60 * 60 * 1000) end = start + 2 * 60 * 60 * 1000;
  const n = Math.min(200, Math.ceil((end - start) / step) + 1);
  const counts = new Array(n).fill(0);
  for (const x of times) counts[Math.min(n - 1, Math.max(0, Math.floor((x - start) / step)))] += 1;
  const peak = Math.max(1, ...counts);
  const width = 640, height = 170, left = 34, bottom = 22, top = 8;
  const plotW = width - left - 6, plotH = height - bottom - top;
  const colW = plotW / n;
  const peakIndex = counts.indexOf(Math.max(...counts));
  const label = times.length
    ? t("arrivals_peak", { n: times.length, time: hhmm(new Date(start + peakIndex * step)) })
    : t("arrivals_summary", { n: 0 });
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart" });
  svg.appendChild(svgEl("title", {}, label));
  svg.appendChild(svgEl("line", { x1: left, y1: top + plotH, x2: width - 6, y2: top + plotH, stroke: "#4a4a4a" }));
  svg.appendChild(svgEl("text", { x: left - 6, y: top + 12, "text-anchor": "end", "font-size": 12 }, String(peak)));
  svg.appendChild(svgEl("text", { x: left - 6, y: top + plotH, "text-anchor": "end", "font-size": 12 }, "0"));
  counts.forEach((c, i) => {
    if (!c) return;
    const h = (plotH * c) / peak;
    svg.appendChild(svgEl("rect", {
      x: (left + i * colW + 1).toFixed(1), y: (top + plotH - h).toFixed(1),
      width: Math.max(colW - 2, 1).toFixed(1), height: h.toFixed(1), fill: "#00549f", "data-bucket": i, "data-count": c,
    }));
  });
  const every = Math.max(4, Math.ceil(n / 8 / 4) * 4);
  for (let i = 0; i < n; i += every) {
    svg.appendChild(svgEl("text", { x: (left + i * colW).toFixed(1), y: height - 5, "font-size": 12 }, hhmm(new Date(start + i * step))));
  }
  box.replaceChildren(svg);
  box.dataset.total = String(times.length);
}

function normalise(text) {
  return String(text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
}

function applySearch() {
  const input = root.querySelector("[data-arrivals-search-input]");
  const rows = [...root.querySelectorAll("[data-arrivals] tr")];
  const q = normalise(input ? input.value.trim() : "");
  let shown = 0;
  for (const tr of rows) {
    const hit = !q || normalise(tr.textContent).includes(q);
    tr.hidden = !hit;
    if (hit) shown += 1;
  }
  const count = root.querySelector("[data-arrivals-search-count]");
  if (count) count.textContent = q ? t("search_count", { shown, total: rows.length }) : "";
}

function renderInbox(state) {
  const list = root.querySelector("[data-leads]");
  if (!list) return;
  for (const tab of ["new", "mine", "all"]) {
    const el = root.querySelector(`[data-tab-count="${tab}"]`);
    if (el) el.textContent = `(${leadsFor(state, tab).length})`;
  }
  const leads = leadsFor(state, ui.tab);
  const fragment = document.createDocumentFragment();
  for (const lead of leads) {
    const li = document.createElement("li");
    li.dataset.lead = String(lead.id);
    li.dataset.state = lead.state;
    if (ui.selected === lead.id) li.classList.add("selected");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "lead-open";
    open.dataset.open = String(lead.id);
    open.textContent = leadTitle(lead);
    li.appendChild(open);
    const meta = document.createElement("span");
    meta.className = `lead-state state-${lead.state}`;
    meta.dataset.leadState = "";
    meta.textContent = stateText(lead);
    li.appendChild(meta);
    if (lead.warmth) {
      const w = document.createElement("span");
      w.className = "muted";
      w.textContent = t("warmth", { warmth: t(`warmth_${lead.warmth}`) });
      li.appendChild(w);
    }
    if (lead.state === "new" && cfg.can_work) {
      const claim = document.createElement("button");
      claim.type = "button";
      claim.className = "btn btn-primary btn-small";
      claim.dataset.claim = String(lead.id);
      claim.textContent = t("claim");
      claim.setAttribute("aria-label", `${t("claim")}: ${lead.display_name}`);
      li.appendChild(claim);
    }
    const err = ui.claimErrors.get(lead.id);
    if (err && lead.claimed_by !== cfg.username) {
      const p = document.createElement("p");
      p.className = "claim-error";
      p.setAttribute("role", "alert");
      p.dataset.claimError = "";
      p.textContent = err;
      li.appendChild(p);
    }
    fragment.appendChild(li);
  }
  list.replaceChildren(fragment);
  const empty = root.querySelector("[data-leads-empty]");
  if (empty) empty.hidden = leads.length > 0;
  const message = root.querySelector("[data-inbox-message]");
  if (message) {
    message.textContent = ui.inboxMessage;
    message.hidden = !ui.inboxMessage;
  }
}

function setHidden(el, hidden) {
  if (el) el.hidden = hidden;
}

function renderDetail(state) {
  const box = root.querySelector("[data-lead-detail]");
  if (!box) return;
  const lead = ui.selected !== null ? state.leads.get(ui.selected) : null;
  box.hidden = !lead;
  if (!lead) return;
  box.dataset.lead = String(lead.id);
  box.querySelector("[data-detail-title]").textContent = lead.display_name;
  const source = t(`source_${lead.source}`);
  box.querySelector("[data-detail-meta]").textContent = [
    lead.organisation, (lead.activities || []).map((a) => a.title).join(", "), t("via", { source }), lead.note,
  ].filter(Boolean).join(" · ");
  box.querySelector("[data-detail-state]").textContent = stateText(lead);
  const mine = lead.claimed_by === cfg.username;
  setHidden(box.querySelector("[data-detail-claim]"), !(lead.state === "new" && cfg.can_work));
  setHidden(box.querySelector("[data-detail-release]"), !(lead.state === "claimed" && mine));
  const form = box.querySelector("[data-outcome-form]");
  setHidden(form, !((lead.state === "claimed" || lead.state === "follow_up") && mine && cfg.can_work));
  const copy = box.querySelector("[data-detail-copy]");
  const agreementId = ui.lastAgreement.get(lead.id);
  if (agreementId) copy.href = `/api/v1/agreements/${agreementId}/client-copy.pdf`;
  setHidden(copy, !agreementId);
  renderOutcome(box, lead, ui.details.get(lead.id));
  const notes = [...(notesByLead.get(lead.id) || new Map()).values()].sort((a, b) => a.id - b.id);
  const ul = box.querySelector("[data-notes]");
  const items = notes.map((n) => {
    const li = document.createElement("li");
    li.dataset.note = String(n.id);
    const who = document.createElement("span");
    who.className = "muted";
    who.textContent = `${n.author || ""} · ${hhmm(new Date(n.created_at))}: `;
    li.append(who, document.createTextNode(n.text));
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = t("no_notes");
    items.push(li);
  }
  ul.replaceChildren(...items);
}

// --- what was recorded: outcome, agreement versions, the change form ---------------------------

function pageLang() {
  return document.documentElement.lang || "nl";
}

function dateText(iso) {
  if (!iso) return "—";
  const date = new Date(`${String(iso).slice(0, 10)}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleDateString(pageLang(), { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
}

function hoursText(hours) {
  return Number(hours).toLocaleString(pageLang());
}

function labelOf(options, value) {
  const found = options.find((o) => o.value === value);
  return found ? found.label : value || "";
}

function agreementWhat(a) {
  return a.activity ? `${a.activity} (${a.organisation})` : a.organisation;
}

function currentAgreement(detail) {
  return ((detail && detail.agreements) || []).filter((a) => a.is_current).pop() || null;
}

function outcomeSummary(lead, detail) {
  if (!detail || detail.state !== lead.state) return ""; // the newer state is being read
  if (lead.state === "agreement") {
    const a = currentAgreement(detail);
    return a ? t("summary_agreement", { what: agreementWhat(a), hours: hoursText(a.hours_per_week),
      start: dateText(a.start_date), end: dateText(a.end_date) }) : "";
  }
  if (lead.state === "exemption") {
    const e = (detail.exemptions || []).slice(-1)[0];
    return e ? t("summary_exemption", { category: labelOf(cfg.categories, e.category), date: dateText(e.review_date) }) : "";
  }
  if (lead.state === "follow_up") return t("summary_follow_up", { date: dateText(detail.follow_up_on) });
  if (lead.state === "declined") {
    return t("summary_declined", { by: labelOf(cfg.declined_by, detail.declined_by), reason: detail.declined_reason });
  }
  return "";
}

function renderOutcome(box, lead, detail) {
  const summary = outcomeSummary(lead, detail);
  const versions = [...((detail && detail.agreements) || [])].sort((a, b) => b.version - a.version);
  setHidden(box.querySelector("[data-detail-outcome]"), !summary && !versions.length);
  box.querySelector("[data-outcome-summary]").textContent = summary;
  setHidden(box.querySelector("[data-versions]"), !versions.length);
  box.querySelector("[data-versions-list]").replaceChildren(...versions.map((a) => {
    const li = document.createElement("li");
    li.dataset.version = String(a.version);
    li.dataset.current = a.is_current ? "true" : "false";
    li.textContent = t("version_line", { version: a.version, what: agreementWhat(a), hours: hoursText(a.hours_per_week),
      end: dateText(a.end_date), author: a.created_by || "" }) + (a.is_current ? ` · ${t("version_current")}` : "");
    return li;
  }));
  const change = box.querySelector("[data-agreement-change]");
  const current = lead.state === "agreement" && detail && detail.state === lead.state ? currentAgreement(detail) : null;
  setHidden(change, !(current && cfg.can_work));
  if (!current) return;
  const form = change.querySelector("[data-agreement-form]");
  // Fill in the current version, but never over what the consultant is typing: a version made
  // meanwhile by someone else is refused on saving (agreement_not_current) and then filled in.
  if (form.dataset.agreement !== String(current.id) && !change.open) prefillChange(form, current);
}

function prefillChange(form, a) {
  form.dataset.agreement = String(a.id);
  const org = cfg.organisations.find((o) => o.id === a.organisation_id);
  const acts = (org ? org.activities : []).map((x) => ({ value: x.id, label: x.title }));
  if (a.activity_id && !acts.some((x) => x.value === a.activity_id)) acts.unshift({ value: a.activity_id, label: a.activity });
  if (!a.activity_id) acts.unshift({ value: "", label: "—" });
  fillSelect(form.querySelector("[data-activity-select]"), acts, a.activity_id || "");
  form.elements.hours_per_week.value = hoursText(a.hours_per_week);
  form.elements.hours_reason.value = a.hours_reason || "";
  form.elements.start_date.value = a.start_date || "";
  form.elements.end_date.value = a.end_date || "";
  form.elements.capacity_override_reason.value = "";
  setHidden(form.querySelector("[data-hours-reason]"), !(Number(a.hours_per_week) > cfg.hours_limit));
  setHidden(form.querySelector("[data-override]"), true);
}

async function refreshDetail(leadId) {
  const number = (ui.detailRequests.get(leadId) || 0) + 1;
  ui.detailRequests.set(leadId, number);
  try {
    const detail = await api("GET", `leads/${leadId}`);
    if (ui.detailRequests.get(leadId) !== number) return; // a newer read is on its way
    ui.details.set(leadId, detail);
    const newest = currentAgreement(detail);
    if (ui.refillChange && leadId === ui.selected && newest) {
      ui.refillChange = false;
      prefillChange(root.querySelector("[data-agreement-form]"), newest);
    }
    for (const note of detail.notes || []) rememberNote(note);
    if (newest) rememberAgreement(leadId, newest.id);
    ui.rerender();
  } catch (err) {
    /* the list keeps working without the details */
  }
}

let refreshTimer = null;
function refreshDetailSoon(leadId) {
  // One read for a burst of entries (an agreement writes lead.updated and agreement.created).
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refreshDetail(leadId), 50);
}

let messagesHome = null;

// The message goes where the consultant is looking: above the button that was used (`near`),
// or at the top of the detail.
function showDetailMessage(kind, text, near) {
  const messages = root.querySelector("[data-detail-messages]");
  if (messages && !messagesHome) {
    messagesHome = document.createComment("messages");
    messages.before(messagesHome);
  }
  if (messages) {
    if (near && kind) near.before(messages);
    else messagesHome.after(messages);
  }
  const err = root.querySelector("[data-detail-error]");
  const ok = root.querySelector("[data-detail-ok]");
  setHidden(err, kind !== "error");
  setHidden(ok, kind !== "ok");
  if (kind === "error") err.textContent = text;
  if (kind === "ok") ok.textContent = text;
  if (kind && near && messages) messages.scrollIntoView({ block: "nearest" });
}

// --- actions --------------------------------------------------------------------------------

function mergeLead(data) {
  if (!data || data.id === undefined) return;
  const known = ui.state.leads.get(data.id) || {};
  ui.state.leads.set(data.id, { ...known, ...data });
}

async function claim(leadId) {
  try {
    const lead = await api("POST", `leads/${leadId}/claim`);
    ui.claimErrors.delete(leadId);
    ui.inboxMessage = "";
    mergeLead(lead);
    announce(t("claimed_ok"));
    await select(leadId);
  } catch (err) {
    if (err.status === 409 && err.extra) {
      ui.claimErrors.set(leadId, err.message);
      ui.inboxMessage = err.message;
      const known = ui.state.leads.get(leadId);
      if (known && err.extra.claimed_by) mergeLead({ ...known, state: err.extra.state || "claimed", claimed_by: err.extra.claimed_by });
      announce(err.message);
    } else {
      ui.claimErrors.set(leadId, err.message);
    }
  }
  ui.rerender();
}

async function select(leadId) {
  ui.selected = leadId;
  showDetailMessage(null);
  prefillOutcome(ui.state.leads.get(leadId));
  const change = root.querySelector("[data-agreement-change]");
  if (change) {
    change.open = false;
    change.querySelector("[data-agreement-form]").dataset.agreement = "";
  }
  ui.refillChange = false;
  ui.rerender();
  const title = root.querySelector("[data-detail-title]");
  if (title) title.focus();
  await refreshDetail(leadId);
}

function fillSelect(select, options, selected) {
  select.replaceChildren(...options.map((o) => {
    const opt = document.createElement("option");
    opt.value = String(o.value);
    opt.textContent = o.label;
    if (String(o.value) === String(selected)) opt.selected = true;
    return opt;
  }));
}

function fillActivities(form, orgId, preferred) {
  const org = cfg.organisations.find((o) => String(o.id) === String(orgId));
  const acts = org ? org.activities : [];
  fillSelect(form.querySelector("[data-activity-select]"), acts.map((a) => ({ value: a.id, label: a.title })), preferred);
}

function prefillOutcome(lead) {
  const form = root.querySelector("[data-outcome-form]");
  if (!form || !lead) return;
  form.reset();
  const orgs = cfg.organisations.map((o) => ({ value: o.id, label: o.name }));
  if (lead.organisation_id && !cfg.organisations.some((o) => o.id === lead.organisation_id)) {
    orgs.unshift({ value: lead.organisation_id, label: lead.organisation });
  }
  fillSelect(form.querySelector("[data-organisation-select]"), orgs, lead.organisation_id);
  const firstActivity = (lead.activities || [])[0];
  fillActivities(form, lead.organisation_id || (orgs[0] && orgs[0].value), firstActivity && firstActivity.id);
  fillSelect(form.querySelector("[data-category-select]"), [{ value: "", label: "—" }, ...cfg.categories], "");
  fillSelect(form.querySelector("[data-declined-select]"), cfg.declined_by, "client");
  form.elements.start_date.value = cfg.today;
  setHidden(form.querySelector("[data-override]"), true);
  setHidden(form.querySelector("[data-hours-reason]"), true);
  showOutcomeFields(form);
}

function showOutcomeFields(form) {
  const outcome = form.elements.outcome.value;
  for (const box of form.querySelectorAll("[data-fields]")) box.hidden = box.dataset.fields !== outcome;
}

// Hours as typed: a text field, because a number field refuses the Dutch decimal comma ("7,5")
// and then reads as empty ("fill in the hours" for hours that were filled in).
function hoursValue(input) {
  return input.value.trim().replace(",", ".");
}

function outcomeBody(form) {
  const f = form.elements;
  const outcome = f.outcome.value;
  const body = { outcome };
  if (outcome === "agreement") {
    Object.assign(body, {
      organisation: f.organisation.value ? Number(f.organisation.value) : null,
      activity: f.activity.value ? Number(f.activity.value) : null,
      hours_per_week: hoursValue(f.hours_per_week) === "" ? null : hoursValue(f.hours_per_week),
      hours_reason: f.hours_reason.value,
      start_date: f.start_date.value || null,
      end_date: f.end_date.value || null,
      capacity_override_reason: f.capacity_override_reason.value,
    });
  } else if (outcome === "exemption") {
    Object.assign(body, { category: f.category.value || null, review_date: f.review_date.value || null });
  } else if (outcome === "follow_up") {
    body.appointment_date = f.appointment_date.value || null;
  } else {
    Object.assign(body, { declined_by: f.declined_by.value, reason: f.reason.value });
  }
  return body;
}

// Show the field a refusal asks for and put the cursor in it.
function reveal(form, selector) {
  const box = form.querySelector(selector);
  setHidden(box, false);
  const field = box && box.querySelector("textarea, input, select");
  if (field) field.focus();
}

// A refused agreement (outcome or change): the field the refusal asks for, and the message by the button.
function refuseTerms(form, err, button) {
  if (err.code === "over_capacity") reveal(form, "[data-override]");
  if (err.code === "hours_reason_required") reveal(form, "[data-hours-reason]");
  showDetailMessage("error", err.message, button);
}

async function submitOutcome(form) {
  const leadId = ui.selected;
  const button = form.querySelector("[type=submit]");
  if (leadId === null || button.disabled) return; // a double click saves once
  button.disabled = true;
  try {
    const result = await api("POST", `leads/${leadId}/outcome`, outcomeBody(form));
    mergeLead(result.lead);
    if (result.agreement) rememberAgreement(leadId, result.agreement.id);
    // A follow-up keeps its form (for the outcome at the appointment): say so next to its button.
    // Other outcomes close the form: the keyboard stays in the lead's detail.
    const staysOpen = result.lead.state === "follow_up";
    showDetailMessage("ok", t("saved"), staysOpen ? button : undefined);
    announce(t("saved"));
    const title = root.querySelector("[data-detail-title]");
    if (title && !staysOpen) title.focus();
    refreshDetail(leadId);
  } catch (err) {
    refuseTerms(form, err, button);
  } finally {
    button.disabled = false;
  }
  ui.rerender();
}

function changeBody(form) {
  const f = form.elements;
  return {
    activity: f.activity.value ? Number(f.activity.value) : null,
    hours_per_week: hoursValue(f.hours_per_week), // empty is refused (hours_required), not "keep the old hours"
    hours_reason: f.hours_reason.value,
    start_date: f.start_date.value || null,
    end_date: f.end_date.value || null,
    capacity_override_reason: f.capacity_override_reason.value,
  };
}

async function submitChange(form) {
  const leadId = ui.selected;
  // The version the form was filled from, not the newest one the feed brought meanwhile: a change
  // made by someone else in between is refused (agreement_not_current), never silently undone.
  const agreementId = Number(form.dataset.agreement);
  const button = form.querySelector("[type=submit]");
  if (leadId === null || !agreementId || button.disabled) return;
  // The API keeps a date that is left out; an emptied date field must not be saved as "unchanged".
  if (!form.elements.start_date.value || !form.elements.end_date.value) {
    showDetailMessage("error", t(form.elements.start_date.value ? "end_required" : "start_required"), button);
    (form.elements.start_date.value ? form.elements.end_date : form.elements.start_date).focus();
    return;
  }
  button.disabled = true;
  try {
    const agreement = await api("POST", `agreements/${agreementId}`, changeBody(form));
    rememberAgreement(leadId, agreement.id);
    prefillChange(form, agreement); // the form now shows the new version
    showDetailMessage("ok", t("version_saved", { version: agreement.version }), button);
    announce(t("version_saved", { version: agreement.version }));
    await refreshDetail(leadId);
  } catch (err) {
    refuseTerms(form, err, button);
    if (err.code === "agreement_not_current") {
      ui.refillChange = true; // show the newest version once it is read
      await refreshDetail(leadId);
    }
  } finally {
    button.disabled = false;
  }
  ui.rerender();
}

async function submitNote(form) {
  const leadId = ui.selected;
  const text = form.elements.text.value.trim();
  if (leadId === null || !text) return;
  try {
    const note = await api("POST", `leads/${leadId}/notes`, { text });
    rememberNote(note);
    form.reset();
    announce(t("note_saved"));
  } catch (err) {
    showDetailMessage("error", err.message, form.querySelector("[type=submit]"));
  }
  ui.rerender();
}

async function closeMarket(form) {
  const result = root.querySelector("[data-close-result]");
  const later = form.elements.later.value;
  result.hidden = false;
  result.className = "alert";
  try {
    let noShows = 0;
    // The snapshot may not have reached this panel yet (a quick click): closing again is a no-op.
    const market = ui.state && ui.state.market;
    if (!market || market.state !== "closed") {
      const closed = await api("POST", `markets/${cfg.market}/close`);
      noShows = closed.no_shows !== undefined ? closed.no_shows : 0;
    }
    if (later) {
      const issued = await api("POST", `markets/${cfg.market}/follow-up`, { market: Number(later) });
      result.textContent = t("closed_summary", { no_shows: noShows, created: issued.created });
    } else {
      result.textContent = t("closed_only", { no_shows: noShows });
    }
    result.classList.add("alert-ok");
  } catch (err) {
    result.textContent = err.message;
    result.classList.add("alert-error");
  }
}

// --- wiring ---------------------------------------------------------------------------------

function selectTab(tab, focus) {
  ui.tab = tab;
  for (const b of root.querySelectorAll("[data-tab]")) {
    const on = b.dataset.tab === tab;
    b.setAttribute("aria-selected", on ? "true" : "false");
    b.tabIndex = on ? 0 : -1;
    if (on && focus) b.focus();
  }
  const panel = root.querySelector("[data-leads-panel]");
  if (panel) panel.setAttribute("aria-labelledby", `tab-${tab}`);
  ui.rerender();
}

function wire() {
  // The search box belongs with the arrivals list (dashboard.js's panel): move it there.
  const search = root.querySelector("[data-arrivals-search]");
  const arrivalsTitle = root.querySelector("#arrivals-title");
  if (search && arrivalsTitle) arrivalsTitle.after(search);
  const input = root.querySelector("[data-arrivals-search-input]");
  if (input) input.addEventListener("input", applySearch);

  const tabs = [...root.querySelectorAll("[data-tab]")];
  for (const b of tabs) {
    b.addEventListener("click", () => selectTab(b.dataset.tab, false));
    b.addEventListener("keydown", (ev) => {
      const i = tabs.indexOf(b);
      if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
        ev.preventDefault();
        const next = tabs[(i + (ev.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
        selectTab(next.dataset.tab, true);
      }
    });
  }
  const list = root.querySelector("[data-leads]");
  list.addEventListener("click", (ev) => {
    const claimBtn = ev.target.closest("[data-claim]");
    if (claimBtn) {
      claimBtn.disabled = true;
      claim(Number(claimBtn.dataset.claim));
      return;
    }
    const openBtn = ev.target.closest("[data-open]");
    if (openBtn) select(Number(openBtn.dataset.open));
  });
  const detail = root.querySelector("[data-lead-detail]");
  detail.querySelector("[data-detail-claim]").addEventListener("click", () => claim(ui.selected));
  detail.querySelector("[data-detail-release]").addEventListener("click", async () => {
    try {
      mergeLead(await api("POST", `leads/${ui.selected}/release`));
    } catch (err) {
      showDetailMessage("error", err.message);
    }
    ui.rerender();
  });
  const form = detail.querySelector("[data-outcome-form]");
  form.addEventListener("change", (ev) => {
    if (ev.target.name === "outcome") showOutcomeFields(form);
    if (ev.target.name === "organisation") fillActivities(form, ev.target.value, null);
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitOutcome(form);
  });
  const changeForm = detail.querySelector("[data-agreement-form]");
  for (const terms of [form, changeForm]) {  // both hold the agreement's terms (_agreement_terms.html)
    terms.elements.hours_per_week.addEventListener("input", () => {
      const h = Number(hoursValue(terms.elements.hours_per_week));
      if (h > cfg.hours_limit) setHidden(terms.querySelector("[data-hours-reason]"), false);
    });
  }
  changeForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitChange(changeForm);
  });
  const noteForm = detail.querySelector("[data-note-form]");
  noteForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitNote(noteForm);
  });
  const closeForm = root.querySelector("[data-close-form]");
  if (closeForm) {
    closeForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      closeMarket(closeForm);
    });
  }
}

if (root && cfg) {
  wire();
  registerPanel({
    name: "lead-workflow",
    render(state) {
      ui.state = state;
      ui.rerender = () => this.render(state);
      renderLeadCounters(state);
      renderTimeline(state);
      applySearch();
      renderInbox(state);
      renderDetail(state);
    },
  });
}
