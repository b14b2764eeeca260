// MarketFeed: follow a market's live feed (DESIGN.md §5, docs/feed.md).
//
// Loads the snapshot, connects the websocket with since=head, hands every entry to onEntry
// exactly once and in seq order, and recovers by itself: a gap → {"type":"resume"}; a reset →
// reload the snapshot and reconnect; a closed or silent socket → reconnect with exponential
// backoff and jitter. Callers apply entries idempotently by id (arrivals by invitation_id,
// leads by id), so a replay can never double-count.
//
//   const feed = new MarketFeed({marketId: 3, onSnapshot, onEntry, onStatus});
//   feed.start();
//
// onStatus(status, detail) gets "live" | "reconnecting" | "offline"; detail.reason is
// "unauthenticated" | "forbidden" | "not_found" when the server refused (no more retries),
// "network" when the browser is offline.

const CLOSE_REASONS = { 4401: "unauthenticated", 4403: "forbidden", 4404: "not_found" };

export class MarketFeed {
  constructor(options) {
    const o = options || {};
    if (o.marketId === undefined || o.marketId === null) throw new Error("MarketFeed needs marketId");
    this.marketId = o.marketId;
    this.snapshotUrl = o.snapshotUrl || `/api/v1/markets/${this.marketId}/snapshot`;
    this.socketUrl = o.socketUrl || MarketFeed.defaultSocketUrl(this.marketId, o.location || globalThis.location);
    this.heartbeatSeconds = o.heartbeatSeconds || 20;
    this.deadAfterMs = o.deadAfterMs || this.heartbeatSeconds * 2500; // 2.5 × heartbeat
    this.backoffBaseMs = o.backoffBaseMs || 500;
    this.backoffMaxMs = o.backoffMaxMs || 30000;
    this.onSnapshot = o.onSnapshot || (() => {});
    this.onEntry = o.onEntry || (() => {});
    this.onStatus = o.onStatus || (() => {});
    this.fetch = o.fetch || globalThis.fetch.bind(globalThis);
    this.WebSocket = o.WebSocket || globalThis.WebSocket;
    this.timers = o.timers || globalThis;
    this.random = o.random || Math.random;

    this.last = null; // the seq of the last entry applied
    this.socket = null;
    this.attempt = 0;
    this.stopped = true;
    this.status = null;
    this.resumeSentFor = null;
    this.reconnectTimer = null;
    this.deadTimer = null;
    this.loading = null;
  }

  static defaultSocketUrl(marketId, loc) {
    const scheme = loc && loc.protocol === "https:" ? "wss:" : "ws:";
    const host = loc ? loc.host : "127.0.0.1";
    return `${scheme}//${host}/ws/markets/${marketId}/feed/`;
  }

  start() {
    if (!this.stopped) return this.loading;
    this.stopped = false;
    this._setStatus("reconnecting");
    this.loading = this._reload();
    return this.loading;
  }

  stop() {
    this.stopped = true;
    this._clearTimers();
    this._dropSocket();
  }

  // Reload the snapshot and reconnect (for an entry the page cannot apply from its data alone).
  reload() {
    if (this.stopped) return this.loading;
    this._resetAndReload();
    return this.loading;
  }

  // The browser says the network is gone or back (dashboard.js wires window events here).
  networkChanged(online) {
    if (this.stopped) return;
    if (!online) {
      this._dropSocket();
      this._clearTimers();
      this._setStatus("offline", { reason: "network" });
    } else if (!this.socket) {
      this.attempt = 0;
      this._connect();
    }
  }

  // --- internals ---------------------------------------------------------------------------

  async _reload() {
    this._dropSocket();
    let snapshot;
    try {
      const response = await this.fetch(this.snapshotUrl, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if ([401, 403, 404].includes(response.status)) {
        const reason = { 401: "unauthenticated", 403: "forbidden", 404: "not_found" }[response.status];
        this.stop();
        this._setStatus("offline", { reason });
        return;
      }
      if (!response.ok) throw new Error(`snapshot ${response.status}`);
      snapshot = await response.json();
    } catch (err) {
      if (!this.stopped) this._retry(() => this._reload());
      return;
    }
    if (this.stopped) return;
    this.last = snapshot.head;
    this.resumeSentFor = null;
    this.onSnapshot(snapshot);
    this._connect();
  }

  _connect() {
    if (this.stopped) return;
    this._dropSocket();
    const url = `${this.socketUrl}?since=${encodeURIComponent(this.last)}`;
    let socket;
    try {
      socket = new this.WebSocket(url);
    } catch (err) {
      this._retry(() => this._connect());
      return;
    }
    this.socket = socket;
    socket.onmessage = (event) => {
      if (socket !== this.socket) return;
      this._alive();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      this._handle(message);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this._clearTimers();
      const reason = CLOSE_REASONS[event.code];
      if (reason) {
        this.stop();
        this._setStatus("offline", { reason });
      } else if (!this.stopped) {
        this._retry(() => this._connect());
      }
    };
    socket.onerror = () => {}; // onclose follows and decides
    this._alive();
  }

  _handle(message) {
    switch (message.type) {
      case "hello":
        this.attempt = 0;
        this._setStatus("live");
        if (message.head < this.last) this._resetAndReload(); // the server knows less than we do
        break;
      case "entry":
        this._entry(message);
        break;
      case "heartbeat":
        if (message.head > this.last) this._resume();
        break;
      case "reset":
        this._resetAndReload();
        break;
      default:
        break; // pong, error: nothing to do
    }
  }

  _entry(entry) {
    if (entry.seq <= this.last) return; // already applied
    if (entry.seq > this.last + 1) {
      this._resume(); // a gap: the replay brings the missing ones and this one again
      return;
    }
    this.last = entry.seq;
    this.resumeSentFor = null;
    try {
      this.onEntry(entry);
    } catch (err) {
      // A dashboard bug must not stop the feed; the page can reload the snapshot.
      if (globalThis.console) console.error("MarketFeed onEntry failed", err);
    }
  }

  _resume() {
    if (this.resumeSentFor === this.last || !this.socket) return;
    this.resumeSentFor = this.last;
    this._sendJson({ type: "resume", since: this.last });
  }

  _resetAndReload() {
    this._dropSocket();
    this._setStatus("reconnecting");
    this.loading = this._reload();
  }

  _sendJson(message) {
    try {
      this.socket.send(JSON.stringify(message));
    } catch (err) {
      // the close handler reconnects
    }
  }

  // Reconnect later: exponential backoff with jitter (half fixed, half random).
  _retry(fn) {
    this._setStatus("reconnecting");
    this.timers.clearTimeout(this.reconnectTimer);
    const ceiling = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** this.attempt);
    const delay = ceiling / 2 + this.random() * (ceiling / 2);
    this.attempt += 1;
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped) fn();
    }, delay);
  }

  // No message for 2.5 × heartbeat: the connection is dead even if nobody said so.
  _alive() {
    this.timers.clearTimeout(this.deadTimer);
    this.deadTimer = this.timers.setTimeout(() => {
      this.deadTimer = null;
      if (this.stopped || !this.socket) return;
      this._dropSocket();
      this._retry(() => this._connect());
    }, this.deadAfterMs);
  }

  _dropSocket() {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch (err) {
        // already closed
      }
    }
  }

  _clearTimers() {
    this.timers.clearTimeout(this.reconnectTimer);
    this.timers.clearTimeout(this.deadTimer);
    this.reconnectTimer = this.deadTimer = null;
  }

  _setStatus(status, detail) {
    if (status === this.status && !detail) return;
    this.status = status;
    this.onStatus(status, detail || {});
  }
}

globalThis.MarketFeed = MarketFeed;
