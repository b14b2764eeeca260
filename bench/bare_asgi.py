"""A bare ASGI JSON endpoint: the floor the redeem benchmark compares against (daphne's own ceiling).

A GET is answered at once (`floor-bare`, the floor issue 8 names). A POST first reads its body,
as every scan must (`floor-bare-post`: the same headers and body as a redeem, so the row shows
what daphne alone spends on a request of the redeem's shape)."""

import json

BODY = json.dumps({"ok": True}).encode()


async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["method"] == "POST":
        while (await receive()).get("more_body"):
            pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
