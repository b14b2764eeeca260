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
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from backend import daphne_tuning, feed  # noqa: E402
from backend.routing import websocket_urlpatterns  # noqa: E402

daphne_tuning.apply()

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


async def application(scope, receive, send):
    # Remember the server's loop so feed rings from sync request threads never block (backend.feed).
    feed.bind_server_loop(asyncio.get_running_loop())
    if scope["type"] == "lifespan":
        # daphne does not speak lifespan; other servers get a polite "unsupported".
        return
    await router(scope, receive, send)
