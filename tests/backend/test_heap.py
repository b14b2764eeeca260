"""The server's start settles the loaded app out of the garbage collector's way (backend/heap.py)."""

import gc


def test_the_server_start_freezes_the_loaded_heap():
    import backend.asgi  # noqa: F401 — the server's entry point runs heap.settle() once

    # Django, ninja, Channels and every app's URLs and schemas: tens of thousands of objects
    # that full collections no longer walk.
    assert gc.get_freeze_count() > 50_000
