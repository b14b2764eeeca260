// The consultant dashboard of one market (events/templates/events/dashboard_market.html).
//
// One DashboardState holds what the page knows: every invitation's state, the arrivals, the
// leads. It is filled from the snapshot and kept current by MarketFeed entries, always
// idempotently by id (arrivals by invitation_id, leads by id), so a replayed entry never
// double-counts. Panels render from the state; to add one (leads, charts, outcomes):
//
//   import { registerPanel } from "./dashboard.js";
//   registerPanel({ render(state, root) { ... } });
//
// No inline scripts: the page passes its data through data- attributes.

import { MarketFeed } from "../backend/feed.js";

export class DashboardState {
  constructor() {
    this.market = null;
    this.head = 0;
    this.invitations = new Map(); // invitation id → state
    this.arrivals = new Map(); // invitation id → arrival
    this.leads = new Map(); // lead id → lead
    this.statements = new Map(); // statement id → what a client said (volunteering, constraint)
  }

  applySnapshot(snapshot) {
    this.market = snapshot.market;
    this.head = snapshot.head;
    this.invitations = new Map(Object.entries(snapshot.invitation_states || {}).map(([id, s]) => [Number(id), s]));
    this.arrivals = new Map(snapshot.arrivals.map((a) => [a.invitation_id, a]));
    this.leads = new Map(snapshot.leads.map((l) => [l.id, l]));
    this.statements = new Map((snapshot.statements || []).map((s) => [s.id, s]));
  }

  // Returns false when the entry cannot be applied from its data alone (the page reloads the snapshot).
  applyEntry(entry) {
    const d = entry.data;
    this.head = entry.seq;
    switch (entry.kind) {
      case "checkin.created":
        this.invitations.set(d.invitation_id, "checked_in");
        this.arrivals.set(d.invitation_id, {
          invitation_id: d.invitation_id, client_id: d.client_id, display_name: d.display_name,
          language: d.language, checked_in_at: d.checked_in_at, walk_in: d.walk_in, slot_id: d.slot_id,
        });
        return true;
      case "invitation.updated":
        this.invitations.set(d.invitation_id, d.state);
        if (d.state !== "checked_in") this.arrivals.delete(d.invitation_id);
        return true;
      case "invitations.issued":
        return false; // carries a total, not the invitations: reload
      case "lead.created":
      case "lead.updated":
        this.leads.set(d.id, d);
        return true;
      case "statement.created":
        if (d.kind !== "wish") this.statements.set(d.id, d); // wishes arrive as leads
        return true;
      case "market.opened":
        if (this.market) this.market.state = d.state;
        return true;
      case "market.closed":
        if (this.market) this.market.state = d.state;
        for (const [id, s] of this.invitations) if (s === "issued") this.invitations.set(id, "no_show");
        return true;
      default:
        return true; // kinds this page does not show
    }
  }

  counts() {
    const c = { invited: 0, arrived: 0, excused: 0, no_show: 0, expected: 0 };
    for (const s of this.invitations.values()) {
      if (s !== "revoked") c.invited += 1;
      if (s === "checked_in") c.arrived += 1;
      else if (s === "excused") c.excused += 1;
      else if (s === "no_show") c.no_show += 1;
      else if (s === "issued") c.expected += 1;
    }
    c.leads = { new: 0, claimed: 0, agreement: 0, exemption: 0, follow_up: 0, declined: 0 };
    for (const l of this.leads.values()) c.leads[l.state] = (c.leads[l.state] || 0) + 1;
    return c;
  }
}

const panels = [];
let shown = null; // { state, root } once the first snapshot is in

export function registerPanel(panel) {
  panels.push(panel);
  // A panel in another module script can load after the snapshot (a slow connection): it
  // renders at once instead of staying empty until the next feed entry.
  if (shown) panel.render(shown.state, shown.root);
}

// --- built-in panels ---------------------------------------------------------------------------

registerPanel({
  name: "statements",
  render(state, root) {
    const section = root.querySelector("[data-statements]");
    if (!section) return;
    const labels = JSON.parse(section.dataset.labels || "{}");
    const list = section.querySelector("[data-statements-list]");
    const items = [...state.statements.values()].sort((a, b) => b.id - a.id);
    section.querySelector("[data-statements-empty]").hidden = items.length > 0;
    list.replaceChildren(...items.map((s) => {
      const li = document.createElement("li");
      const name = document.createElement("strong");
      name.textContent = s.display_name;
      const parts = [(labels.kinds || {})[s.kind] || s.kind];
      if (s.category) parts.push((labels.categories || {})[s.category] || s.category);
      if (s.organisation_name) parts.push(s.organisation_name);
      if (s.hours_per_week) parts.push(String(labels.hours || "%(hours)s").replace("%(hours)s", s.hours_per_week));
      li.append(name, document.createTextNode(": " + parts.join(" · ")));
      return li;
    }));
  },
});

function timeOf(iso, lang) {
  if (!iso) return "";
  try {
    return new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Amsterdam" });
  } catch (err) {
    return iso;
  }
}

registerPanel({
  name: "counters",
  render(state, root) {
    const counts = state.counts();
    for (const el of root.querySelectorAll("[data-count]")) {
      const value = counts[el.dataset.count];
      if (value !== undefined) el.textContent = String(value);
    }
  },
});

registerPanel({
  name: "arrivals",
  render(state, root) {
    const body = root.querySelector("[data-arrivals]");
    if (!body) return;
    const lang = document.documentElement.lang || "nl";
    const walkInLabel = root.dataset.labelWalkIn || "";
    const rows = [...state.arrivals.values()].sort((a, b) =>
      (b.checked_in_at || "").localeCompare(a.checked_in_at || "") || b.invitation_id - a.invitation_id);
    const fragment = document.createDocumentFragment();
    for (const a of rows) {
      const tr = document.createElement("tr");
      tr.dataset.invitation = String(a.invitation_id);
      for (const text of [timeOf(a.checked_in_at, lang), a.display_name, a.language, a.walk_in ? walkInLabel : ""]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      fragment.appendChild(tr);
    }
    body.replaceChildren(fragment);
    const empty = root.querySelector("[data-arrivals-empty]");
    if (empty) empty.hidden = rows.length > 0;
  },
});

// --- boot -------------------------------------------------------------------------------------

export function startDashboard(root) {
  const state = new DashboardState();
  const statusEl = root.querySelector("[data-feed-status]");
  const labels = {
    live: root.dataset.labelLive,
    reconnecting: root.dataset.labelReconnecting,
    offline: root.dataset.labelOffline,
    forbidden: root.dataset.labelForbidden,
  };
  let scheduled = false;
  const render = () => {
    scheduled = false;
    for (const panel of panels) panel.render(state, root);
  };
  const renderSoon = () => {
    if (!scheduled) {
      scheduled = true;
      (globalThis.requestAnimationFrame || setTimeout)(render);
    }
  };

  const feed = new MarketFeed({
    marketId: Number(root.dataset.market),
    snapshotUrl: root.dataset.snapshotUrl,
    heartbeatSeconds: Number(root.dataset.heartbeat) || 20,
    onSnapshot(snapshot) {
      state.applySnapshot(snapshot);
      root.dataset.head = String(snapshot.head);
      shown = { state, root };
      render();
    },
    onEntry(entry) {
      root.dataset.head = String(entry.seq);
      if (!state.applyEntry(entry)) feed.reload();
      else renderSoon();
    },
    onStatus(status, detail) {
      root.dataset.feedStatus = status;
      if (!statusEl) return;
      const refused = detail && ["unauthenticated", "forbidden", "not_found"].includes(detail.reason);
      statusEl.textContent = refused ? labels.forbidden : labels[status] || status;
      statusEl.dataset.status = status;
    },
  });
  globalThis.addEventListener("online", () => feed.networkChanged(true));
  globalThis.addEventListener("offline", () => feed.networkChanged(false));
  feed.start();
  return { state, feed };
}

const root = globalThis.document && document.querySelector("[data-market-dashboard]");
if (root) globalThis.vmDashboard = startDashboard(root);
