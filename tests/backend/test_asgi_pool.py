"""backend.asgi_pool: requests run on a fixed pool of reused threads (no thread per request)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.core.signals import request_finished, request_started
from django.http import StreamingHttpResponse
from django.urls import path as url

from backend.asgi_pool import PooledASGIHandler

EVENTS: list[str] = []


def streaming_view(request):
    def parts():
        for i in range(3):
            EVENTS.append(f"pulled {i} on {threading.current_thread().name}")
            yield f"part {i};".encode()

    return StreamingHttpResponse(parts(), content_type="text/plain")


urlpatterns = [url("stream", streaming_view)]


async def _get(app, path: str, events: list | None = None) -> int:
    status = {}
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        if message["type"] == "http.response.start":
            status["code"] = message["status"]
        elif events is not None and message.get("body"):
            events.append(f"sent {message['body'].decode()}")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await app(scope, receive, send)
    return status["code"]


@pytest.mark.django_db(transaction=True)
def test_requests_share_the_pool_threads():
    names: list[str] = []

    def seen(**kwargs):
        names.append(threading.current_thread().name)

    request_started.connect(seen)
    try:
        app = PooledASGIHandler(threads=2)

        async def run():
            return await asyncio.gather(*(_get(app, "/healthz") for _ in range(12)))

        assert asyncio.run(run()) == [200] * 12
    finally:
        request_started.disconnect(seen)
    assert len(names) == 12
    assert all(name.startswith("vm-request-") for name in names)
    assert len(set(names)) <= 2  # 12 requests, 2 threads: reused, never one per request


def test_only_http():
    app = PooledASGIHandler(threads=1)
    with pytest.raises(ValueError):
        asyncio.run(app({"type": "websocket"}, None, None))


@pytest.mark.django_db(transaction=True)
def test_one_request_runs_on_one_thread_from_request_started_to_request_finished():
    seen: list[tuple[str, str]] = []

    def started(**kwargs):
        seen.append(("started", threading.current_thread().name))

    def finished(**kwargs):
        seen.append(("finished", threading.current_thread().name))

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        assert asyncio.run(_get(PooledASGIHandler(threads=1), "/healthz")) == 200
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert [event for event, _t in seen] == ["started", "finished"]
    assert seen[0][1] == seen[1][1] and seen[0][1].startswith("vm-request-")


@pytest.mark.urls("tests.backend.test_asgi_pool")
@pytest.mark.django_db(transaction=True)
def test_a_sync_streaming_response_is_sent_part_by_part_from_the_request_thread():
    EVENTS.clear()
    assert asyncio.run(_get(PooledASGIHandler(threads=1), "/stream", EVENTS)) == 200
    # Each part is sent before the next is pulled (not collected into a list first), and
    # pulled on the request's pool thread.
    assert [e.split(" on ")[0] for e in EVENTS] == [
        "pulled 0", "sent part 0;", "pulled 1", "sent part 1;", "pulled 2", "sent part 2;"]
    assert all(e.split(" on ")[1].startswith("vm-request-") for e in EVENTS if e.startswith("pulled"))


@pytest.mark.django_db(transaction=True)
def test_door_paths_have_their_own_lane():
    names: list[tuple[str, str]] = []

    def seen(scope, **kwargs):
        names.append((scope["path"], threading.current_thread().name))

    request_started.connect(seen)
    try:
        app = PooledASGIHandler(threads=2, door_threads=1, door_paths={"/healthz"})

        async def run():
            return await asyncio.gather(*(_get(app, path) for path in ["/healthz", "/nope"] * 4))

        assert asyncio.run(run()) == [200, 404] * 4
    finally:
        request_started.disconnect(seen)
    door = {name for path, name in names if path == "/healthz"}
    general = {name for path, name in names if path == "/nope"}
    assert len(door) == 1 and next(iter(door)).startswith("vm-door-")  # one door thread, reused
    assert general and all(name.startswith("vm-request-") for name in general)


def test_the_door_paths_are_real_routes():
    """A renamed endpoint must not silently leave the door's lane."""
    from django.conf import settings
    from django.urls import resolve

    assert settings.VM_ASGI_DOOR_PATHS
    for path in settings.VM_ASGI_DOOR_PATHS:
        resolve(path)  # Resolver404 when the route is gone


@pytest.mark.django_db(transaction=True)
def test_a_request_waiting_for_its_body_holds_no_thread():
    """With one thread, a request whose body is still arriving must not block the next one."""
    app = PooledASGIHandler(threads=1)

    async def run():
        body_arrives = asyncio.Event()
        statuses = {}

        async def slow_receive():
            await body_arrives.wait()
            return {"type": "http.request", "body": b"", "more_body": False}

        async def slow_send(message):
            if message["type"] == "http.response.start":
                statuses["slow"] = message["status"]

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/healthz", "raw_path": b"/healthz", "query_string": b"",
                 "root_path": "", "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80)}
        slow = asyncio.ensure_future(app(scope, slow_receive, slow_send))
        fast = await asyncio.wait_for(_get(app, "/healthz"), 10)  # not stuck behind `slow`
        assert not slow.done()
        body_arrives.set()
        await asyncio.wait_for(slow, 10)
        return fast, statuses["slow"]

    assert asyncio.run(run()) == (200, 200)
