"""Profile a hot path in-process: the real ASGI application, no sockets, no load generator.

    .venv/bin/python bench/profile_hot.py redeem  [--n 1000] [--concurrency 16] [--profile]
    .venv/bin/python bench/profile_hot.py healthz|bare|repeat|kiosk|service

`service` calls checkin.services.checkin_redeem directly (market and user already loaded): no
ASGI, no request, no authentication, no JSON. It is the floor of any way into the redeem — what
a route outside Django and ninja could at best reach.

Seeds a temporary SQLite database (migrate + seed_demo, as the suite does), imports
backend.asgi in this process (DEBUG=0) and drives N requests through the ASGI callable with C
concurrent tasks. Prints requests per second of pure server CPU (no HTTP parsing by daphne,
no load generator) and, with --profile, a pyinstrument profile of the run. Used to find where
the time goes (bench/README.md, "Where the time goes").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PASSWORD, manage, server_env  # noqa: E402


async def call(app, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
    raw_headers = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": raw_headers, "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 8000)}
    sent = False
    out = {"status": 0, "body": b""}

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = message.get("headers", [])
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out["status"], out["body"], out.get("headers", [])


async def login(app, username: str) -> dict:
    status, body, headers = await call(app, "POST", "/api/v1/auth/login",
                                       json.dumps({"username": username, "password": PASSWORD}).encode(),
                                       {"Content-Type": "application/json"})
    assert status == 200, body
    cookies = {}
    for key, value in headers:
        if key.lower() == b"set-cookie":
            name, _, rest = value.decode().partition("=")
            cookies[name] = rest.split(";", 1)[0]
    return {"Cookie": f"sessionid={cookies['sessionid']}; csrftoken={cookies['csrftoken']}",
            "X-CSRFToken": cookies["csrftoken"], "Content-Type": "application/json"}


async def drive(app, requests: list, headers: dict, concurrency: int) -> tuple[float, dict]:
    queue = list(reversed(requests))
    outcomes: dict[str, int] = {}

    async def worker():
        while queue:
            method, path, body, *own = queue.pop()
            status, payload, _h = await call(app, method, path, body, own[0] if own else headers)
            key = str(status)
            if status == 200 and b'"reason"' in payload:
                key = json.loads(payload).get("reason") or "ok"
            outcomes[key] = outcomes.get(key, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, outcomes


def kiosk_setup(market) -> list[tuple[int, list[int], dict]]:
    """Pair one device per stand (through the services) and check every invitation in."""
    from events.models import Activity, Invitation, Stand  # noqa: PLC0415
    from kiosk import services  # noqa: PLC0415

    Invitation.objects.filter(market=market).update(state=Invitation.State.CHECKED_IN)
    tablets = []
    for stand in Stand.objects.filter(market=market).select_related("market"):
        ids = list(Activity.objects.filter(organisation_id=stand.organisation_id, active=True).values_list("pk", flat=True))
        if not ids:
            continue
        code, _row = services.pairing_code_create(stand=stand)
        token, _device = services.device_pair(code=code, ip="127.0.0.1")
        tablets.append((stand.pk, ids, {"Authorization": f"Device {token}", "Content-Type": "application/json"}))
    return tablets


def run_service(market, tokens: list[str], profile: bool) -> None:
    """The redeem service alone, one call after the other on this thread; the feed's doorbell
    goes to the loop as under the server."""
    from django.contrib.auth import get_user_model  # noqa: PLC0415

    from checkin import services  # noqa: PLC0415

    user = get_user_model().objects.get(username="host")
    scans = [services.ScanRequest(market_id=market.pk, nonce=uuid.uuid4().hex, token=t) for t in tokens]
    for scan in scans[:50]:  # warm up
        services.checkin_redeem(market=market, request=scan, user=user, ip="127.0.0.1")
    scans = scans[50:]
    profiler = None
    if profile:
        from pyinstrument import Profiler  # noqa: PLC0415
        profiler = Profiler(async_mode="disabled")
        profiler.start()
    outcomes: dict[str, int] = {}
    cpu0, t0 = time.process_time(), time.perf_counter()
    for scan in scans:
        answer = services.checkin_redeem(market=market, request=scan, user=user, ip="127.0.0.1")
        key = answer["reason"] or "ok"
        outcomes[key] = outcomes.get(key, 0) + 1
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    if profiler:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    print(f"service: {len(scans)} redeems in {wall:.2f}s = {len(scans) / wall:.0f}/s; "
          f"CPU {1000 * cpu / len(scans):.2f} ms/redeem; {outcomes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", choices=["healthz", "bare", "redeem", "repeat", "kiosk", "service"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="vm-profile-"))
    env = server_env(tmp, 8000)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--password", PASSWORD, "--clients", str(args.n + 10))
    os.environ.update(env)

    from bench.bare_asgi import application as bare  # noqa: PLC0415
    from backend.asgi import application  # noqa: PLC0415
    from events.management.commands.seed_demo import DEMO_MARKET  # noqa: PLC0415
    from events.models import Invitation, Market  # noqa: PLC0415

    market = Market.objects.get(name=DEMO_MARKET)
    tokens = list(Invitation.objects.filter(market=market).order_by("pk").values_list("token", flat=True))[: args.n]

    if args.path == "service":  # on a request thread with the server's loop running, as under daphne
        from asgiref.sync import sync_to_async  # noqa: PLC0415

        from backend import feed  # noqa: PLC0415

        async def serve():
            feed.bind_server_loop(asyncio.get_running_loop())
            await sync_to_async(run_service, thread_sensitive=True)(market, tokens, args.profile)

        asyncio.run(serve())
        return

    async def run():
        app = bare if args.path == "bare" else application
        headers = {} if args.path in ("bare", "healthz") else await login(application, "host")
        if args.path in ("bare", "healthz"):
            reqs = [("GET", "/healthz", b"")] * args.n
        elif args.path in ("redeem", "repeat"):
            reqs = [("POST", "/api/v1/checkin/redeem",
                     json.dumps({"market": market.pk, "token": t, "nonce": uuid.uuid4().hex}).encode())
                    for t in tokens]
            if args.path == "repeat":
                await drive(app, reqs, headers, args.concurrency)
                reqs = [(m, p, json.dumps({**json.loads(b), "nonce": uuid.uuid4().hex}).encode())
                        for m, p, b in reqs]
        else:  # kiosk: one tablet per stand (as the suite pairs them), every invitation checked in
            from asgiref.sync import sync_to_async  # noqa: PLC0415

            headers = await sync_to_async(kiosk_setup, thread_sensitive=True)(market)
            activities = {stand: ids for stand, ids, _h in headers}
            reqs = []
            for i, token in enumerate(tokens):
                stand, ids, auth = headers[i % len(headers)]
                reqs.append(("POST", "/api/v1/kiosk/interests", json.dumps(
                    {"token": token, "activities": activities[stand][:1], "nonce": uuid.uuid4().hex}).encode(), auth))
        await drive(app, reqs[:50], headers, args.concurrency)  # warm up
        reqs = reqs[50:] if args.path not in ("bare", "healthz") else reqs
        profiler = None
        if args.profile:
            from pyinstrument import Profiler  # noqa: PLC0415
            profiler = Profiler(async_mode="disabled")
            profiler.start()
        cpu0 = time.process_time()
        wall, outcomes = await drive(app, reqs, headers, args.concurrency)
        cpu = time.process_time() - cpu0
        if profiler:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        print(f"{args.path}: {len(reqs)} requests in {wall:.2f}s = {len(reqs) / wall:.0f}/s; "
              f"CPU {1000 * cpu / len(reqs):.2f} ms/request; {outcomes}")

    asyncio.run(run())


if __name__ == "__main__":
    main()
