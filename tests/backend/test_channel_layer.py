"""With REDIS_URL, the channel layer really crosses processes: a group message sent through one
RedisChannelLayer instance reaches a channel that joined the group through another instance.

Redis always runs on the development machines and in CI (.ci/run starts it), so there is no
skip: without Redis this test fails.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from channels_redis.core import RedisChannelLayer

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def make_layer(prefix: str) -> RedisChannelLayer:
    return RedisChannelLayer(hosts=[REDIS_URL], prefix=prefix, expiry=10, group_expiry=60)


async def test_group_message_crosses_two_layer_instances():
    prefix = f"vm_test_layer_{uuid.uuid4().hex}"
    sender, receiver = make_layer(prefix), make_layer(prefix)
    assert sender is not receiver
    group = f"market_{uuid.uuid4().hex[:8]}"
    try:
        channel = await receiver.new_channel()
        await receiver.group_add(group, channel)
        await sender.group_send(group, {"type": "feed.entry", "seq": 7, "kind": "checkin.created"})
        message = await asyncio.wait_for(receiver.receive(channel), timeout=5)
        assert message == {"type": "feed.entry", "seq": 7, "kind": "checkin.created"}

        await receiver.group_discard(group, channel)
        await sender.group_send(group, {"type": "feed.entry", "seq": 8})
        try:
            extra = await asyncio.wait_for(receiver.receive(channel), timeout=0.5)
        except asyncio.TimeoutError:
            extra = None
        assert extra is None
    finally:
        await sender.flush()
        await receiver.close_pools()
        await sender.close_pools()


async def test_layers_with_different_prefixes_do_not_see_each_other():
    group = "market_shared_name"
    one = make_layer(f"vm_test_a_{uuid.uuid4().hex}")
    two = make_layer(f"vm_test_b_{uuid.uuid4().hex}")
    try:
        channel = await two.new_channel()
        await two.group_add(group, channel)
        await one.group_send(group, {"type": "feed.entry", "seq": 1})
        try:
            message = await asyncio.wait_for(two.receive(channel), timeout=0.5)
        except asyncio.TimeoutError:
            message = None
        assert message is None
    finally:
        await one.flush()
        await two.flush()
        await one.close_pools()
        await two.close_pools()
