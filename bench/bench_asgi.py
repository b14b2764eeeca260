"""The application the suite runs: the project's ASGI app plus two bench-only routes in the same
daphne process, so they and the hot paths are measured on the same server in the same run.
Bench only; never deployed.

* `/__bench/bare` — the bare floor (bench/bare_asgi.py): daphne's own ceiling.
* `/__bench/redeem` — the **service bound**: the body parsed with `json.loads` and handed to
  `checkin.services.checkin_redeem` on one thread (as the door lane runs scans), the answer
  written with `json.dumps`. No middleware, no ninja, no session, user or CSRF check, no
  validation: the host user and the market are loaded once. No route outside Django and ninja
  could be faster than this while keeping the one redeem service, so its ratio to the bare
  floor is the most any such route could reach (bench/README.md, "The service bound").
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from backend.asgi import application as project  # first: it sets Django up
from backend import feed  # noqa: E402
from bench.bare_asgi import application as bare

_DOOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-bound")
_LOADED: dict = {}


def _redeem(body: bytes) -> bytes:
    from django.contrib.auth import get_user_model  # noqa: PLC0415

    from checkin import services  # noqa: PLC0415
    from events.models import Market  # noqa: PLC0415

    scan = json.loads(body)
    market = _LOADED.get(scan["market"])
    if market is None:
        market = _LOADED[scan["market"]] = Market.objects.get(pk=scan["market"])
        _LOADED["user"] = get_user_model().objects.get(username="host")
    answer = services.checkin_redeem(
        market=market, user=_LOADED["user"], ip="127.0.0.1",
        request=services.ScanRequest(market_id=market.pk, nonce=scan["nonce"], token=scan.get("token"),
                                     code=scan.get("code")))
    return json.dumps(answer).encode()


async def _service_bound(scope, receive, send):
    feed.bind_server_loop(asyncio.get_running_loop())  # as the project's app does
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = await asyncio.get_running_loop().run_in_executor(_DOOR, _redeem, body)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/__bench/bare":
        await bare(scope, receive, send)
    elif scope["type"] == "http" and scope["path"] == "/__bench/redeem":
        await _service_bound(scope, receive, send)
    else:
        await project(scope, receive, send)
