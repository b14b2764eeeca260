"""Per-process fan-out of the market feed doorbell (docs/feed.md, "Fan-out").

One channel-layer subscription per process, channel layer and market — not one per socket.
The first feed socket of a market in this process creates a `Subscription`: a channel of its
own, joined to the market's group, and one reader task. The reader receives each doorbell once
and hands the pre-serialised frame to every local socket of that market (`MarketFeedConsumer.
offer`), which writes it straight to its websocket when it is the socket's next seq, and
otherwise falls back to the consumer's locked slow path (replay running, or a gap to fill from
the database). The last socket to leave cancels the reader and leaves the group.

With N sockets this is one channel-layer message per entry per process (instead of N), no
per-socket receive loop, dispatch or queue, and no O(N) work inside the in-memory layer.

The subscription re-joins its group every heartbeat interval and after a receive error (a
Redis restart forgets groups; group memberships also expire); a doorbell lost meanwhile is
harmless: each socket's heartbeat reads the head and replays what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from django.conf import settings

from backend.feed import RIGHTS_GROUP, group_name

log = logging.getLogger(__name__)

RETRY_SECONDS = (0.5, 1, 2, 5)
# How long a doorbell that skips ahead waits for the missing ones. Rings come from request threads
# (and, with Redis, from several processes) after their commits, so seq 11 can overtake seq 10 by
# a few milliseconds; putting them back in order here costs nothing, while offering 11 first
# would make every local socket read 10 from the database. A doorbell really lost costs this
# much extra delay before the sockets fetch the gap themselves.
HOLD_SECONDS = 0.25
# Joining the group (Redis) may hang while Redis is away. Sockets joining the same market wait
# for the first one's join, so it is bounded: on timeout the socket closes (4500) and the
# client reconnects, and the next socket makes a fresh attempt.
JOIN_TIMEOUT = 5.0


class Doorbell:
    """One live entry as every local socket needs it: the seq, the pre-serialised text, one
    shared ASGI message, and (made on first use) one websocket frame prepared once for all
    daphne connections (autobahn's prepareMessage/sendPreparedMessage, meant for broadcasts)."""

    __slots__ = ("seq", "text", "frame", "_prepared")

    def __init__(self, seq: int, text: str):
        self.seq = seq
        self.text = text
        self.frame = {"type": "websocket.send", "text": text}
        self._prepared = None

    @property
    def prepared(self):
        if self._prepared is None:
            from autobahn.websocket.protocol import PreparedMessage

            # A server never masks its frames; compression (if a connection negotiated it) is
            # applied by sendPreparedMessage itself.
            self._prepared = PreparedMessage(self.text.encode("utf8"), False, False, False)
        return self._prepared


def write_prepared(wire: Any, bell: Doorbell) -> None:
    """Put the entry's prepared frame on a daphne websocket (state OPEN, checked by the caller).

    The common case — plain TCP, no compression negotiated, nothing waiting in Twisted's or
    autobahn's buffers — writes the frame to the socket at once (`writeSomeData`: one send()
    system call). Twisted's `write` would instead buffer it, register the socket for writing,
    wake up once more and unregister it again: three times the work per frame and socket, which
    is what limits one process with 1,000 sockets. Whatever is not sent at once (a full socket
    buffer), and every other case (TLS, compression, pending data), goes the ordinary way, in
    order behind what is already queued. (A registered producer — Twisted's HTTP channel stays
    registered after the upgrade — only matters when data waits in the buffer, which here it
    does not.)"""
    if wire._perMessageCompress is not None or wire.send_queue:
        wire.sendPreparedMessage(bell.prepared)
        return
    data = bell.prepared.payloadHybi
    transport = wire.transport
    try:
        idle = (not transport.TLS and transport.connected and not transport.disconnecting
                and not transport._writeDisconnected
                and not transport._tempDataLen and transport.offset == len(transport.dataBuffer))
    except AttributeError:  # not a Twisted TCP connection as we know it
        idle = False
    if idle:
        sent = transport.writeSomeData(data)
        if isinstance(sent, int) and sent >= 0:
            if sent < len(data):
                transport.write(data[sent:])
            return
        # The connection is lost: let Twisted find out and close it the usual way.
    transport.write(data)


def daphne_wire(send: Any) -> Any | None:
    """The daphne websocket protocol behind an ASGI `send`, or None (another server, the test
    communicator, an unknown wrapper). Sending a prepared frame to it directly skips, per
    socket, Channels' session wrapper (which acts on http.response.start only), daphne's
    reply dispatch and autobahn's framing. Only the wrappers of our own stack are unwrapped."""
    try:
        from channels.sessions import InstanceSessionWrapper
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # pragma: no cover - daphne is a dependency
        return None
    for _ in range(3):
        owner = getattr(send, "__self__", None)
        if isinstance(owner, InstanceSessionWrapper):
            send = owner.real_send
            continue
        if (isinstance(send, functools.partial) and len(send.args) == 1 and not send.keywords
                and getattr(send.func, "__func__", None) is Server.handle_reply
                and isinstance(send.args[0], WebSocketProtocol)):
            return send.args[0]
        return None
    return None

# (id of the channel layer object, market id) -> Subscription. The layer object is part of the
# key (not its alias): tests and `as_asgi(channel_layer_alias=...)` may use several layers.
_subscriptions: dict[tuple[int, int], Subscription] = {}


class Subscription:
    def __init__(self, layer: Any, market_id: int):
        self.layer = layer
        self.market_id = market_id
        self.group = group_name(market_id)
        self.consumers: dict[Any, None] = {}  # an ordered set of local consumers
        self.channel: str | None = None
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.reader: asyncio.Task | None = None
        self.refresher: asyncio.Task | None = None
        self.closed = False
        # Putting doorbells back in seq order (see HOLD_SECONDS).
        self.next_seq: int | None = None  # the next seq to offer; set by the first doorbell
        self.held: dict[int, Doorbell] = {}
        self.hold_timer: asyncio.TimerHandle | None = None
        self.give_up_task: asyncio.Task | None = None
        self.order_lock = asyncio.Lock()
        self.rechecks: set[asyncio.Task] = set()

    async def _join(self) -> None:
        if self.channel is None:
            self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        await self.layer.group_add(RIGHTS_GROUP, self.channel)  # backend.feed.rights_changed

    async def start(self) -> None:
        try:
            await asyncio.wait_for(self._join(), JOIN_TIMEOUT)
        except BaseException as exc:
            self.closed = True
            _forget(self)
            if not self.ready.done():
                # Never hand a CancelledError to the other waiters (it would look like their own
                # cancellation): they get a plain error and close their sockets.
                self.ready.set_exception(RuntimeError(f"joining the feed group of market {self.market_id} "
                                                      f"failed: {exc!r}"))
                self.ready.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        self.ready.set_result(None)
        self.reader = asyncio.create_task(self._read())
        self.refresher = asyncio.create_task(self._refresh())

    async def _read(self) -> None:
        failures = 0
        while not self.closed:
            try:
                message = await self.layer.receive(self.channel)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis gone, for instance: retry, then re-join (it may have lost the group)
                log.warning("feed fan-out for market %s: receive failed", self.market_id, exc_info=True)
                await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1
                with contextlib.suppress(Exception):
                    await self._join()
                continue
            if message.get("type") == "feed.entry":
                await self.deliver(message)
            elif message.get("type") == "feed.recheck":
                self.recheck(message.get("users"))

    def recheck(self, users: list[int] | None) -> None:
        """Rights changed (backend.feed.rights_changed): the local sockets of these users (None:
        all) check theirs now, each in a task of its own, so doorbells are not held up."""
        wanted = None if users is None else set(users)
        for consumer in tuple(self.consumers):
            if wanted is None or consumer.user_id in wanted:
                task = asyncio.create_task(consumer.recheck())
                self.rechecks.add(task)
                task.add_done_callback(self.rechecks.discard)

    async def _refresh(self) -> None:
        interval = max(float(settings.VM_FEED_HEARTBEAT_SECONDS), 0.1)
        while not self.closed:
            await asyncio.sleep(interval)
            try:
                await self._join()  # idempotent; renews the membership
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("feed fan-out for market %s: re-joining the group failed", self.market_id,
                            exc_info=True)

    async def deliver(self, message: dict) -> None:
        """Take one doorbell: offer it (and any held ones that follow it) to the local sockets
        in seq order; hold it if it skips ahead, until the missing ones arrive or HOLD_SECONDS
        pass. Doorbells below the next seq were offered already (or given up on): dropped."""
        seq = message.get("seq")
        text = message.get("text")
        if text is None:  # an {"entry": dict} message from an older sender
            entry = message.get("entry") or {}
            seq = entry.get("seq")
            if isinstance(seq, int):
                from backend.feed import entry_text

                text = entry_text(entry)
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(text, str):
            return
        async with self.order_lock:
            if self.next_seq is None:
                self.next_seq = seq
            if seq < self.next_seq or self.closed:
                return
            self.held[seq] = Doorbell(seq, text)
            await self._release()

    async def _release(self) -> None:
        """Offer the held doorbells that are next in line (call with order_lock held)."""
        while self.next_seq in self.held:
            bell = self.held.pop(self.next_seq)
            self.next_seq += 1
            await self.offer_all(bell)
        if not self.held:
            if self.hold_timer is not None:
                self.hold_timer.cancel()
                self.hold_timer = None
        elif self.hold_timer is None:
            self.hold_timer = asyncio.get_running_loop().call_later(HOLD_SECONDS, self._give_up)

    def _give_up(self) -> None:
        self.hold_timer = None
        self.give_up_task = asyncio.create_task(self._skip_gap())

    async def _skip_gap(self) -> None:
        async with self.order_lock:
            if self.held and not self.closed:
                # Still missing: offer what is held. Each socket sees the jump and reads the
                # missing entries from the database first.
                self.next_seq = min(self.held)
                await self._release()

    async def offer_all(self, bell: Doorbell) -> None:
        """Offer one entry to every local socket of the market, in the order they joined."""
        for consumer in tuple(self.consumers):
            try:
                await consumer.offer(bell)
            except Exception:  # one broken socket must not starve the others
                log.exception("feed fan-out for market %s: delivering seq %s failed", self.market_id, bell.seq)

    async def stop(self) -> None:
        self.closed = True
        if self.hold_timer is not None:
            self.hold_timer.cancel()
        for task in (self.reader, self.refresher, self.give_up_task, *self.rechecks):
            if task is not None:
                task.cancel()
        for task in (self.reader, self.refresher):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.channel is not None and self.ready.done() and not self.ready.exception():
            for group in (self.group, RIGHTS_GROUP):
                with contextlib.suppress(Exception):
                    await self.layer.group_discard(group, self.channel)


def _forget(sub: Subscription) -> None:
    key = (id(sub.layer), sub.market_id)
    if _subscriptions.get(key) is sub:
        del _subscriptions[key]


async def subscribe(layer: Any, market_id: int, consumer: Any) -> Subscription:
    """Add a local consumer to the market's subscription (made on first use) and return once
    the process is in the group: a doorbell rung after this returns reaches the consumer."""
    key = (id(layer), market_id)
    sub = _subscriptions.get(key)
    if sub is None or sub.closed:
        sub = _subscriptions[key] = Subscription(layer, market_id)
        sub.consumers[consumer] = None
        await sub.start()
    else:
        sub.consumers[consumer] = None
        try:
            await asyncio.wait_for(asyncio.shield(sub.ready), JOIN_TIMEOUT + 1)
        except BaseException:
            sub.consumers.pop(consumer, None)
            raise
    return sub


async def unsubscribe(sub: Subscription, consumer: Any) -> None:
    """Remove a local consumer; the last one out stops the reader and leaves the group."""
    sub.consumers.pop(consumer, None)
    if not sub.consumers and not sub.closed:
        sub.closed = True
        _forget(sub)  # a socket arriving from now on makes a fresh subscription
        await sub.stop()


def subscription(layer: Any, market_id: int) -> Subscription | None:
    """The live subscription of this process for the market (None when no local socket follows it)."""
    return _subscriptions.get((id(layer), market_id))
