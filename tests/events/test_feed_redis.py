"""Two server processes in spirit: two separate RedisChannelLayer objects on the same Redis.
An entry appended through one process's layer reaches a socket served with the other."""

from __future__ import annotations

import uuid

import pytest
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels_redis.core import RedisChannelLayer
from django.urls import re_path

from backend import feed
from events.consumers import MarketFeedConsumer
from tests.events.test_feed_consumer import append, open_feed, receive, receive_entries

pytestmark = pytest.mark.django_db(transaction=True)

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def two_processes(monkeypatch, settings):
    # A long heartbeat: the entry must come by the Redis doorbell, not by the heartbeat's catch-up.
    settings.VM_FEED_HEARTBEAT_SECONDS = 60
    prefix = f"vm_feedtest_{uuid.uuid4().hex[:8]}"
    original_default = channel_layers.backends.get("default")
    writer = RedisChannelLayer(hosts=[REDIS], prefix=prefix)
    server = RedisChannelLayer(hosts=[REDIS], prefix=prefix)
    assert writer is not server and original_default not in (writer, server)
    # Process A writes: feed_append rings through the default layer.
    monkeypatch.setattr(channel_layers, "backends", {"default": writer, "process_b": server})
    # Process B serves the socket with its own layer object.
    app = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter([
        re_path(r"^ws/markets/(?P<market_id>\d+)/feed/?$",
                MarketFeedConsumer.as_asgi(channel_layer_alias="process_b")),
    ])))
    yield app, writer, server
    from django.db import connections

    await database_sync_to_async(connections.close_all)()
    await writer.flush()
    await writer.close_pools()
    await server.close_pools()


async def follow_on_process_b(app, market, user):
    """A socket served by process B, from the current head, past its hello."""
    head = await database_sync_to_async(feed.feed_head)(market_id=market.pk)
    comm, connected = await open_feed(market.pk, user=user, since=head, app=app)
    assert connected and (await receive(comm))["type"] == "hello"
    return comm


async def test_entry_through_one_layer_reaches_a_socket_on_the_other(two_processes, market, consultant):
    app, _writer, _server = two_processes
    comm = await follow_on_process_b(app, market, consultant)
    try:
        assert await comm.receive_nothing(0.1)
        seqs = await append(market.pk, 3)
        assert await receive_entries(comm, 3) == seqs
        assert await comm.receive_nothing(0.2)
    finally:
        await comm.disconnect()


async def test_the_doorbell_really_travels_through_redis(two_processes, market, consultant):
    """Sanity check of the set-up: a group message sent with the writer's layer object lands on
    the server's channel, so nothing above is delivered in-process."""
    _app, writer, server = two_processes
    channel = await server.new_channel()
    await server.group_add(feed.group_name(market.pk), channel)
    await writer.group_send(feed.group_name(market.pk), {"type": "feed.entry", "entry": {"seq": 1}})
    message = await server.receive(channel)
    assert message == {"type": "feed.entry", "entry": {"seq": 1}}
    await server.group_discard(feed.group_name(market.pk), channel)


async def test_rights_that_end_in_one_process_close_the_socket_in_the_other(two_processes, market, district,
                                                                             consultant):
    """backend.feed.rights_changed travels through Redis too: the district is taken away in
    process A, and B closes the consultant's socket at once (the heartbeat is 60 s here)."""
    from events.consumers import CLOSE_FORBIDDEN
    from tests.events.test_feed_consumer import expect_close

    app, _writer, _server = two_processes
    comm = await follow_on_process_b(app, market, consultant)
    try:
        await database_sync_to_async(district.consultants.remove)(consultant)
        await expect_close(comm, CLOSE_FORBIDDEN)
    finally:
        await comm.disconnect()
