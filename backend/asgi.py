"""ASGI entry point: HTTP through Django, websockets through Channels (session auth, origin check)."""

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from backend.asgi_pool import PooledASGIHandler  # noqa: E402

# Django's ASGI handler, with a fixed pool of reused request threads (see backend/asgi_pool.py).
django_asgi_app = PooledASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator  # noqa: E402

from backend import daphne_tuning, feed, heap  # noqa: E402
from backend.routing import websocket_urlpatterns  # noqa: E402

daphne_tuning.apply()


class BrowserOriginValidator(OriginValidator):
    """Channels' check of the `Origin` against `ALLOWED_HOSTS`, except that a handshake with no
    `Origin` header at all is let through. The check is against cross-site websocket hijacking:
    a page elsewhere opening our socket with the visitor's cookies. Browsers always send
    `Origin` on a websocket handshake (RFC 6455 §4.1), so only a non-browser client leaves it
    out, and such a client rides nobody's cookies: it must hold a session of its own, which the
    consumer then checks as usual. A foreign `Origin`, and `Origin: null`, are refused (403)."""

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or super().valid_origin(parsed_origin)


router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": BrowserOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
            # channels' own list: ALLOWED_HOSTS (the local names in DEBUG when it is empty)
            AllowedHostsOriginValidator(None).allowed_origins),
    }
)


heap.settle()  # last: everything above is loaded for good (backend/heap.py)


async def application(scope, receive, send):
    # Remember the server's loop so feed rings from sync request threads never block (backend.feed).
    feed.bind_server_loop(asyncio.get_running_loop())
    if scope["type"] == "lifespan":
        # daphne does not speak lifespan; other servers get a polite "unsupported".
        return
    await router(scope, receive, send)
