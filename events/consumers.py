"""The market feed websocket (DESIGN.md §5): `ws/markets/<market_id>/feed/?since=<seq>`.

The database is the source of truth, the channel layer only a doorbell. A socket joins the
market's fan-out (events/feed_fanout.py: one group subscription per process and market, which
offers every doorbell to each local socket) *before* it reads the replay, then forwards a live
entry only when its seq is above the last one sent; a live entry that skips ahead (a lost
doorbell) makes the socket read the missing entries from the database first. Replay and the
slow live path hold one asyncio.Lock, so they never interleave; the fast live path (the next
seq, lock free) writes the shared pre-serialised frame without awaiting anything first. The
heartbeat reads the head, replays whatever the doorbell missed, and re-checks the user's right
to follow the market.

Consumers never write to the database. Protocol and close codes: docs/feed.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import functools
import logging
import random
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import connection

from backend.feed import feed_entries, feed_head
from backend.schemas import DB_ID_MAX
from events import feed_fanout

log = logging.getLogger(__name__)

# Close codes (4000–4999 are free for applications). The client stops reconnecting on 4401/4403/4404.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# An unexpected server error: the client reconnects. Not 1011: daphne's websocket library
# (autobahn) refuses a server-initiated close with any code but 1000 and 3000–4999 — it raised,
# and the socket stayed open without a heartbeat.
CLOSE_SERVER_ERROR = 4500

REPLAY_CHUNK = 500
CLIENT_MESSAGE_MAX = 4096

ACCESS_OK = "ok"
ACCESS_CLOSE_CODES = {
    "unauthenticated": CLOSE_UNAUTHENTICATED,
    "forbidden": CLOSE_FORBIDDEN,
    "not_found": CLOSE_NOT_FOUND,
}


def feed_access(*, user_id: int | None, session_key: str | None, market_id: int) -> str:
    """May this user (still) follow the market's feed? Reads everything fresh from the database,
    so a role, a district or a session that ended is noticed on the next heartbeat."""
    from django.contrib.auth import get_user_model

    from backend.auth import CONSULTANT, COORDINATOR, user_roles
    from events.models import Market

    if user_id is None:
        return "unauthenticated"
    if market_id > DB_ID_MAX:  # no market has it (and the database driver could not bind it)
        return "not_found"
    if session_key is not None:
        from importlib import import_module

        store = import_module(settings.SESSION_ENGINE).SessionStore()
        if not store.exists(session_key):
            return "unauthenticated"  # logged out elsewhere
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return "unauthenticated"
    district_id = Market.objects.filter(pk=market_id).values_list("district_id", flat=True).first()
    if district_id is None:
        return "not_found"
    roles = user_roles(user)
    if COORDINATOR in roles:
        return ACCESS_OK
    if CONSULTANT in roles and user.districts.filter(pk=district_id).exists():
        return ACCESS_OK
    return "forbidden"


@functools.cache
def _heartbeat_sql() -> str | None:
    """feed_access + feed_head as one statement (the heartbeat of every socket runs it; the
    ORM version is six queries, most of their cost compiling them). None when sessions are not
    stored in the database (then the ORM version runs)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
    from importlib import import_module

    from backend.models import FeedHead
    from events.models import District, Market

    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not issubclass(store, DbSessionStore):
        return None
    q = connection.ops.quote_name

    def t(model):
        return q(model._meta.db_table)

    def col(model, name):
        return q(model._meta.get_field(name).column)

    user = get_user_model()
    session = store.get_model_class()
    groups = user._meta.get_field("groups")
    in_group = groups.remote_field.through
    consultants = District._meta.get_field("consultants")
    in_district = consultants.remote_field.through
    role = (f"EXISTS (SELECT 1 FROM {t(in_group)} ug JOIN {t(Group)} g ON g.{col(Group, 'id')} = "
            f"ug.{q(groups.m2m_reverse_name())} WHERE ug.{q(groups.m2m_column_name())} = %s AND g.{col(Group, 'name')} = %s)")
    return (
        f"SELECT (SELECT 1 FROM {t(session)} WHERE {col(session, 'session_key')} = %s), "
        f"(SELECT {col(user, 'is_active')} FROM {t(user)} WHERE {q(user._meta.pk.column)} = %s), "
        f"(SELECT {col(Market, 'district')} FROM {t(Market)} WHERE {col(Market, 'id')} = %s), "
        f"{role}, {role}, "
        f"EXISTS (SELECT 1 FROM {t(in_district)} dc JOIN {t(Market)} m ON m.{col(Market, 'district')} = "
        f"dc.{q(consultants.m2m_column_name())} WHERE dc.{q(consultants.m2m_reverse_name())} = %s AND m.{col(Market, 'id')} = %s), "
        f"(SELECT {col(FeedHead, 'head')} FROM {t(FeedHead)} WHERE {col(FeedHead, 'market_id')} = %s)"
    )


def _heartbeat_read(user_id: int | None, session_key: str | None, market_id: int) -> tuple[str, int]:
    """(feed_access(...), head): the same answer as feed_access, in one statement."""
    from backend.auth import CONSULTANT, COORDINATOR

    sql = _heartbeat_sql()
    if sql is None or user_id is None:
        access = feed_access(user_id=user_id, session_key=session_key, market_id=market_id)
        return access, (feed_head(market_id=market_id) if access == ACCESS_OK else 0)
    with connection.cursor() as cursor:
        cursor.execute(sql, [session_key or "", user_id, market_id, user_id, COORDINATOR, user_id, CONSULTANT,
                             user_id, market_id, market_id])
        has_session, active, district_id, coordinator, consultant, in_district, head = cursor.fetchone()
    if (session_key is not None and not has_session) or not active:
        access = "unauthenticated"
    elif district_id is None:
        access = "not_found"
    elif coordinator or (consultant and in_district):
        access = ACCESS_OK
    else:
        access = "forbidden"
    return access, ((head or 0) if access == ACCESS_OK else 0)


def _dumps(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"))


def _parse_since(query_string: bytes) -> int | None | str:
    """The `since` query parameter: an int ≥ 0, None when absent, "bad" when unusable."""
    values = parse_qs(query_string.decode("latin-1")).get("since")
    if not values or values[-1] == "":
        return None
    try:
        since = int(values[-1])
    except ValueError:
        return "bad"
    return since if since >= 0 else "bad"


class MarketFeedConsumer(AsyncWebsocketConsumer):
    market_id: int
    last: int = 0
    wire = None  # the daphne websocket protocol (events.feed_fanout.daphne_wire), if any

    async def __call__(self, scope, receive, send):
        # AsyncConsumer.__call__ without a channel of its own: live entries come from the
        # per-process fan-out (events/feed_fanout.py), so a socket neither needs a channel nor a
        # pending receive on it (with the in-memory layer, every layer operation walks all
        # channels, so 1,000 idle ones cost on every entry).
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = None
        self.base_send = send
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass

    async def dispatch(self, message):
        # Channels' dispatch hops to the database thread (close_old_connections) before every
        # message. A live entry needs no database, and every read here goes through
        # database_sync_to_async, which cleans up connections itself; with 200 sockets that hop
        # per entry per socket (all in one thread) was the bottleneck (bench/feed_latency.py).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.market_id = int(self.scope["url_route"]["kwargs"]["market_id"])
        self.lock = asyncio.Lock()
        self.heartbeat_task: asyncio.Task | None = None
        self.slow_tasks: set[asyncio.Task] = set()
        self.subscription: feed_fanout.Subscription | None = None
        self.joined = False
        self.closed = False
        user = self.scope.get("user")
        self.user_id = user.pk if user is not None and user.is_authenticated else None
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None) if session is not None else None

        access = await database_sync_to_async(feed_access)(
            user_id=self.user_id, session_key=self.session_key, market_id=self.market_id)
        # Accept, then close with a code: a browser never sees the code of a rejected handshake,
        # and the client must know not to reconnect.
        await self.accept()
        # Under daphne: its websocket protocol, so live frames go out prepared once per entry.
        self.wire = feed_fanout.daphne_wire(self.base_send)
        if access != ACCESS_OK:
            await self._close(ACCESS_CLOSE_CODES[access])
            return

        # Join first, read second: an entry committed in between arrives by the doorbell and is
        # dropped or forwarded by its seq, never lost. The lock is taken before the join, so a
        # doorbell offered meanwhile takes the slow path and waits for the replay.
        since = _parse_since(self.scope.get("query_string", b""))
        async with self.lock:
            try:
                self.subscription = await feed_fanout.subscribe(self.channel_layer, self.market_id, self)
            except Exception:  # the channel layer is away (Redis): the client reconnects later
                log.warning("feed of market %s: joining the group failed", self.market_id, exc_info=True)
                await self._close(CLOSE_SERVER_ERROR)
                return
            self.joined = True
            head = await database_sync_to_async(feed_head)(market_id=self.market_id)
            await self._send({"type": "hello", "market": self.market_id, "head": head})
            if since is None:
                since = head  # no position given: live entries only
            await self._start_from(since, head)
        self.heartbeat_task = asyncio.create_task(self._heartbeat())

    async def disconnect(self, code):
        self.closed = True
        if self.heartbeat_task is not None:
            self.heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.heartbeat_task
        if self.subscription is not None:
            with contextlib.suppress(Exception):
                await feed_fanout.unsubscribe(self.subscription, self)
        for task in list(self.slow_tasks):
            task.cancel()

    # --- client → server -------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.closed or not self.joined:
            return
        message = None
        if text_data is not None and len(text_data) <= CLIENT_MESSAGE_MAX:
            with contextlib.suppress(ValueError):
                message = json.loads(text_data)
        if not isinstance(message, dict):
            await self._send({"type": "error", "code": "bad_message"})
            return
        kind = message.get("type")
        if kind == "resume":
            since = message.get("since")
            if isinstance(since, bool) or not isinstance(since, int) or since < 0:
                await self._send({"type": "error", "code": "bad_since"})
                return
            async with self.lock:
                head = await database_sync_to_async(feed_head)(market_id=self.market_id)
                await self._start_from(since, head)
        elif kind == "ping":
            await self._send({"type": "pong"})
        else:
            await self._send({"type": "error", "code": "unknown_type"})

    # --- fan-out → server ---------------------------------------------------------------------

    async def offer(self, bell: feed_fanout.Doorbell) -> None:
        """A live entry from the fan-out (events/feed_fanout.py): its seq, its pre-serialised
        text, and the frame shared by every socket of the process."""
        seq = bell.seq
        if self.closed or seq <= self.last:
            return  # already sent (by the replay, or a doorbell that came twice)
        if seq == self.last + 1 and not self.lock.locked():
            # The common case: the next entry, no replay running. No await between the check and
            # the update, so nothing can interleave; write the shared frame as it is.
            self.last = seq
            wire = self.wire
            try:
                if wire is None:
                    await self.base_send(bell.frame)
                elif wire.state == wire.STATE_OPEN:  # closing or closed: nothing may be sent any more
                    feed_fanout.write_prepared(wire, bell)
            except Exception:
                # `last` already counts this entry: never leave a silent hole. The client
                # reconnects and resumes from what it has.
                log.exception("feed of market %s: writing entry %s failed", self.market_id, seq)
                await self._close(CLOSE_SERVER_ERROR)
            return
        text = bell.text
        # A replay, resume or heartbeat holds the lock, or the entry skips ahead (a lost
        # doorbell): wait for the lock in a task of our own, so the fan-out goes on to the other
        # sockets. Tasks take the lock in the order they were made (asyncio.Lock is fair).
        task = asyncio.create_task(self._offer_locked(seq, text))
        self.slow_tasks.add(task)
        task.add_done_callback(self.slow_tasks.discard)

    async def _offer_locked(self, seq: int, text: str) -> None:
        try:
            async with self.lock:
                if self.closed or seq <= self.last:
                    return  # already sent by the replay
                if seq > self.last + 1:
                    await self._catch_up()  # a doorbell was lost: the database has what is missing
                if seq == self.last + 1 and not self.closed:
                    self.last = seq
                    await self.send(text_data=text)
        except asyncio.CancelledError:
            raise
        except Exception:  # the next live entry or heartbeat catches up from the database
            log.exception("feed of market %s: live entry %s failed", self.market_id, seq)

    # --- internals (call with self.lock held) ----------------------------------------------

    async def _start_from(self, since: int | str, head: int) -> None:
        limit = settings.VM_FEED_REPLAY_LIMIT
        if since == "bad" or since > head or head - since > limit:
            # Too far behind (or ahead: the database was reset): the client reloads the snapshot
            # and reconnects. The socket itself goes on from head.
            self.last = head
            await self._send({"type": "reset", "head": head})
            return
        self.last = since
        await self._catch_up()

    async def _catch_up(self) -> None:
        """Send every entry after self.last from the database, in order, in chunks."""
        while not self.closed:
            chunk = await database_sync_to_async(feed_entries)(
                market_id=self.market_id, since=self.last, limit=REPLAY_CHUNK)
            for entry in chunk:
                if entry["seq"] != self.last + 1:
                    # Cannot happen with a gap-free feed; never send a hole the client would chase.
                    log.error("feed of market %s has a hole after seq %s", self.market_id, self.last)
                    return
                await self._send(entry)
                self.last = entry["seq"]
            if len(chunk) < REPLAY_CHUNK:
                return

    async def _heartbeat(self) -> None:
        interval = float(settings.VM_FEED_HEARTBEAT_SECONDS)
        # The first beat comes after a random part of the interval: sockets opened together (a
        # server restart, a benchmark) do not all beat, and query, in the same moment ever after.
        delay = interval * random.uniform(0.5, 1.0)
        try:
            while not self.closed:
                await asyncio.sleep(delay)
                delay = interval
                # Rights and head in one trip to the database thread, without the lock: live
                # entries keep their fast path meanwhile.
                access, head = await database_sync_to_async(_heartbeat_read)(
                    self.user_id, self.session_key, self.market_id)
                if self.closed:
                    return
                if access != ACCESS_OK:
                    await self._close(ACCESS_CLOSE_CODES[access])
                    return
                if head > self.last:  # the doorbell missed something: replay it, under the lock
                    async with self.lock:
                        if self.closed:
                            return
                        if head > self.last:
                            await self._catch_up()
                # Everything up to head is on the wire before the heartbeat (no await in between),
                # so the client never sees a heartbeat above what it has.
                await self._send({"type": "heartbeat", "head": head})
        except asyncio.CancelledError:
            raise
        except Exception:  # a heartbeat failure must not leave a silent half-dead socket
            log.exception("feed heartbeat for market %s failed", self.market_id)
            await self._close(CLOSE_SERVER_ERROR)

    async def recheck(self) -> None:
        """This user's rights changed somewhere (events.feed_fanout): check them now rather than
        at the next heartbeat, and close the socket if they ended."""
        if self.closed:
            return
        try:
            access, _head = await database_sync_to_async(_heartbeat_read)(
                self.user_id, self.session_key, self.market_id)
        except Exception:  # the heartbeat checks again
            log.exception("feed rights re-check for market %s failed", self.market_id)
            return
        if access != ACCESS_OK:
            await self._close(ACCESS_CLOSE_CODES[access])

    async def _send(self, message: dict) -> None:
        if not self.closed:
            await self.send(text_data=_dumps(message))

    async def _close(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            await self.close(code)
