"""A bare ASGI JSON endpoint: the floor the redeem benchmark compares against (daphne's own ceiling)."""

import json

BODY = json.dumps({"ok": True}).encode()


async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
