"""The per-process fan-out of the market feed (events/feed_fanout.py): one group subscription per
process and market, every local socket gets each entry exactly once and in order, a socket that
is still replaying never gets a live entry out of order, and the last socket out unsubscribes.
Runs on the in-memory layer (SQLite) and on Redis (the PostgreSQL + Redis pass)."""

from __future__ import annotations

import asyncio
import functools

import pytest
from channels.layers import get_channel_layer
from channels.sessions import InstanceSessionWrapper
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

from backend import feed
from events import consumers, feed_fanout
from tests.events.test_feed_consumer import (  # noqa: F401 - fixtures
    _close_worker_connection, _fresh_channel_layer, append, head3, open_feed, receive, receive_entries)

pytestmark = pytest.mark.django_db(transaction=True)


async def group_members(layer, group: str) -> int:
    """How many channels the layer has in the group (in-memory or Redis layer)."""
    if hasattr(layer, "groups"):  # InMemoryChannelLayer
        return len(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return await connection.zcard(layer._group_key(group))


async def test_two_sockets_one_subscription_each_entry_once(head3, consultant, coordinator):
    layer = get_channel_layer()
    group = feed.group_name(head3.pk)
    a, _ = await open_feed(head3.pk, user=consultant, since=3)
    b, _ = await open_feed(head3.pk, user=coordinator, since=3)
    try:
        await receive(a)
        await receive(b)
        sub = feed_fanout.subscription(layer, head3.pk)
        assert sub is not None and len(sub.consumers) == 2
        assert await group_members(layer, group) == 1  # one channel for the process, not one per socket
        await append(head3.pk, 3)
        assert await receive_entries(a, 3) == [4, 5, 6]
        assert await receive_entries(b, 3) == [4, 5, 6]
        assert await a.receive_nothing(0.1) and await b.receive_nothing(0.05)
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_last_socket_out_unsubscribes_and_the_next_one_subscribes_again(head3, consultant):
    layer = get_channel_layer()
    group = feed.group_name(head3.pk)
    a, _ = await open_feed(head3.pk, user=consultant, since=3)
    b, _ = await open_feed(head3.pk, user=consultant, since=3)
    await receive(a)
    await receive(b)
    first = feed_fanout.subscription(layer, head3.pk)
    await a.disconnect()
    assert feed_fanout.subscription(layer, head3.pk) is first and list(first.consumers) != []
    await append(head3.pk)
    assert await receive_entries(b, 1) == [4]  # the remaining socket is still served
    await b.disconnect()
    assert feed_fanout.subscription(layer, head3.pk) is None
    assert first.closed and first.reader.done()
    assert await group_members(layer, group) == 0

    c, _ = await open_feed(head3.pk, user=consultant, since=4)
    try:
        await receive(c)
        second = feed_fanout.subscription(layer, head3.pk)
        assert second is not None and second is not first
        assert await group_members(layer, group) == 1
        await append(head3.pk)
        assert await receive_entries(c, 1) == [5]
    finally:
        await c.disconnect()
    assert feed_fanout.subscription(layer, head3.pk) is None


async def test_a_replaying_socket_gets_live_entries_only_in_order(head3, consultant, coordinator, monkeypatch):
    """Socket B is in the middle of its replay (held at its first database read) while entries
    4-6 are written: the live socket A gets them at once (the fan-out does not wait for B), and
    B gets 1..6 exactly once, in order, after its replay — never a live entry in between."""
    release = asyncio.Event()
    replaying = asyncio.Event()
    real_catch_up = consumers.MarketFeedConsumer._catch_up

    async def gated_catch_up(self):
        if self.last == 0:  # B's replay (A starts at 3)
            replaying.set()
            await release.wait()
        await real_catch_up(self)

    monkeypatch.setattr(consumers.MarketFeedConsumer, "_catch_up", gated_catch_up)
    slow_offers = []
    real_offer_locked = consumers.MarketFeedConsumer._offer_locked

    async def counting_offer_locked(self, seq, text):
        slow_offers.append(seq)
        await real_offer_locked(self, seq, text)

    monkeypatch.setattr(consumers.MarketFeedConsumer, "_offer_locked", counting_offer_locked)

    a, _ = await open_feed(head3.pk, user=consultant, since=3)
    await receive(a)
    b_task = asyncio.create_task(open_feed(head3.pk, user=coordinator, since=0))
    await asyncio.wait_for(replaying.wait(), 3)
    b, _ = await b_task
    try:
        assert await receive(b) == {"type": "hello", "market": head3.pk, "head": 3}
        await append(head3.pk, 3)
        assert await receive_entries(a, 3) == [4, 5, 6]
        assert await b.receive_nothing(0.1)  # B is still replaying: no live entry jumps the queue
        assert sorted(slow_offers) == [4, 5, 6]  # B's doorbells waited for its lock
        release.set()
        assert await receive_entries(b, 6) == [1, 2, 3, 4, 5, 6]
        assert await b.receive_nothing(0.2)  # the waiting doorbells of 4-6 were dropped
        await append(head3.pk)
        assert await receive_entries(a, 1) == [7]
        assert await receive_entries(b, 1) == [7]
    finally:
        release.set()
        await a.disconnect()
        await b.disconnect()


async def test_one_doorbell_twice_or_out_of_order_is_sent_once(head3, consultant):
    """The fan-out is only a doorbell: a repeated or late message changes nothing."""
    layer = get_channel_layer()
    a, _ = await open_feed(head3.pk, user=consultant, since=3)
    try:
        await receive(a)
        await append(head3.pk, 2)
        assert await receive_entries(a, 2) == [4, 5]
        sub = feed_fanout.subscription(layer, head3.pk)
        for seq in (5, 4, 5):
            await sub.deliver({"type": "feed.entry", "seq": seq, "text": f'{{"seq":{seq}}}'})
        assert await a.receive_nothing(0.1)
    finally:
        await a.disconnect()


class _StubWire(WebSocketProtocol):
    """A daphne websocket protocol without a connection: records what would go on the wire."""

    def __init__(self):  # noqa: D107 - no autobahn set-up needed
        self.state = self.STATE_OPEN
        self.sent = []

    def sendPreparedMessage(self, prepared):  # noqa: N802 - autobahn's name
        self.sent.append(prepared.payload)


async def test_under_daphne_the_prepared_frame_goes_straight_to_the_protocol():
    wire = _StubWire()
    server = Server.__new__(Server)
    daphne_send = functools.partial(server.handle_reply, wire)
    wrapper = InstanceSessionWrapper.__new__(InstanceSessionWrapper)
    wrapper.real_send = daphne_send
    assert feed_fanout.daphne_wire(daphne_send) is wire
    assert feed_fanout.daphne_wire(wrapper.send) is wire  # through Channels' session wrapper
    assert feed_fanout.daphne_wire(print) is None
    assert feed_fanout.daphne_wire(functools.partial(print, wire)) is None

    consumer = consumers.MarketFeedConsumer()
    consumer.market_id, consumer.closed, consumer.last, consumer.wire = 1, False, 3, wire
    consumer.lock = asyncio.Lock()
    bell = feed_fanout.Doorbell(4, '{"type":"entry","seq":4}')
    await consumer.offer(bell)
    await consumer.offer(bell)  # the same doorbell again: already sent
    assert wire.sent == [b'{"type":"entry","seq":4}'] and consumer.last == 4
    wire.state = wire.STATE_CLOSING  # closing: nothing more may go on the wire
    await consumer.offer(feed_fanout.Doorbell(5, '{"type":"entry","seq":5}'))
    assert wire.sent == [b'{"type":"entry","seq":4}']
