"""Django's ASGI handler with a fixed pool of long-lived request threads.

Django's stock ASGIHandler runs every request in a fresh `ThreadSensitiveContext()`: the first
thread-sensitive `sync_to_async` of a request (the `request_started` signal already is one)
starts a new thread, and the end of the request joins it. Under load that is a thread start
and join per request, each blocking the event loop while the new thread waits for the GIL
(py-spy: about half of the loop's time on the redeem bench), and every request opens a new
database connection (its thread is new, and connections are per thread), so CONN_MAX_AGE
never helps.

Here each request borrows one of `VM_ASGI_THREADS` single-thread executors for its whole
life (asgiref's `ThreadSensitiveContext(executor=...)`): every thread-sensitive call of that
request (middleware, signals, a sync view, an async view's `sync_to_async`) runs on that one
thread, one request at a time, exactly as before — only the thread is reused. A request that
finds every thread busy waits for one. Database connections belong to the pool's threads, so
a process holds at most `VM_ASGI_THREADS` connections for HTTP, each reused while
`CONN_MAX_AGE` allows (Django's request_started/finished hooks still close obsolete or broken
ones).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler


class PooledASGIHandler(ASGIHandler):
    def __init__(self, threads: int | None = None):
        super().__init__()
        self.threads = threads or getattr(settings, "VM_ASGI_THREADS", 4)
        self._executors = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"vm-request-{i}")
                           for i in range(self.threads)]
        self._idle: asyncio.Queue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _queue(self) -> asyncio.Queue:
        loop = asyncio.get_running_loop()
        if self._idle is None or self._loop is not loop:  # a new loop (tests): a new queue
            self._loop = loop
            self._idle = asyncio.Queue()
            for executor in self._executors:
                self._idle.put_nowait(executor)
        return self._idle

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        idle = self._queue()
        executor = await idle.get()
        try:
            # A fresh context object per request (a context with an executor is entered once);
            # the executor — the thread — is the pool's.
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            idle.put_nowait(executor)
