"""backend/static/backend/feed.js (MarketFeed) and the idempotent DashboardState of
events/static/events/dashboard.js, run under Node with a fake WebSocket, fetch and clock."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")

HARNESS = r"""
import assert from "node:assert/strict";
import { MarketFeed } from "./backend/feed.js";
import { DashboardState } from "./events/dashboard.js";

class FakeSocket {
  static all = [];
  constructor(url) { this.url = url; this.sent = []; this.closed = false; FakeSocket.all.push(this); }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() { this.closed = true; }
  msg(obj) { this.onmessage({ data: JSON.stringify(obj) }); }
  drop(code) { this.onclose({ code }); }
}
class Clock {
  constructor() { this.now = 0; this.timers = new Map(); this.next = 1; }
  setTimeout(fn, ms) { const id = this.next++; this.timers.set(id, { at: this.now + ms, fn }); return id; }
  clearTimeout(id) { this.timers.delete(id); }
  advance(ms) {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]); this.now = due[1].at; due[1].fn();
    }
    this.now = until;
  }
  pending() { return [...this.timers.values()].map((t) => t.at - this.now); }
}
const tick = () => new Promise((r) => setImmediate(r));
const entry = (seq, kind = "checkin.created", data = null) =>
  ({ type: "entry", seq, kind, at: "2025-03-04T10:00:00+01:00",
     data: data || { invitation_id: 100 + seq, client_id: seq, display_name: `C${seq}`, language: "nl",
                     checked_in_at: "2025-03-04T10:00:00+01:00", walk_in: false, slot_id: null, method: "qr" } });

function makeFeed(snapshots) {
  const log = { snapshots: [], entries: [], status: [] };
  const clock = new Clock();
  let fetches = 0;
  const feed = new MarketFeed({
    marketId: 7, socketUrl: "ws://t/ws/markets/7/feed/", heartbeatSeconds: 10, backoffBaseMs: 1000,
    WebSocket: FakeSocket, timers: clock, random: () => 0.5,
    fetch: async (url) => {
      const s = snapshots[Math.min(fetches++, snapshots.length - 1)];
      if (typeof s === "number") return { ok: false, status: s, json: async () => ({}) };
      return { ok: true, status: 200, json: async () => s };
    },
    onSnapshot: (s) => log.snapshots.push(s.head),
    onEntry: (e) => log.entries.push(e.seq),
    onStatus: (s, d) => log.status.push(d.reason ? `${s}:${d.reason}` : s),
  });
  return { feed, log, clock, fetches: () => fetches };
}
const snap = (head) => ({ head, market: { id: 7, state: "open" }, arrivals: [], leads: [], invitation_states: {} });

// 1. snapshot, connect with since=head, in-order entries, duplicates dropped, gap → resume.
{
  FakeSocket.all = [];
  const { feed, log } = makeFeed([snap(5)]);
  await feed.start();
  assert.deepEqual(log.snapshots, [5]);
  const ws = FakeSocket.all.at(-1);
  assert.equal(ws.url, "ws://t/ws/markets/7/feed/?since=5");
  ws.msg({ type: "hello", market: 7, head: 5 });
  assert.equal(log.status.at(-1), "live");
  ws.msg(entry(6)); ws.msg(entry(6)); ws.msg(entry(5)); ws.msg(entry(7));
  assert.deepEqual(log.entries, [6, 7]);
  ws.msg(entry(9));                      // gap: 8 is missing
  assert.deepEqual(ws.sent, [{ type: "resume", since: 7 }]);
  ws.msg(entry(10));                     // still a gap: no second resume for the same position
  assert.equal(ws.sent.length, 1);
  ws.msg(entry(8)); ws.msg(entry(9)); ws.msg(entry(10));
  assert.deepEqual(log.entries, [6, 7, 8, 9, 10]);
  ws.msg({ type: "heartbeat", head: 12 }); // the server knows more: resume
  assert.deepEqual(ws.sent.at(-1), { type: "resume", since: 10 });
  ws.msg({ type: "heartbeat", head: 10 });
  assert.equal(ws.sent.length, 2);
  feed.stop();
}

// 2. reset → reload the snapshot and reconnect from its head.
{
  FakeSocket.all = [];
  const { feed, log } = makeFeed([snap(3), snap(40)]);
  await feed.start();
  const first = FakeSocket.all.at(-1);
  first.msg({ type: "hello", market: 7, head: 3 });
  first.msg({ type: "reset", head: 40 });
  await tick(); await tick();
  assert.ok(first.closed);
  assert.deepEqual(log.snapshots, [3, 40]);
  assert.equal(FakeSocket.all.at(-1).url, "ws://t/ws/markets/7/feed/?since=40");
  feed.stop();
}

// 3. a dropped socket reconnects with exponential backoff + jitter, from the last seq.
{
  FakeSocket.all = [];
  const { feed, log, clock } = makeFeed([snap(1)]);
  await feed.start();
  let ws = FakeSocket.all.at(-1);
  ws.msg({ type: "hello", market: 7, head: 1 });
  ws.msg(entry(2));
  ws.drop(1006);
  assert.equal(log.status.at(-1), "reconnecting");
  assert.deepEqual(clock.pending().sort((a, b) => a - b)[0], 750);   // base 1000: 500 + 0.5 × 500
  clock.advance(750);
  ws = FakeSocket.all.at(-1);
  assert.equal(ws.url, "ws://t/ws/markets/7/feed/?since=2");
  ws.drop(1006);                                                     // fails again: ceiling doubles
  assert.ok(clock.pending().includes(1500));
  clock.advance(1500);
  ws = FakeSocket.all.at(-1);
  ws.msg({ type: "hello", market: 7, head: 2 });                     // success resets the backoff
  assert.equal(log.status.at(-1), "live");
  assert.equal(feed.attempt, 0);
  feed.stop();
}

// 4. a silent connection is dead after 2.5 × heartbeat: reconnect.
{
  FakeSocket.all = [];
  const { feed, clock } = makeFeed([snap(1)]);
  await feed.start();
  const ws = FakeSocket.all.at(-1);
  ws.msg({ type: "hello", market: 7, head: 1 });
  clock.advance(24_000);
  assert.equal(FakeSocket.all.length, 1);
  ws.msg({ type: "heartbeat", head: 1 });
  clock.advance(24_000);
  assert.equal(FakeSocket.all.length, 1);                           // the heartbeat kept it alive
  clock.advance(1_000);                                              // 25 s of silence
  assert.ok(ws.closed);
  clock.advance(1_000);
  assert.equal(FakeSocket.all.length, 2);
  feed.stop();
}

// 5. refused by the server: offline, no retries.
{
  FakeSocket.all = [];
  const { feed, log, clock } = makeFeed([snap(1)]);
  await feed.start();
  FakeSocket.all.at(-1).drop(4403);
  assert.equal(log.status.at(-1), "offline:forbidden");
  clock.advance(120_000);
  assert.equal(FakeSocket.all.length, 1);
  const denied = makeFeed([401]);
  await denied.feed.start();
  assert.equal(denied.log.status.at(-1), "offline:unauthenticated");
}

// 6. the snapshot fetch fails (network): retried with backoff.
{
  FakeSocket.all = [];
  const { feed, log, clock, fetches } = makeFeed([500, snap(4)]);
  await feed.start();
  assert.equal(fetches(), 1);
  clock.advance(1000);
  await tick(); await tick();
  assert.equal(fetches(), 2);
  assert.deepEqual(log.snapshots, [4]);
  feed.stop();
}

// 7. DashboardState applies entries idempotently by id.
{
  const s = new DashboardState();
  s.applySnapshot({ head: 2, market: { id: 7, state: "open" },
    invitation_states: { 101: "issued", 102: "issued", 103: "excused", 104: "revoked" },
    arrivals: [], leads: [] });
  assert.deepEqual(s.counts().arrived, 0);
  const c = entry(3, "checkin.created", { invitation_id: 101, client_id: 1, display_name: "A", language: "nl",
    checked_in_at: "2025-03-04T10:00:00+01:00", walk_in: false, slot_id: null, method: "qr" });
  s.applyEntry(c); s.applyEntry(c);
  const walkIn = entry(4, "checkin.created", { invitation_id: 999, client_id: 9, display_name: "W", language: "tr",
    checked_in_at: "2025-03-04T10:05:00+01:00", walk_in: true, slot_id: null, method: "walk_in" });
  s.applyEntry(walkIn); s.applyEntry(walkIn);
  let k = s.counts();
  assert.deepEqual([k.invited, k.arrived, k.expected, k.excused, k.no_show], [4, 2, 1, 1, 0]);
  assert.equal(s.arrivals.size, 2);
  const lead = { id: 5, state: "new", client_id: 1 };
  s.applyEntry({ seq: 5, kind: "lead.created", data: lead });
  s.applyEntry({ seq: 6, kind: "lead.updated", data: { ...lead, state: "claimed" } });
  s.applyEntry({ seq: 6, kind: "lead.updated", data: { ...lead, state: "claimed" } });
  assert.deepEqual(s.counts().leads.claimed, 1);
  assert.deepEqual(s.counts().leads.new, 0);
  s.applyEntry({ seq: 7, kind: "market.closed", data: { market_id: 7, state: "closed", at: "x", no_shows: 1 } });
  k = s.counts();
  assert.deepEqual([k.expected, k.no_show], [0, 1]);
  assert.equal(s.applyEntry({ seq: 8, kind: "invitations.issued", data: { count: 3, total: 7 } }), false);
}
console.log("ALL OK");
"""


def test_market_feed_client_and_dashboard_state(tmp_path: Path):
    static = tmp_path / "static"
    (static / "backend").mkdir(parents=True)
    (static / "events").mkdir()
    # The same layout as under /static/, so dashboard.js's relative import resolves.
    shutil.copy(settings.BASE_DIR / "backend/static/backend/feed.js", static / "backend/feed.js")
    shutil.copy(settings.BASE_DIR / "events/static/events/dashboard.js", static / "events/dashboard.js")
    (static / "harness.mjs").write_text(HARNESS)
    (static / "package.json").write_text('{"type": "module"}')
    result = subprocess.run([NODE, "harness.mjs"], cwd=static, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "ALL OK" in result.stdout, result.stderr + result.stdout
