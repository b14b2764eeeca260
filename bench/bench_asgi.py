"""The application the suite runs: the project's ASGI app plus the bare floor endpoint
(bench/bare_asgi.py) at /__bench/bare, in the same daphne process, so the floor and the hot
paths are measured on the same server in the same run. Bench only; never deployed."""

from backend.asgi import application as project
from bench.bare_asgi import application as bare


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/__bench/bare":
        await bare(scope, receive, send)
    else:
        await project(scope, receive, send)
