"""Settle the process's start-up heap out of the garbage collector's way.

A loaded Django + ninja + Channels process holds ~130,000 objects that live until it exits
(modules, classes, URL patterns, schemas, settings). CPython's full (generation 2) collection
walks all of them every time it runs, and it runs whenever enough objects have survived into
the old generation since the last one — which request objects do under load. On the reference
machine one full collection of that heap took 26–85 ms depending on the session (bench/README.md,
"Garbage collector"), with the GIL held: every request and every websocket frame of the process
waits. `gc.freeze()` moves everything alive at start-up into the permanent generation, which
collections skip, so a full collection only walks what requests and sockets have made since.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Load what the first request would load lazily, collect start-up garbage, freeze the rest.
    Called once, at the end of backend.asgi (the server's start)."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 — imports every app's urls, views, APIs and schemas
    get_resolver()._populate()
    gc.collect()
    gc.freeze()
