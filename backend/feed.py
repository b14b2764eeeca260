"""The one function that writes to the market feed and rings the channel layer.

`feed_append` must run inside the transaction of the change it reports. It takes the next
seq from the market's counter row (locked with select_for_update(), so commit order equals
seq order), writes the entry, and after commit sends it to the market's group.

The send after commit never blocks a sync request thread: when the ASGI server's event loop
is known (recorded by backend.asgi on its first call), the send is scheduled on that loop with
call_soon_threadsafe and the request goes on. Without a running server loop (management
commands, plain tests) the send is made synchronously. A lost doorbell is harmless: the
consumer also polls the head on its heartbeat and replays from the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from backend.feed_kinds import KINDS
from backend.models import FeedEntry, FeedHead

log = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None


def bind_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _server_loop
    _server_loop = loop


def group_name(market_id: int) -> str:
    return f"market.{market_id}.feed"


def feed_init(*, market_id: int) -> None:
    FeedHead.objects.get_or_create(market_id=market_id)


def feed_append(*, market_id: int, kind: str, data: dict[str, Any] | Any) -> FeedEntry:
    schema = KINDS.get(kind)
    if schema is None:
        raise ValueError(f"unknown feed kind {kind!r}")
    payload = (data if isinstance(data, schema) else schema.model_validate(data)).model_dump(mode="json")
    # savepoint=False: inside the caller's transaction (the usual case) no SAVEPOINT round
    # trips; alone it is its own transaction. The counter row is locked with
    # select_for_update() (commit order = seq order), read without ORDER BY.
    with transaction.atomic(savepoint=False):
        locked = FeedHead.objects.select_for_update().filter(market_id=market_id).values_list("head", flat=True)
        found = list(locked[:1])
        if not found:  # a market made before feed_init existed
            FeedHead.objects.get_or_create(market_id=market_id)
            found = list(locked[:1])
        seq = found[0] + 1
        FeedHead.objects.filter(market_id=market_id).update(head=seq)
        entry = FeedEntry(market_id=market_id, seq=seq, kind=kind, data=payload, at=timezone.now())
        entry.save(force_insert=True)
    message = entry.as_message()
    transaction.on_commit(lambda: ring(market_id, message))
    return entry


def feed_head(*, market_id: int) -> int:
    return FeedHead.objects.filter(market_id=market_id).values_list("head", flat=True).first() or 0


def feed_entries(*, market_id: int, since: int, limit: int | None = None) -> list[dict]:
    qs = FeedEntry.objects.filter(market_id=market_id, seq__gt=since).order_by("seq")
    if limit is not None:
        qs = qs[:limit]
    return [
        {"type": "entry", "seq": seq, "kind": kind, "at": at.isoformat(), "data": data}
        for seq, kind, at, data in qs.values_list("seq", "kind", "at", "data")
    ]


def entry_text(message: dict) -> str:
    """The websocket frame of an entry: serialised once, sent as is to every socket."""
    return json.dumps(message, separators=(",", ":"))


async def _send(market_id: int, message: dict) -> None:
    try:
        # The group message carries the seq and the pre-serialised frame (not the dict):
        # every consumer forwards the text without encoding it again.
        await get_channel_layer().group_send(
            group_name(market_id), {"type": "feed.entry", "seq": message["seq"], "text": entry_text(message)}
        )
    except Exception:  # the entry is durable; sockets catch up on heartbeat/resume
        log.exception("feed ring for market %s seq %s failed", market_id, message.get("seq"))


def ring(market_id: int, message: dict) -> None:
    loop = _server_loop
    if loop is not None and loop.is_running() and not loop.is_closed():
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            loop.create_task(_send(market_id, message))
        else:
            loop.call_soon_threadsafe(lambda: loop.create_task(_send(market_id, message)))
        return
    async_to_sync(_send)(market_id, message)
