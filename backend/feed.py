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

from backend import rawsql
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
    at = timezone.now()
    # savepoint=False: inside the caller's transaction (the usual case) no SAVEPOINT round
    # trips; alone it is its own transaction. Two statements, written once (backend.rawsql):
    # `UPDATE … SET head = head + 1 … RETURNING head` takes the next seq and holds the counter
    # row's lock until commit (commit order = seq order), then the entry is inserted.
    with transaction.atomic(savepoint=False):
        _count, row = rawsql.execute(_next_seq_sql(), [market_id])
        if row is None:  # a market made before feed_init existed
            feed_init(market_id=market_id)
            _count, row = rawsql.execute(_next_seq_sql(), [market_id])
        seq = row[0]
        rawsql.insert(FeedEntry, {"market_id": market_id, "seq": seq, "kind": kind, "data": payload, "at": at})
    entry = FeedEntry(market_id=market_id, seq=seq, kind=kind, data=payload, at=at)  # as stored (no pk read back)
    message = entry.as_message()
    transaction.on_commit(lambda: ring(market_id, message))
    return entry


@rawsql.statement
def _next_seq_sql() -> str:
    q = rawsql.q
    return (f"UPDATE {rawsql.table(FeedHead)} SET {q('head')} = {q('head')} + 1 "
            f"WHERE {q('market_id')} = %s RETURNING {q('head')}")


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
    _dispatch(_send, market_id, message)


# Every process's feed subscriptions also listen here (events.feed_fanout): "these users' rights
# may have ended, check their sockets now".
RIGHTS_GROUP = "feed.rights"


def rights_changed(*, user_ids=None) -> None:
    """Someone's right to follow market feeds may have ended — a role or a district taken away,
    an account deactivated or deleted, a session ended. After commit, every process checks the
    open feed sockets of these users at once (`user_ids=None`: every socket) and closes those
    that lost their right (4403/4401), instead of at their next heartbeat (up to
    VM_FEED_HEARTBEAT_SECONDS later, which remains the safety net when this message is lost)."""
    users = None if user_ids is None else sorted({int(pk) for pk in user_ids})
    if users == []:
        return
    message = {"type": "feed.recheck", "users": users}
    transaction.on_commit(lambda: _dispatch(_send_rights, message))


async def _send_rights(message: dict) -> None:
    try:
        await get_channel_layer().group_send(RIGHTS_GROUP, message)
    except Exception:  # the heartbeat re-checks anyway
        log.exception("feed rights message failed")


def _dispatch(send, *args) -> None:
    """Run the async `send(*args)` on the server's loop without waiting for it (from a request
    thread, call_soon_threadsafe); without a running server loop, synchronously."""
    loop = _server_loop
    if loop is not None and loop.is_running() and not loop.is_closed():
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            loop.create_task(send(*args))
        else:
            loop.call_soon_threadsafe(lambda: loop.create_task(send(*args)))
        return
    async_to_sync(send)(*args)
