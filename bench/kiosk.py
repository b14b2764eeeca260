"""Benchmark: kiosk interest registrations per second, and lead-to-consultant latency.

    .venv/bin/python bench/kiosk.py                          # 16 tablets, 2000 registrations per phase
    .venv/bin/python bench/kiosk.py --requests 1000 --sockets 200 --writes 30 --json out.json

What it does (all on loopback, bounded in count and time):
1. a temporary VAR_DIR with a SQLite file (WAL, IMMEDIATE), `migrate`, `seed_demo --clients N`;
   every invitation of the demo market is then marked checked in (one UPDATE through
   `manage.py shell`: the check-in path has its own benchmark, bench/redeem.py);
2. daphne serving backend.asgi:application (production mode, DEBUG=0) on a free port;
3. the coordinator logs in and creates one pairing code per tablet (stands in turn);
   16 tablets pair through POST /api/v1/kiosk/pair and get their device tokens;
4. phases, each tablet a concurrent worker sending `Authorization: Device <token>`, one new
   TCP connection per request (as bench/redeem.py):
   - first:  POST /api/v1/kiosk/interests, each request a distinct client (lead.created);
   - again:  the same clients at the same tablets, new nonces (lead.updated, the same lead);
   - replay: the nonces of `first` again (answered from the replay log, nothing written);
5. correctness: leads = ok answers of `first` = lead.created entries; lead.updated entries =
   ok answers of `again`; `replay` answers all say replayed and wrote nothing;
6. optional (--sockets N): N consultant websockets on ws/markets/<id>/feed/, then W
   registrations one after the other; latency from sending the request to the lead.created
   entry arriving on each socket (p50/p95/p99 over all sockets and writes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import run_phase as common_run_phase  # noqa: E402
from bench.redeem import (  # noqa: E402  (shared low-level helpers: env, daphne, raw HTTP client)
    _cpu_model,
    free_port,
    http,
    manage,
    server_env,
    start_daphne,
    stop,
)

PASSWORD = "bench-pw-123"  # bench.redeem.server_env + seed_demo use this one too

EXPORT = """
import json
from django.utils import timezone
from events.management.commands.seed_demo import DEMO_MARKET
from events.models import Invitation, Market, Stand
m = Market.objects.get(name=DEMO_MARKET)
Invitation.objects.filter(market=m).update(state="checked_in", checked_in_at=timezone.now())
stands = [{"id": s.pk, "activities": list(s.organisation.activities.filter(active=True).values_list("pk", flat=True))}
          for s in Stand.objects.filter(market=m).select_related("organisation").order_by("pk")]
print("JSON" + json.dumps({"market": m.pk, "stands": stands,
      "tokens": list(Invitation.objects.filter(market=m).order_by("pk").values_list("token", flat=True))}))
"""

VERIFY = """
import json
from backend.models import FeedEntry
from events.models import Lead
from kiosk.models import InterestRequest
m = %d
print("JSON" + json.dumps({"leads": Lead.objects.filter(market_id=m, source="kiosk").count(),
      "created": FeedEntry.objects.filter(market_id=m, kind="lead.created").count(),
      "updated": FeedEntry.objects.filter(market_id=m, kind="lead.updated").count(),
      "requests": InterestRequest.objects.count()}))
"""


def _json(out: str):
    return json.loads([ln for ln in out.splitlines() if ln.startswith("JSON")][-1][4:])


async def login(port: int, username: str) -> tuple[dict, str]:
    status, headers, payload = await http(port, "POST", "/api/v1/auth/login",
                                          json.dumps({"username": username, "password": PASSWORD}).encode(),
                                          {"Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"login failed: {status} {payload[:200]!r}")
    cookies = {}
    for value in headers.get("set-cookie", []):
        name, _, rest = value.partition("=")
        cookies[name] = rest.split(";", 1)[0]
    cookie = f"sessionid={cookies['sessionid']}; csrftoken={cookies['csrftoken']}"
    return {"Cookie": cookie, "X-CSRFToken": cookies["csrftoken"], "Content-Type": "application/json"}, cookie


async def pair_tablets(port: int, market: int, stands: list[dict], count: int) -> list[dict]:
    coordinator, _cookie = await login(port, "coordinator")
    tablets = []
    for i in range(count):
        stand = stands[i % len(stands)]
        status, _h, payload = await http(port, "POST", f"/api/v1/markets/{market}/stands/{stand['id']}/pairing-code",
                                         b"{}", coordinator)
        assert status == 200, payload
        code = json.loads(payload)["code"]
        status, _h, payload = await http(port, "POST", "/api/v1/kiosk/pair",
                                         json.dumps({"code": code, "label": f"bench {i}"}).encode(),
                                         {"Content-Type": "application/json"})
        assert status == 200, payload
        tablets.append({"token": json.loads(payload)["token"], "stand": stand})
    return tablets


def plan(tablets: list[dict], tokens: list[str], requests: int) -> list[list[dict]]:
    """Per tablet, its registrations: each client once per tablet organisation (distinct leads)."""
    per_tablet: list[list[dict]] = [[] for _ in tablets]
    for j, token in enumerate(tokens[:requests]):
        k = j % len(tablets)
        acts = tablets[k]["stand"]["activities"]
        per_tablet[k].append({"token": token, "activities": acts[: 1 + j % min(2, len(acts))],
                              "warmth": ("cold", "warm", "hot")[j % 3], "note": f"bench {j}",
                              "nonce": uuid.uuid4().hex})
    return per_tablet


def interest_requests(tablets: list[dict], work: list[list[dict]]) -> tuple[list, list[dict]]:
    """The plan as (method, path, body, tablet) requests for bench/common.run_phase, and the
    headers of each tablet (one worker per tablet)."""
    requests = [("POST", "/api/v1/kiosk/interests", json.dumps(body).encode(), k)
                for k, bodies in enumerate(work) for body in bodies]
    headers = [{"Authorization": f"Device {t['token']}", "Content-Type": "application/json"} for t in tablets]
    return requests, headers


async def run_phase(port: int, tablets: list[dict], work: list[list[dict]], time_limit: float,
                    server_pid: int) -> dict:
    """One phase: every tablet sends its share of the plan (the suite's loop, bench/common)."""
    requests, headers = interest_requests(tablets, work)
    return await common_run_phase(port, requests, headers, len(tablets), time_limit, [server_pid])


async def lead_latency(port: int, market: int, tablet: dict, tokens: list[str], sockets: int, writes: int) -> dict:
    """`sockets` consultant websockets; `writes` registrations one after the other; ms from
    sending each request to its lead.created entry on each socket."""
    import websockets

    _headers, cookie = await login(port, "consultant")
    base = f"http://127.0.0.1:{port}"
    url = f"ws://127.0.0.1:{port}/ws/markets/{market}/feed/"
    arrivals: list[dict[int, float]] = [{} for _ in range(sockets)]
    hello = [asyncio.Event() for _ in range(sockets)]
    stop_event = asyncio.Event()

    opening = asyncio.Semaphore(20)  # open the sockets 20 at a time (a burst of 200 handshakes is not the point)

    async def connect():
        for attempt in range(5):
            try:
                async with opening:
                    return await websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": base},
                                                    max_queue=None, ping_interval=None, open_timeout=60)
            except (OSError, websockets.exceptions.WebSocketException):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))

    async def socket_reader(i: int):
        async with await connect() as ws:
            async def read():
                async for raw in ws:
                    now = time.perf_counter()
                    message = json.loads(raw)
                    if message["type"] == "hello":
                        hello[i].set()
                    elif message["type"] == "entry" and message["kind"] == "lead.created":
                        arrivals[i][message["data"]["id"]] = now
            reader = asyncio.ensure_future(read())
            await stop_event.wait()
            reader.cancel()

    tasks = [asyncio.ensure_future(socket_reader(i)) for i in range(sockets)]
    try:
        await asyncio.wait_for(asyncio.gather(*(h.wait() for h in hello)), 180)
    except asyncio.TimeoutError:
        stop_event.set()
        failed = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
        for t in tasks:
            t.cancel()
        raise RuntimeError(f"only {sum(h.is_set() for h in hello)} of {sockets} sockets said hello; "
                           f"first error: {failed[:1]!r}") from None
    headers = {"Authorization": f"Device {tablet['token']}", "Content-Type": "application/json"}
    sent: dict[int, float] = {}
    for token in tokens[:writes]:
        t0 = time.perf_counter()
        status, _h, payload = await http(port, "POST", "/api/v1/kiosk/interests", json.dumps(
            {"token": token, "activities": tablet["stand"]["activities"][:1], "warmth": "warm",
             "nonce": uuid.uuid4().hex}).encode(), headers)
        answer = json.loads(payload)
        assert status == 200 and answer["status"] == "ok" and answer["lead"]["created"], payload
        sent[answer["lead"]["id"]] = t0
        await asyncio.sleep(0.02)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(len(a) < len(sent) for a in arrivals):
        await asyncio.sleep(0.05)
    stop_event.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted((a[lead] - t0) * 1000 for a in arrivals for lead, t0 in sent.items() if lead in a)
    missing = sum(1 for a in arrivals for lead in sent if lead not in a)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1) if latencies else float("nan")

    return {"sockets": sockets, "writes": len(sent), "deliveries": len(latencies), "missing": missing,
            "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": round(latencies[-1], 1) if latencies else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tablets", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000, help="registrations per phase")
    parser.add_argument("--time-limit", type=float, default=90, help="seconds per phase at most")
    parser.add_argument("--sockets", type=int, default=0, help="consultant sockets for the latency phase (0: skip)")
    parser.add_argument("--writes", type=int, default=30, help="registrations in the latency phase")
    parser.add_argument("--debug", action="store_true", help="run the server with DEBUG=1")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="vm-bench-kiosk-"))
    port = free_port()
    env = server_env(tmp, port, args.debug)
    server = None
    results: dict[str, dict] = {}
    try:
        t0 = time.perf_counter()
        clients = args.requests + (args.writes if args.sockets else 0) + 10
        manage(env, "migrate", "--noinput")
        manage(env, "seed_demo", "--password", PASSWORD, "--clients", str(clients))
        data = _json(manage(env, "shell", "-c", EXPORT))
        market, stands, tokens = data["market"], data["stands"], data["tokens"]
        print(f"setup: {len(tokens)} checked-in clients, {len(stands)} stands in {time.perf_counter() - t0:.1f}s "
              f"({os.cpu_count()} cores; {_cpu_model()})", flush=True)

        server = start_daphne(env, port, "backend.asgi:application", tmp / "daphne.log")
        tablets = asyncio.run(pair_tablets(port, market, stands, args.tablets))
        work = plan(tablets, tokens, args.requests)
        results["first"] = asyncio.run(run_phase(port, tablets, work, args.time_limit, server.pid))
        again = [[{**body, "nonce": uuid.uuid4().hex, "warmth": "hot"} for body in bodies] for bodies in work]
        results["again"] = asyncio.run(run_phase(port, tablets, again, args.time_limit, server.pid))
        before = _json(manage(env, "shell", "-c", VERIFY % market))
        results["replay"] = asyncio.run(run_phase(port, tablets, work, args.time_limit, server.pid))
        after = _json(manage(env, "shell", "-c", VERIFY % market))
        created = results["first"]["outcomes"].get("created", 0)
        updated = results["again"]["outcomes"].get("updated", 0)
        correct = (created == before["leads"] == before["created"] and updated == before["updated"]
                   and before == after and results["replay"]["outcomes"].get("replayed", 0)
                   == results["replay"]["requests"])
        results["check"] = {"created_answers": created, "updated_answers": updated, **before,
                            "replay_wrote_nothing": before == after, "correct": correct}
        print_throughput(results)
        if args.sockets:
            try:
                results["latency"] = asyncio.run(lead_latency(port, market, tablets[0], tokens[args.requests:],
                                                              args.sockets, args.writes))
            except Exception as error:  # reported with the server's log; the table above stands
                log = (tmp / "daphne.log").read_text(errors="replace")[-3000:]
                results["latency"] = {"error": str(error)}
                print(f"latency phase failed: {error}\n--- daphne log (tail) ---\n{log}", flush=True)
    finally:
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)

    if "latency" in results and "error" not in results["latency"]:
        lat = results["latency"]
        print(f"lead-to-consultant: {lat['sockets']} sockets x {lat['writes']} leads: {lat['deliveries']} deliveries, "
              f"{lat['missing']} missing; p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms, "
              f"max {lat['max']} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"cores": os.cpu_count(), "cpu": _cpu_model(), **results}, indent=2))
    ok = results["check"]["correct"] and (not args.sockets or results["latency"].get("missing", 1) == 0)
    return 0 if ok else 1


def print_throughput(results: dict) -> None:
    print(f"\n{'phase':<8}{'req':>6}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}{'srv CPU':>9}{'gen CPU':>9}  outcomes")
    for name in ("first", "again", "replay"):
        r = results[name]
        print(f"{name:<8}{r['requests']:>6}{r['rate']:>9}{r['p50']:>9}{r['p95']:>9}{r['p99']:>9}"
              f"{r['errors']:>8}{r['server_cpu']:>9}{r['loadgen_cpu']:>9}  {r['outcomes']}")
    check = results["check"]
    print(f"\ncorrectness: created answers {check['created_answers']} = leads {check['leads']} = lead.created "
          f"{check['created']}; updated answers {check['updated_answers']} = lead.updated {check['updated']}; "
          f"replay wrote nothing: {check['replay_wrote_nothing']} -> {'OK' if check['correct'] else 'MISMATCH'}",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
