"""Soak: steady check-ins and kiosk registrations with many dashboards connected, for minutes.

    .venv/bin/python bench/soak.py                       # 10 minutes, 300 dashboards (issue 7)
    .venv/bin/python bench/soak.py --seconds 60 --sockets 50

Not part of CI (it takes 10 minutes); numbers go to bench/README.md ("Soak"). All on loopback,
bounded in time. Every `--interval` seconds it records the server's memory (RSS) and CPU, the
redeem and kiosk latencies of that window and the scan → dashboard latency; at the end it checks
that every dashboard holds every feed entry exactly once (its last seq equals the head and it
never skipped one) and that the database holds one check-in per ok answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    BenchFailure, PASSWORD, cookies_of, cpu_seconds, free_port, http, login, machine, manage, pct, rss_mb,
    seed, server_env, shell_json, start_daphne, stop,
)

EXPORT = """
import json
from events.management.commands.seed_demo import DEMO_MARKET
from events.models import Invitation, Market, Stand
m = Market.objects.get(name=DEMO_MARKET)
print("JSON" + json.dumps({"market": m.pk,
  "tokens": list(Invitation.objects.filter(market=m).order_by("pk").values_list("token", flat=True)),
  "stands": [[s.pk, list(s.organisation.activities.values_list("pk", flat=True))] for s in Stand.objects.filter(market=m)]}))
"""


class Dashboard:
    def __init__(self, port: int, market: int, cookie: str):
        self.port, self.market, self.cookie = port, market, cookie
        self.last = 0
        self.skipped = 0
        self.arrivals: dict[int, float] = {}  # invitation id -> time the entry arrived
        self.stopped = False

    async def run(self) -> None:
        from websockets.asyncio.client import connect

        while not self.stopped:
            url = f"ws://127.0.0.1:{self.port}/ws/markets/{self.market}/feed/?since={self.last}"
            try:
                async with connect(url, additional_headers={"Cookie": self.cookie,
                                                            "Origin": f"http://127.0.0.1:{self.port}"},
                                   open_timeout=30, max_queue=None) as ws:
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] == "entry":
                            if message["seq"] <= self.last:
                                continue
                            if message["seq"] != self.last + 1:
                                self.skipped += 1
                                await ws.send(json.dumps({"type": "resume", "since": self.last}))
                                continue
                            self.last = message["seq"]
                            if message["kind"] == "checkin.created":
                                self.arrivals[message["data"]["invitation_id"]] = time.perf_counter()
                        if self.stopped:
                            return
            except Exception:  # noqa: BLE001 — reconnect, as feed.js does
                await asyncio.sleep(0.5)


async def soak(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="vm-soak-"))
    port = free_port()
    env = server_env(tmp, port)
    clients = int(args.seconds * args.scans_per_second * 1.1) + 50
    seed(env, clients)
    world = shell_json(env, EXPORT)
    server = start_daphne(env, port, "backend.asgi:application", tmp / "daphne.log")
    try:
        host = await login(port, "host")
        coord = await login(port, "coordinator")
        consultant = await login(port, "consultant")
        tablets = []
        for stand_id, activities in world["stands"][: args.tablets]:
            status, _h, body = await http(port, "POST",
                                          f"/api/v1/markets/{world['market']}/stands/{stand_id}/pairing-code",
                                          b"", coord)
            code = json.loads(body)["code"]
            status, _h, body = await http(port, "POST", "/api/v1/kiosk/pair", json.dumps({"code": code}).encode(),
                                          {"Content-Type": "application/json"})
            tablets.append(({"Authorization": f"Device {json.loads(body)['token']}",
                             "Content-Type": "application/json"}, activities[:1]))

        dashboards = [Dashboard(port, world["market"], consultant["Cookie"]) for _ in range(args.sockets)]
        tasks = []
        for i, d in enumerate(dashboards):
            tasks.append(asyncio.create_task(d.run()))
            if i % 25 == 24:
                await asyncio.sleep(0.2)
        rss0 = rss_mb(server.pid)

        tokens = world["tokens"]
        sent_at: dict[int, float] = {}
        ok_scans, windows = 0, []
        scanned: list[str] = []
        window = {"redeem": [], "kiosk": [], "errors": 0}
        started = time.perf_counter()
        next_sample = started + args.interval
        cpu_mark, wall_mark = cpu_seconds(server.pid), started
        i = 0
        pending: set[asyncio.Task] = set()

        async def scan(token: str) -> None:
            nonlocal ok_scans
            t0 = time.perf_counter()
            status, _h, body = await http(port, "POST", "/api/v1/checkin/redeem", json.dumps(
                {"market": world["market"], "token": token, "nonce": uuid.uuid4().hex}).encode(), host)
            window["redeem"].append((time.perf_counter() - t0) * 1000)
            answer = json.loads(body) if status == 200 else {}
            if answer.get("status") == "ok":
                ok_scans += 1
                sent_at[answer["invitation"]["id"]] = t0
                scanned.append(token)
            else:
                window["errors"] += 1

        async def register(token: str, tablet) -> None:
            headers, activities = tablet
            t0 = time.perf_counter()
            status, _h, _b = await http(port, "POST", "/api/v1/kiosk/interests", json.dumps(
                {"token": token, "activities": activities, "warmth": "warm", "nonce": uuid.uuid4().hex}).encode(),
                headers)
            window["kiosk"].append((time.perf_counter() - t0) * 1000)
            if status != 200:
                window["errors"] += 1

        period = 1 / args.scans_per_second
        while time.perf_counter() - started < args.seconds:
            if i < len(tokens):
                task = asyncio.create_task(scan(tokens[i]))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if scanned and tablets and i % max(1, round(args.scans_per_second / args.registrations_per_second)) == 0:
                task = asyncio.create_task(register(scanned[i % len(scanned)], tablets[i % len(tablets)]))
                pending.add(task)
                task.add_done_callback(pending.discard)
            i += 1
            now = time.perf_counter()
            if now >= next_sample:
                cpu_now = cpu_seconds(server.pid)
                latencies = [1000 * (d.arrivals[k] - sent_at[k]) for d in dashboards for k in list(d.arrivals)
                             if k in sent_at and sent_at[k] >= next_sample - args.interval]
                windows.append({
                    "t": round(now - started), "rss_mb": round(rss_mb(server.pid), 1),
                    "server_cpu": round((cpu_now - cpu_mark) / (now - wall_mark), 2),
                    "redeem_p50": round(pct(window["redeem"], 50), 1), "redeem_p99": round(pct(window["redeem"], 99), 1),
                    "kiosk_p50": round(pct(window["kiosk"], 50), 1), "kiosk_p99": round(pct(window["kiosk"], 99), 1),
                    "feed_p50": round(pct(latencies, 50), 1), "feed_p99": round(pct(latencies, 99), 1),
                    "errors": window["errors"]})
                print("  ".join(f"{k}={v}" for k, v in windows[-1].items()), flush=True)
                window = {"redeem": [], "kiosk": [], "errors": 0}
                cpu_mark, wall_mark, next_sample = cpu_now, now, now + args.interval
            await asyncio.sleep(max(0.0, started + i * period - time.perf_counter()))
        await asyncio.gather(*pending, return_exceptions=True)

        head = shell_json(env, "import json\nfrom backend.feed import feed_head\n"
                               f"print('JSON' + json.dumps(feed_head(market_id={world['market']})))")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(d.last < head for d in dashboards):
            await asyncio.sleep(0.5)
        for d in dashboards:
            d.stopped = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        checked_in = shell_json(env, "import json\nfrom events.models import Invitation\n"
                                     "print('JSON' + json.dumps(Invitation.objects.filter(state='checked_in').count()))")
        behind = sum(1 for d in dashboards if d.last != head)
        result = {"machine": machine(), "seconds": args.seconds, "sockets": args.sockets,
                  "scans_per_second": args.scans_per_second, "ok_scans": ok_scans, "checked_in": checked_in,
                  "head": head, "dashboards_behind": behind, "rss_start_mb": round(rss0, 1), "windows": windows}
        if checked_in != ok_scans or behind:
            raise BenchFailure(f"soak correctness: ok={ok_scans} db={checked_in} dashboards behind={behind}")
        return result
    finally:
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--sockets", type=int, default=300)
    parser.add_argument("--scans-per-second", type=float, default=5)
    parser.add_argument("--registrations-per-second", type=float, default=2)
    parser.add_argument("--tablets", type=int, default=4)
    parser.add_argument("--interval", type=float, default=30)
    parser.add_argument("--json", help="write the result here too")
    args = parser.parse_args()
    result = asyncio.run(soak(args))
    out = json.dumps(result, indent=2)
    print(out)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(out)
    if args.json:
        Path(args.json).write_text(out)


if __name__ == "__main__":
    main()
