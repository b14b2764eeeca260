"""backend.asgi_pool: requests run on a fixed pool of reused threads (no thread per request)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.core.signals import request_started

from backend.asgi_pool import PooledASGIHandler


async def _get(app, path: str) -> int:
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
