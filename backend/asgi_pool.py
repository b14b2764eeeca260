"""Django's ASGI handler, run the way a WSGI server runs Django: one thread hop per request.

Django's stock ASGIHandler costs a hot API request several thread hand-offs: the
`request_started` signal, the middleware chain (adapted sync ↔ async around every sync-only
middleware), the view, and `response.close()` each cross between the event loop and a sync
thread, and every request starts a fresh thread (`ThreadSensitiveContext()`) with its own new
database connection. py-spy on the redeem bench showed the event loop busier with these
hand-offs than the request thread was with the view (bench/README.md, "Where the time goes").

Here:

* the middleware chain is loaded in **sync** mode (as under WSGI): every middleware and every
  view of this project is sync, so the whole request — `request_started`, building the
  request, middleware, view, and for a plain response `close()` with `request_finished` —
  runs in **one** `sync_to_async` call; the event loop only reads the body and writes the
  response;
* each request borrows one of `VM_ASGI_THREADS` long-lived single-thread executors for its
  whole life (asgiref's `ThreadSensitiveContext(executor=...)`): no thread is started per
  request, a request that finds every thread busy waits for one, and a process holds at most
  `VM_ASGI_THREADS` + `VM_ASGI_DOOR_THREADS` database connections for HTTP, each reused while
  `CONN_MAX_AGE` allows;
* a streaming response with a sync iterator (CSV exports, letter PDFs) is pulled one part at a
  time on the request's thread and sent as it comes, instead of Django's ASGI fallback that
  first collects the whole iterator into a list;
* the door's hot endpoints (`VM_ASGI_DOOR_PATHS`: a scan, a kiosk registration or lookup) have
  a lane of their own, `VM_ASGI_DOOR_THREADS` threads (default 1). A scan never waits behind a
  letters download or a CSV export holding the general threads, and scans do not fight each
  other for the GIL: every request thread lets go of the GIL around each database call, so
  with four threads all running scans the interpreter mostly hands the GIL around. Measured
  (bench/README.md): one thread for the scans is 20–30 % faster than four, on SQLite and on
  PostgreSQL alike.

What is given up: Django's ASGI handler cancels an *async* view when the client disconnects;
there are no async HTTP views here (websockets are Channels consumers), and a sync view cannot
be cancelled either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

_END = object()


class _Lane:
    """A fixed set of single-thread executors; a request borrows one for its whole life."""

    def __init__(self, name: str, threads: int):
        self._executors = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"vm-{name}-{i}")
                           for i in range(max(1, threads))]
        self._idle: asyncio.Queue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def idle(self) -> asyncio.Queue:
        loop = asyncio.get_running_loop()
        if self._idle is None or self._loop is not loop:  # a new loop (tests): a new queue
            self._loop = loop
            self._idle = asyncio.Queue()
            for executor in self._executors:
                self._idle.put_nowait(executor)
        return self._idle


class PooledASGIHandler(ASGIHandler):
    def __init__(self, threads: int | None = None, *, door_threads: int | None = None,
                 door_paths: Iterable[str] | None = None):
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._general = _Lane("request", threads or getattr(settings, "VM_ASGI_THREADS", 4))
        self._door = _Lane("door", door_threads or getattr(settings, "VM_ASGI_DOOR_THREADS", 1))
        self._door_paths = frozenset(getattr(settings, "VM_ASGI_DOOR_PATHS", ()) if door_paths is None
                                     else door_paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)  # before taking a thread: a slow upload holds none
        except RequestAborted:
            return
        idle = (self._door if scope["path"] in self._door_paths else self._general).idle()
        executor = await idle.get()
        try:
            # A fresh context object per request (a context with an executor is entered once);
            # the executor — the thread — is the pool's.
            async with ThreadSensitiveContext(executor=executor):
                response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
                try:
                    await self.send_response(response, send)
                except asyncio.CancelledError:  # the client went away while we were sending
                    pass
                finally:
                    if response.streaming:
                        await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            idle.put_nowait(executor)
            body_file.close()

    def _respond(self, scope, body_file):
        """Everything synchronous about one request, on the request's pool thread."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            # The content is in memory: close now (request_finished, connection upkeep) while
            # still on this thread, instead of another hop after sending.
            response.close()
        return response

    async def send_response(self, response, send):
        if not response.streaming or response.is_async:
            return await super().send_response(response, send)
        # A sync iterator: pull one part at a time on the request's thread and send it.
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": self._headers(response)})
        parts = iter(response.streaming_content)
        pull = sync_to_async(next, thread_sensitive=True)
        while (part := await pull(parts, _END)) is not _END:
            for chunk, _last in self.chunk_bytes(part):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body"})

    @staticmethod
    def _headers(response) -> list[tuple[bytes, bytes]]:
        headers = [(key.encode("ascii") if isinstance(key, str) else bytes(key),
                    value.encode("latin1") if isinstance(value, str) else bytes(value))
                   for key, value in response.items()]
        headers += [(b"Set-Cookie", c.output(header="").encode("ascii").strip()) for c in response.cookies.values()]
        return headers
