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


class _StubTransport:
    """Twisted's TCP transport as far as write_prepared looks at it."""

    TLS = False
    connected = True
    disconnecting = False
    _writeDisconnected = False
    producer = None

    def __init__(self, accept: int | None = None):
        self.accept = accept  # bytes the socket takes at once (None: all)
        self.dataBuffer, self.offset, self._tempDataLen = b"", 0, 0
        self.wire, self.queued = [], []  # sent at once / left to Twisted's buffer

    def writeSomeData(self, data):  # noqa: N802 - Twisted's name
        n = len(data) if self.accept is None else min(self.accept, len(data))
        self.wire.append(bytes(data[:n]))
        return n

    def write(self, data):
        self.queued.append(bytes(data))
        self._tempDataLen += len(data)


class _StubWire(WebSocketProtocol):
    """A daphne websocket protocol without a connection."""

    def __init__(self, transport):  # noqa: D107 - no autobahn set-up needed
        self.state = self.STATE_OPEN
        self.transport = transport
        self._perMessageCompress = None
        self.send_queue = []


def frame(text: str) -> bytes:
    return bytes([0x81, len(text)]) + text.encode()  # FIN + text, unmasked, length < 126


async def test_under_daphne_the_prepared_frame_goes_straight_to_the_socket():
    wire = _StubWire(_StubTransport())
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
    four, five, six = ('{"type":"entry","seq":%d}' % n for n in (4, 5, 6))
    await consumer.offer(feed_fanout.Doorbell(4, four))
    await consumer.offer(feed_fanout.Doorbell(4, four))  # the same doorbell again: already sent
    assert wire.transport.wire == [frame(four)] and wire.transport.queued == [] and consumer.last == 4

    # A socket that takes only part of the frame: the rest waits in Twisted's buffer, and the
    # next frame queues behind it (never overtakes it).
    wire.transport.accept = 3
    await consumer.offer(feed_fanout.Doorbell(5, five))
    await consumer.offer(feed_fanout.Doorbell(6, six))
    assert wire.transport.wire[1] == frame(five)[:3]
    assert wire.transport.queued == [frame(five)[3:], frame(six)] and consumer.last == 6

    wire.state = wire.STATE_CLOSING  # closing: nothing more may go on the wire
    await consumer.offer(feed_fanout.Doorbell(7, '{"type":"entry","seq":7}'))
    assert len(wire.transport.wire) == 2 and len(wire.transport.queued) == 2


async def test_doorbells_out_of_order_are_put_back_in_order_without_the_database(head3, consultant, monkeypatch):
    """Rings come from request threads after their commits, so seq 6 may overtake seq 5: the
    fan-out holds 6 until 5 arrives (no database read per socket); a doorbell that never comes
    is given up on after HOLD_SECONDS and the sockets read the gap from the database."""
    monkeypatch.setattr(feed_fanout, "HOLD_SECONDS", 0.2)
    layer = get_channel_layer()
    a, _ = await open_feed(head3.pk, user=consultant, since=3)
    try:
        await receive(a)
        await append(head3.pk)  # seq 4 by the ordinary doorbell
        assert await receive_entries(a, 1) == [4]
        sub = feed_fanout.subscription(layer, head3.pk)
        assert sub.next_seq == 5

        monkeypatch.setattr(feed, "ring", lambda market_id, message: None)
        await append(head3.pk, 4)  # seqs 5-8, doorbells rung by hand below
        reads = []
        real_entries = consumers.feed_entries
        monkeypatch.setattr(consumers, "feed_entries", lambda **kw: reads.append(kw) or real_entries(**kw))

        def bell(seq):
            return {"type": "feed.entry", "seq": seq, "text": feed.entry_text({"type": "entry", "seq": seq})}

        await sub.deliver(bell(6))
        assert await a.receive_nothing(0.05) and sub.held.keys() == {6}
        await sub.deliver(bell(5))
        assert await receive_entries(a, 2) == [5, 6] and reads == []  # in order, no database read

        await sub.deliver(bell(8))  # 7 never rings
        assert await receive_entries(a, 2) == [7, 8]  # after the hold: 7 read from the database
        assert len(reads) >= 1 and sub.next_seq == 9 and not sub.held
        await sub.deliver(bell(7))  # late after all: dropped
        assert await a.receive_nothing(0.1)
    finally:
        await a.disconnect()


@pytest.mark.django_db(transaction=False)
def test_the_heartbeat_statement_answers_exactly_like_feed_access(market, other_district, consultant, coordinator,
                                                                  other_consultant, host):
    """The heartbeat reads rights and head in one statement; it must agree with feed_access (the
    ORM reference, also used on connect) for every kind of user, session and market."""
    from django.contrib.sessions.models import Session

    from backend.auth import CONSULTANT, COORDINATOR
    from tests import factories as f

    inactive = f.user("gone", COORDINATOR)
    inactive.is_active = False
    inactive.save()
    both = f.user("both", CONSULTANT, COORDINATOR)
    elsewhere = f.market(other_district)
    nobody = f.user("nobody")
    session = Session.objects.create(session_key="k" * 32, session_data="", expire_date="2999-01-01T00:00:00Z")
    users = [consultant, coordinator, other_consultant, host, inactive, both, nobody]
    for user_id in [u.pk for u in users] + [None, 987654]:
        for session_key in (None, session.session_key, "no-such-session"):
            for market_id in (market.pk, elsewhere.pk, 987654):
                expected = consumers.feed_access(user_id=user_id, session_key=session_key, market_id=market_id)
                head = feed.feed_head(market_id=market_id) if expected == consumers.ACCESS_OK else 0
                assert consumers._heartbeat_read(user_id, session_key, market_id) == (expected, head), \
                    (user_id, session_key, market_id)


async def test_a_socket_whose_write_fails_is_closed_not_left_with_a_hole():
    class Broken(_StubTransport):
        def writeSomeData(self, data):  # noqa: N802
            raise RuntimeError("boom")

    consumer = consumers.MarketFeedConsumer()
    consumer.market_id, consumer.closed, consumer.last = 1, False, 3
    consumer.wire, consumer.lock = _StubWire(Broken()), asyncio.Lock()
    sent = []

    async def base_send(message):
        sent.append(message)

    consumer.base_send = base_send
    await consumer.offer(feed_fanout.Doorbell(4, '{"type":"entry","seq":4}'))
    assert consumer.closed and sent == [{"type": "websocket.close", "code": consumers.CLOSE_SERVER_ERROR}]
