"""The market feed websocket (DESIGN.md §5) through the real ASGI router: origin check, session
auth, hello/replay/live, resume, reset, heartbeat and rights that end while connected."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client as DjangoClient

from backend import feed
from backend.asgi import router
from backend.auth import CONSULTANT, HOST
from events import consumers
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://127.0.0.1:8000"
TIMEOUT = 3


@pytest.fixture(autouse=True)
def _fresh_channel_layer(monkeypatch):
    # A fresh layer object per test: each test runs on its own event loop.
    monkeypatch.setattr(channel_layers, "backends", {})


@pytest.fixture(autouse=True)
async def _close_worker_connection():
    yield
    # database_sync_to_async runs in one worker thread; close its connection so the test
    # database can be dropped (PostgreSQL refuses while a session is open).
    from django.db import connections

    await database_sync_to_async(connections.close_all)()


def session_cookie(user) -> str:
    c = DjangoClient()
    c.force_login(user)
    return c.cookies[settings.SESSION_COOKIE_NAME].value


async def open_feed(market_id: int, *, user=None, since: int | str | None = None, origin: bytes | None = ORIGIN,
                    app=None, cookie: str | None = None) -> tuple[WebsocketCommunicator, bool]:
    headers = [(b"host", b"127.0.0.1:8000")] + ([(b"origin", origin)] if origin is not None else [])
    if user is not None and cookie is None:
        cookie = await database_sync_to_async(session_cookie)(user)
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    path = f"/ws/markets/{market_id}/feed/" + (f"?since={since}" if since is not None else "")
    comm = WebsocketCommunicator(app or router, path, headers=headers)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    return comm, connected


def append_sync(market_id: int, n: int = 1) -> list[int]:
    return [feed.feed_append(market_id=market_id, kind="invitations.issued", data={"count": 1, "total": i}).seq
            for i in range(n)]


async def append(market_id: int, n: int = 1) -> list[int]:
    return await database_sync_to_async(append_sync)(market_id, n)


async def receive(comm: WebsocketCommunicator) -> dict:
    return await comm.receive_json_from(timeout=TIMEOUT)


async def receive_entries(comm: WebsocketCommunicator, n: int) -> list[int]:
    seqs = []
    for _ in range(n):
        message = await receive(comm)
        assert message["type"] == "entry", message
        seqs.append(message["seq"])
    return seqs


async def expect_close(comm: WebsocketCommunicator, code: int) -> None:
    output = await comm.receive_output(timeout=TIMEOUT)
    assert output == {"type": "websocket.close", "code": code}


@pytest.fixture
def head3(market):
    """The market (opening it wrote seq 1) with three entries in all."""
    append_sync(market.pk, 3 - feed.feed_head(market_id=market.pk))
    assert feed.feed_head(market_id=market.pk) == 3
    return market


async def test_hello_replay_then_live(head3, consultant):
    comm, connected = await open_feed(head3.pk, user=consultant, since=0)
    assert connected
    try:
        assert await receive(comm) == {"type": "hello", "market": head3.pk, "head": 3}
        first = await receive(comm)
        assert first["type"] == "entry" and first["seq"] == 1 and first["kind"] == "market.opened"
        assert set(first) == {"type", "seq", "kind", "at", "data"}
        assert await receive_entries(comm, 2) == [2, 3]
        assert await comm.receive_nothing(0.1)
        await append(head3.pk, 2)
        assert await receive_entries(comm, 2) == [4, 5]
        assert await comm.receive_nothing(0.1)
    finally:
        await comm.disconnect()


async def test_since_in_the_middle(head3, coordinator):
    await append(head3.pk, 2)
    comm, connected = await open_feed(head3.pk, user=coordinator, since=2)
    assert connected
    try:
        assert (await receive(comm))["head"] == 5
        assert await receive_entries(comm, 3) == [3, 4, 5]
        assert await comm.receive_nothing(0.1)
    finally:
        await comm.disconnect()


async def test_without_since_only_live_entries(head3, consultant):
    comm, _ = await open_feed(head3.pk, user=consultant)
    try:
        assert (await receive(comm))["head"] == 3
        assert await comm.receive_nothing(0.1)
        await append(head3.pk)
        assert await receive_entries(comm, 1) == [4]
    finally:
        await comm.disconnect()


async def test_resume_replays_from_the_database(head3, consultant):
    comm, _ = await open_feed(head3.pk, user=consultant, since=3)
    try:
        await receive(comm)  # hello
        assert await comm.receive_nothing(0.1)
        await comm.send_json_to({"type": "resume", "since": 1})
        assert await receive_entries(comm, 2) == [2, 3]
        await append(head3.pk)
        assert await receive_entries(comm, 1) == [4]
        assert await comm.receive_nothing(0.1)
    finally:
        await comm.disconnect()


async def test_live_entry_after_a_lost_doorbell_fills_the_gap_first(head3, consultant, monkeypatch):
    comm, _ = await open_feed(head3.pk, user=consultant, since=3)
    try:
        await receive(comm)  # hello
        rings = feed.ring
        monkeypatch.setattr(feed, "ring", lambda market_id, message: None)  # doorbells lost
        await append(head3.pk, 3)
        assert await comm.receive_nothing(0.1)
        monkeypatch.setattr(feed, "ring", rings)
        await append(head3.pk)
        assert await receive_entries(comm, 4) == [4, 5, 6, 7]
        assert await comm.receive_nothing(0.1)
    finally:
        await comm.disconnect()


async def test_heartbeat_replays_what_a_lost_doorbell_missed(head3, consultant, monkeypatch, settings):
    settings.VM_FEED_HEARTBEAT_SECONDS = 0.3
    monkeypatch.setattr(feed, "ring", lambda market_id, message: None)
    comm, _ = await open_feed(head3.pk, user=consultant, since=3)
    try:
        await receive(comm)  # hello
        await append(head3.pk, 2)
        assert await receive_entries(comm, 2) == [4, 5]
        assert await receive(comm) == {"type": "heartbeat", "head": 5}
    finally:
        await comm.disconnect()


async def test_reset_when_too_far_behind_or_ahead(head3, consultant, settings):
    settings.VM_FEED_REPLAY_LIMIT = 2
    await append(head3.pk, 2)  # head 5
    comm, _ = await open_feed(head3.pk, user=consultant, since=2)
    try:
        assert (await receive(comm))["type"] == "hello"
        assert await receive(comm) == {"type": "reset", "head": 5}
        assert await comm.receive_nothing(0.1)
        # The socket goes on from head; a resume within the limit replays, one too far resets.
        await comm.send_json_to({"type": "resume", "since": 3})
        assert await receive_entries(comm, 2) == [4, 5]
        await comm.send_json_to({"type": "resume", "since": 0})
        assert await receive(comm) == {"type": "reset", "head": 5}
        await comm.send_json_to({"type": "resume", "since": 9})
        assert await receive(comm) == {"type": "reset", "head": 5}
    finally:
        await comm.disconnect()
    for since in (6, 1000, "x", -1):
        comm, _ = await open_feed(head3.pk, user=consultant, since=since)
        try:
            assert await receive(comm) == {"type": "hello", "market": head3.pk, "head": 5}
            assert await receive(comm) == {"type": "reset", "head": 5}
        finally:
            await comm.disconnect()


async def test_replay_in_chunks_is_complete_and_ordered(head3, consultant, monkeypatch):
    monkeypatch.setattr(consumers, "REPLAY_CHUNK", 4)
    await append(head3.pk, 10)
    comm, _ = await open_feed(head3.pk, user=consultant, since=0)
    try:
        assert (await receive(comm))["head"] == 13
        assert await receive_entries(comm, 13) == list(range(1, 14))
        assert await comm.receive_nothing(0.1)
    finally:
        await comm.disconnect()


@pytest.mark.parametrize("moment", ["before_head", "after_head"])
async def test_entry_written_between_join_and_replay_is_delivered_once(head3, consultant, monkeypatch, moment):
    """The join happens before the replay read; an entry committed around the read arrives both
    by replay and by doorbell (or only by doorbell) and must reach the client exactly once."""
    real_head, real_entries = consumers.feed_head, consumers.feed_entries
    written = []

    def write_once():
        if not written:
            written.extend(append_sync(head3.pk))

    def head_then_maybe_write(**kw):
        if moment == "before_head":
            write_once()
        head = real_head(**kw)
        if moment == "after_head":
            write_once()
        return head

    monkeypatch.setattr(consumers, "feed_head", head_then_maybe_write)
    monkeypatch.setattr(consumers, "feed_entries", lambda **kw: real_entries(**kw))
    comm, _ = await open_feed(head3.pk, user=consultant, since=0)
    try:
        hello = await receive(comm)
        assert hello["head"] == (4 if moment == "before_head" else 3)
        assert await receive_entries(comm, 4) == [1, 2, 3, 4]
        assert await comm.receive_nothing(0.3)  # the doorbell of seq 4 came too, and was dropped
        await append(head3.pk)
        assert await receive_entries(comm, 1) == [5]
    finally:
        await comm.disconnect()


async def test_malformed_client_messages_never_break_the_socket(head3, consultant):
    comm, _ = await open_feed(head3.pk, user=consultant, since=3)
    try:
        await receive(comm)
        for text in ["not json", "[1,2]", '{"type": "resume"}', '{"type": "resume", "since": "a"}',
                     '{"type": "resume", "since": true}', '{"type": "dance"}', "x" * 10_000, "null"]:
            await comm.send_to(text_data=text)
            assert (await receive(comm))["type"] == "error"
        await comm.send_to(bytes_data=b"\x00\x01")
        assert (await receive(comm))["type"] == "error"
        await comm.send_json_to({"type": "ping"})
        assert await receive(comm) == {"type": "pong"}
        await append(head3.pk)
        assert await receive_entries(comm, 1) == [4]
    finally:
        await comm.disconnect()


# --- who may follow a market ----------------------------------------------------------------


async def test_anonymous_is_closed_4401(head3):
    comm, connected = await open_feed(head3.pk)
    assert connected
    await expect_close(comm, consumers.CLOSE_UNAUTHENTICATED)
    await comm.disconnect()


@pytest.mark.parametrize("who", ["host", "other_consultant", "no_role"])
async def test_others_are_closed_4403_and_get_no_entries(head3, who, host, other_consultant):
    user = {"host": host, "other_consultant": other_consultant}.get(who)
    if user is None:
        user = await database_sync_to_async(f.user)("nobody")
    comm, connected = await open_feed(head3.pk, user=user, since=0)
    assert connected
    await expect_close(comm, consumers.CLOSE_FORBIDDEN)
    await append(head3.pk)
    assert await comm.receive_nothing(0.1)
    await comm.disconnect()


@pytest.mark.parametrize("market_id", [987654, 2**63, 10**30])
async def test_unknown_market_is_closed_4404(coordinator, market_id):
    """Also an id no database could hold: 4404, not an error inside the driver."""
    comm, _ = await open_feed(market_id, user=coordinator)
    await expect_close(comm, consumers.CLOSE_NOT_FOUND)
    await comm.disconnect()


@pytest.mark.parametrize("origin", [b"https://evil.example", b"null", b"http://127.0.0.1.evil.example:8000"])
async def test_foreign_origin_is_rejected(head3, consultant, origin):
    comm, connected = await open_feed(head3.pk, user=consultant, origin=origin)
    assert not connected
    await comm.disconnect()


async def test_no_origin_header_is_a_non_browser_client_and_needs_its_own_session(head3, consultant):
    """Browsers always send Origin; a client without it (a script, a monitor) rides no cookies."""
    comm, connected = await open_feed(head3.pk, user=consultant, origin=None, since=3)
    assert connected and (await receive(comm))["type"] == "hello"
    await comm.disconnect()
    anonymous, _ = await open_feed(head3.pk, origin=None)
    await expect_close(anonymous, consumers.CLOSE_UNAUTHENTICATED)
    await anonymous.disconnect()


async def test_rights_removed_while_connected_close_on_the_next_heartbeat(head3, consultant, district, settings):
    settings.VM_FEED_HEARTBEAT_SECONDS = 0.3
    comm, _ = await open_feed(head3.pk, user=consultant, since=3)
    try:
        await receive(comm)  # hello
        assert await receive(comm) == {"type": "heartbeat", "head": 3}
        await database_sync_to_async(district.consultants.remove)(consultant)
        await expect_close(comm, consumers.CLOSE_FORBIDDEN)
    finally:
        await comm.disconnect()


async def test_role_taken_away_or_logout_closes_the_stream(head3, district, settings):
    settings.VM_FEED_HEARTBEAT_SECONDS = 0.3

    def consultant_in_district(name):
        return f.user(name, CONSULTANT, districts=(district,))

    user = await database_sync_to_async(consultant_in_district)("c_role")
    comm, _ = await open_feed(head3.pk, user=user, since=3)
    try:
        await receive(comm)
        await database_sync_to_async(user.groups.clear)()
        await expect_close(comm, consumers.CLOSE_FORBIDDEN)
    finally:
        await comm.disconnect()

    user = await database_sync_to_async(consultant_in_district)("c_logout")
    comm, _ = await open_feed(head3.pk, user=user, since=3)
    try:
        await receive(comm)

        def end_sessions():
            from django.contrib.sessions.models import Session
            Session.objects.all().delete()

        await database_sync_to_async(end_sessions)()
        await expect_close(comm, consumers.CLOSE_UNAUTHENTICATED)
    finally:
        await comm.disconnect()


async def test_rights_that_end_close_the_stream_at_once_not_at_the_heartbeat(head3, district, settings):
    """backend.feed.rights_changed: a district or a role taken away, the account deactivated, a
    logout close that user's sockets at once; the heartbeat (60 s here) is only the safety net.
    Another user's socket stays open and keeps receiving."""
    settings.VM_FEED_HEARTBEAT_SECONDS = 60

    def logged_in_consultant(name):
        user = f.user(name, CONSULTANT, districts=(district,))
        http = DjangoClient()
        http.force_login(user)
        return user, http

    async def following(name):
        user, http = await database_sync_to_async(logged_in_consultant)(name)
        comm, connected = await open_feed(head3.pk, cookie=http.cookies[settings.SESSION_COOKIE_NAME].value,
                                          since=3)
        assert connected and (await receive(comm))["type"] == "hello"
        return user, http, comm

    def deactivate(user, _http):
        user.is_active = False
        user.save(update_fields=["is_active"])

    def log_out(_user, http):
        assert http.post("/api/v1/auth/logout").status_code in (200, 204)

    ends = [
        (lambda user, _http: district.consultants.remove(user), consumers.CLOSE_FORBIDDEN),
        (lambda user, _http: user.districts.clear(), consumers.CLOSE_FORBIDDEN),
        (lambda user, _http: user.groups.clear(), consumers.CLOSE_FORBIDDEN),
        (deactivate, consumers.CLOSE_UNAUTHENTICATED),
        (log_out, consumers.CLOSE_UNAUTHENTICATED),
    ]
    _bystander, _http, watching = await following("c_stays")
    try:
        for i, (end, code) in enumerate(ends):
            user, http, comm = await following(f"c_ends_{i}")
            try:
                await database_sync_to_async(end)(user, http)
                await expect_close(comm, code)  # within TIMEOUT (3 s), not the 60 s heartbeat
            finally:
                await comm.disconnect()
        await append(head3.pk)
        assert (await receive(watching))["seq"] == 4  # still open, still live
    finally:
        await watching.disconnect()


async def test_host_with_role_change_is_noticed(head3, district, settings):
    """A host who becomes a consultant of the district may follow from the next connect."""
    user = await database_sync_to_async(f.user)("hostess", HOST)
    comm, _ = await open_feed(head3.pk, user=user)
    await expect_close(comm, consumers.CLOSE_FORBIDDEN)
    await comm.disconnect()

    def promote():
        from backend.auth import grant_role
        grant_role(user, CONSULTANT)
        district.consultants.add(user)

    await database_sync_to_async(promote)()
    comm, _ = await open_feed(head3.pk, user=user)
    try:
        assert (await receive(comm))["type"] == "hello"
    finally:
        await comm.disconnect()


async def test_many_sockets_each_get_every_entry_once(head3, consultant, coordinator):
    comms = []
    try:
        for i in range(5):
            comm, _ = await open_feed(head3.pk, user=consultant if i % 2 else coordinator, since=3)
            await receive(comm)
            comms.append(comm)
        await append(head3.pk, 3)
        results = await asyncio.gather(*(receive_entries(c, 3) for c in comms))
        assert results == [[4, 5, 6]] * 5
        for c in comms:
            assert await c.receive_nothing(0.05)
    finally:
        for c in comms:
            await c.disconnect()
