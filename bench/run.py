"""The benchmark suite (`make bench`): every workload of issue 8 in one bounded run.

    .venv/bin/python bench/run.py                       # embedded default: one daphne, SQLite
    BENCH_PRODUCTION=1 .venv/bin/python bench/run.py    # + PostgreSQL, Redis, 2 daphnes, nginx
    .venv/bin/python bench/run.py --quick               # smaller counts (a smoke run)
    .venv/bin/python bench/run.py --only redeem,kiosk   # some workloads

Everything listens on 127.0.0.1. Each load loop is bounded in count and in time. Prints one
table, writes bench/results/<timestamp>.json, exits 1 when a correctness check fails (arrivals
in the database = ok answers = entries seen on every socket; leads = registrations; replays
write nothing) — loudly, with the numbers. See bench/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import kiosk as kiosk_bench  # noqa: E402
from bench import ws_light  # noqa: E402
from bench.common import (PYTHON, BenchFailure, cpu_seconds, create_postgres_db, drop_postgres_db, free_port,  # noqa: E402
                          http, login, machine, pct, rss_mb, run_phase, seed, server_env, shell_json,
                          start_daphne, start_nginx, stop, REDIS_URL)

APP = "bench.bench_asgi:application"
SUITE_SECONDS = 600

EXPORT = """
import json
from events.management.commands.seed_demo import DEMO_MARKET
from events.models import Invitation, Market, Stand
m = Market.objects.get(name=DEMO_MARKET)
stands = [{"id": s.pk, "activities": list(s.organisation.activities.filter(active=True).values_list("pk", flat=True))}
          for s in Stand.objects.filter(market=m).select_related("organisation").order_by("pk")]
print("JSON" + json.dumps({"market": m.pk, "stands": stands,
      "tokens": list(Invitation.objects.filter(market=m).order_by("pk").values_list("token", flat=True))}))
"""

COUNTS = """
import json
from backend.models import FeedEntry
from events.models import Invitation, Lead
from kiosk.models import InterestRequest
from checkin.models import Scan
m = %d
print("JSON" + json.dumps({
    "checked_in": Invitation.objects.filter(market_id=m, state="checked_in").count(),
    "checkin_entries": FeedEntry.objects.filter(market_id=m, kind="checkin.created").count(),
    "scans": Scan.objects.filter(market_id=m).count(),
    "leads": Lead.objects.filter(market_id=m, source="kiosk").count(),
    "lead_created": FeedEntry.objects.filter(market_id=m, kind="lead.created").count(),
    "lead_updated": FeedEntry.objects.filter(market_id=m, kind="lead.updated").count(),
    "interest_requests": InterestRequest.objects.count(),
    "head": FeedEntry.objects.filter(market_id=m).count()}))
"""

CHECK_IN_ALL = """
from django.utils import timezone
from events.models import Invitation
Invitation.objects.filter(market_id=%d, token__in=%r).update(state="checked_in", checked_in_at=timezone.now())
"""

APPEND = """
from django.db import transaction
from backend.feed import feed_append, feed_head
with transaction.atomic():
    for i in range(%d):
        feed_append(market_id=%d, kind="invitations.issued", data={"count": 0, "total": i})
print("JSON%%d" %% feed_head(market_id=%d))
"""


def check(condition: bool, what: str, results: dict) -> None:
    results.setdefault("checks", []).append({"check": what, "ok": bool(condition)})
    print(f"  check: {what}: {'OK' if condition else 'FAILED'}", flush=True)
    if not condition:
        raise BenchFailure(what)


async def guarded(results: dict, name: str, coro) -> None:
    """Run one workload; a failed check or a crash is recorded (the suite exits 1) and the
    next workload still runs."""
    try:
        await coro
    except Exception as exc:  # noqa: BLE001 - recorded and reported loudly at the end
        results.setdefault("failures", []).append(f"{name}: {exc!r}")
        print(f"  FAILED {name}: {exc!r}", flush=True)


class Stack:
    """The servers of one column: one daphne (embedded) or nginx + two daphnes (production)."""

    def __init__(self, tmp: Path, production: bool, clients: int):
        self.tmp, self.production = tmp, production
        self.procs: list[subprocess.Popen] = []
        self.nginx = None
        self.db_name = None
        port = free_port()
        if production:
            self.db_name = f"vm_bench_{uuid.uuid4().hex[:8]}"
            url = create_postgres_db(self.db_name)
            self.env = server_env(tmp, port, database_url=url, redis_url=REDIS_URL)
        else:
            self.env = server_env(tmp, port)
        t0 = time.perf_counter()
        seed(self.env, clients)
        self.setup_seconds = time.perf_counter() - t0
        self.data = shell_json(self.env, EXPORT)
        if production:
            self.daphne_ports = [free_port(), free_port()]
            for i, p in enumerate(self.daphne_ports):
                self.procs.append(start_daphne(self.env, p, APP, tmp / f"daphne{i}.log"))
            self.nginx = start_nginx(tmp, port, self.daphne_ports)
        else:
            self.daphne_ports = [port]
            self.procs.append(start_daphne(self.env, port, APP, tmp / "daphne0.log"))
        self.port = port  # what clients talk to (nginx in production)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def counts(self) -> dict:
        return shell_json(self.env, COUNTS % self.data["market"])

    def log_tail(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-1500:] for p in self.tmp.glob("*.log"))

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)
        stop(self.nginx)
        if self.db_name:
            try:
                drop_postgres_db(self.db_name)
            except Exception as exc:  # noqa: BLE001 - reported, the run's numbers stand
                print(f"could not drop {self.db_name}: {exc}")


# ---------------------------------------------------------------------------------------------
# workloads
# ---------------------------------------------------------------------------------------------

REDEEM_PATH = "/api/v1/checkin/redeem"
BOUND_PATH = "/__bench/redeem"  # the service bound (bench/bench_asgi.py)
BARE_PATH = "/__bench/bare"  # the bare floor (bench/bare_asgi.py)


def redeem_bodies(market: int, tokens: list[str], path: str = REDEEM_PATH) -> list:
    return [("POST", path,
             json.dumps({"market": market, "token": tok, "nonce": uuid.uuid4().hex}).encode()) for tok in tokens]


async def floors(stack: Stack, args, results: dict, prefix: str) -> None:
    n = args.floor_requests
    results[f"{prefix}floor-bare"] = await run_phase(stack.port, [("GET", BARE_PATH, b"")] * n, {},
                                                     args.concurrency, 60, stack.pids)
    results[f"{prefix}floor-django"] = await run_phase(stack.port, [("GET", "/healthz", b"")] * n, {},
                                                       args.concurrency, 60, stack.pids)
    # The redeem's request shape (session cookie, CSRF header, a scan's body) on the bare endpoint:
    # daphne's own cost for a scan, without any application behind it.
    scan_headers = await login(stack.port, "host")
    results[f"{prefix}floor-bare-post"] = await run_phase(
        stack.port, redeem_bodies(stack.data["market"], [stack.data["tokens"][0]] * n, BARE_PATH), scan_headers,
        args.concurrency, 60, stack.pids)


async def redeem(stack: Stack, args, results: dict, tokens: list[str], prefix: str, repeat: bool = True,
                 path: str = REDEEM_PATH) -> None:
    headers = await login(stack.port, "host")
    market = stack.data["market"]
    before = stack.counts()
    first = results[f"{prefix}redeem-first"] = await run_phase(
        stack.port, redeem_bodies(market, tokens, path), headers, args.concurrency, args.time_limit, stack.pids)
    after = stack.counts()
    ok = first["outcomes"].get("ok", 0)
    check(first["errors"] == 0 and ok == first["requests"] == len(tokens),
          f"{prefix}redeem first: every scan answered ok ({ok} of {len(tokens)}, {first['errors']} errors)", results)
    check(after["checked_in"] - before["checked_in"] == ok == after["checkin_entries"] - before["checkin_entries"]
          == after["scans"] - before["scans"],
          f"{prefix}redeem first: ok answers {ok} = newly checked in {after['checked_in'] - before['checked_in']} = "
          f"checkin.created {after['checkin_entries'] - before['checkin_entries']} = scans stored "
          f"{after['scans'] - before['scans']}", results)
    if repeat:
        rep = results[f"{prefix}redeem-repeat"] = await run_phase(
            stack.port, redeem_bodies(market, tokens), headers, args.concurrency, args.time_limit, stack.pids)
        again = stack.counts()
        check(rep["outcomes"].get("already_checked_in", 0) == rep["requests"] == len(tokens)
              and again["checkin_entries"] == after["checkin_entries"]
              and again["scans"] - after["scans"] == len(tokens),
              f"{prefix}redeem repeat: {len(tokens)} already_checked_in, no new entries, every scan stored", results)


async def kiosk(stack: Stack, args, results: dict, tokens: list[str]) -> None:
    market = stack.data["market"]
    shell_json(stack.env, CHECK_IN_ALL % (market, tokens) + "\nprint('JSON0')")
    tablets = await kiosk_bench.pair_tablets(stack.port, market, stack.data["stands"], args.concurrency)
    work = kiosk_bench.plan(tablets, tokens, len(tokens))
    before = stack.counts()

    def flat(plan):
        return kiosk_bench.interest_requests(tablets, plan)[0]

    headers = kiosk_bench.interest_requests(tablets, [])[1]
    first = results["kiosk-first"] = await run_phase(stack.port, flat(work), headers, len(tablets),
                                                     args.time_limit, stack.pids)
    mid = stack.counts()
    created = first["outcomes"].get("created", 0)
    check(created == len(tokens) == mid["leads"] - before["leads"] == mid["lead_created"] - before["lead_created"],
          f"kiosk first: created answers {created} = registrations {len(tokens)} = new leads "
          f"{mid['leads'] - before['leads']} = lead.created {mid['lead_created'] - before['lead_created']}", results)
    again = [[{**b, "nonce": uuid.uuid4().hex, "warmth": "hot"} for b in bodies] for bodies in work]
    second = results["kiosk-again"] = await run_phase(stack.port, flat(again), headers, len(tablets),
                                                      args.time_limit, stack.pids)
    after = stack.counts()
    updated = second["outcomes"].get("updated", 0)
    check(updated == len(tokens) == after["lead_updated"] - mid["lead_updated"] and after["leads"] == mid["leads"],
          f"kiosk again: updated answers {updated} = lead.updated {after['lead_updated'] - mid['lead_updated']}, "
          f"no new leads", results)
    replay = results["kiosk-replay"] = await run_phase(stack.port, flat(work), headers, len(tablets),
                                                       args.time_limit, stack.pids)
    final = stack.counts()
    check(replay["outcomes"].get("replayed", 0) == len(tokens) and final == after,
          f"kiosk replay: {replay['outcomes'].get('replayed', 0)} of {len(tokens)} replayed, nothing written", results)


async def open_dashboards(stack: Stack, n: int, stop_event: asyncio.Event, cookie: str) -> tuple[list, list]:
    """n consultant dashboards on the market feed, with the light client (bench/ws_light.py: the
    `websockets` library cost the client more CPU per frame than the server spends)."""
    path = f"/ws/markets/{stack.data['market']}/feed/"
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{stack.port}"}
    opening = asyncio.Semaphore(50)
    boards = [ws_light.Board() for _ in range(n)]

    async def run(board: ws_light.Board):
        client = None
        try:
            async with opening:
                client = await asyncio.wait_for(ws_light.connect(stack.port, path, headers, board), 60)
                await asyncio.wait_for(board.hello.wait(), 60)
            await stop_event.wait()
        except Exception as exc:  # noqa: BLE001 - reported by the caller's check
            board.closed = board.closed or repr(exc)
            board.hello.set()
        finally:
            if client is not None:
                client.close()

    tasks = [asyncio.ensure_future(run(b)) for b in boards]
    await asyncio.wait_for(asyncio.gather(*(b.hello.wait() for b in boards)), 120)
    return boards, tasks


async def feed_latency(stack: Stack, args, results: dict, sockets: int, tokens: list[str], prefix: str) -> None:
    consultant = await login(stack.port, "consultant")
    host = await login(stack.port, "host")
    cookie = consultant["Cookie"]
    stop_event = asyncio.Event()
    rss0 = sum(rss_mb(p) for p in stack.pids)
    boards, tasks = await open_dashboards(stack, sockets, stop_event, cookie)
    failed = [b.closed for b in boards if b.closed]
    try:
        check(not failed, f"{prefix}feed {sockets}: every socket said hello ({len(failed)} failed: "
                          f"{failed[:2]})", results)
        rss1 = sum(rss_mb(p) for p in stack.pids)
        market = stack.data["market"]
        sent: dict[str, float] = {}
        ids: dict[str, int] = {}
        answered: list[float] = []  # the redeem's own HTTP latency (ms): the floor of every delivery
        gap = 1 / args.scan_rate
        t_start = time.perf_counter()
        sem = asyncio.Semaphore(16)
        scan_errors: list[str] = []
        cpu0 = {pid: cpu_seconds(pid) for pid in stack.pids}
        own_cpu0 = time.process_time()

        async def scan(i: int, tok: str):
            async with sem:
                t0 = time.perf_counter()
                try:
                    status, _h, payload = await http(stack.port, "POST", "/api/v1/checkin/redeem", json.dumps(
                        {"market": market, "token": tok, "nonce": uuid.uuid4().hex}).encode(), host, timeout=60)
                except Exception as exc:  # noqa: BLE001 - counted; the check below fails loudly
                    scan_errors.append(repr(exc))
                    return
                answer = json.loads(payload)
                answered.append((time.perf_counter() - t0) * 1000)
                if status == 200 and answer["status"] == "ok":
                    sent[tok] = t0
                    ids[tok] = answer["invitation"]["id"]
                else:
                    scan_errors.append(f"{status} {payload[:100]!r}")

        jobs = []
        for i, tok in enumerate(tokens):  # a steady rate: scan i starts at i * gap
            delay = t_start + i * gap - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            jobs.append(asyncio.ensure_future(scan(i, tok)))
        await asyncio.gather(*jobs)
        achieved = len(tokens) / (time.perf_counter() - t_start)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(len(b.arrivals) < len(sent) for b in boards):
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - t_start
        server_cpu = sum(cpu_seconds(pid) - cpu0[pid] for pid in stack.pids) / wall
        own_cpu = (time.process_time() - own_cpu0) / wall
        latencies = [(b.arrivals[ids[t]] - t0) * 1000 for b in boards for t, t0 in sent.items()
                     if ids[t] in b.arrivals]
        missing = sum(1 for b in boards for t in sent if ids[t] not in b.arrivals)
        extra = sum(max(0, len(b.arrivals) - len(sent)) for b in boards)
        results[f"{prefix}feed-{sockets}"] = {
            "sockets": sockets, "writes": len(sent), "scan_rate": round(achieved, 1),
            "deliveries": len(latencies), "missing": missing,
            "p50": round(pct(latencies, 50), 1), "p95": round(pct(latencies, 95), 1),
            "p99": round(pct(latencies, 99), 1), "max": round(max(latencies), 1) if latencies else None,
            "idle_socket_mb": round(rss1 - rss0, 1), "scan_errors": scan_errors[:3],
            "scan_p50": round(pct(answered, 50), 1), "scan_p99": round(pct(answered, 99), 1),
            "server_cpu": round(server_cpu, 2), "loadgen_cpu": round(own_cpu, 2)}
        counts = stack.counts()
        check(len(sent) == len(tokens) and missing == 0 and extra == 0,
              f"{prefix}feed {sockets}: ok answers {len(sent)} of {len(tokens)} ({scan_errors[:1]}); every socket saw each arrival "
              f"once ({missing} missing)", results)
        disorder = sum(b.order_errors for b in boards)
        closed = [b.closed for b in boards if b.closed]
        check(all(len(b.arrivals) == len(sent) for b in boards) and counts["checkin_entries"] >= len(sent)
              and not disorder and not closed,
              f"{prefix}feed {sockets}: entries per socket = ok answers = {len(sent)}, every socket's entries in "
              f"seq order without gap or repeat ({disorder} out of order), none closed ({closed[:1]})", results)
    finally:
        stop_event.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def idle_memory(stack: Stack, args, results: dict, sockets: int) -> None:
    consultant = await login(stack.port, "consultant")
    stop_event = asyncio.Event()
    await asyncio.sleep(1)
    rss0 = sum(rss_mb(p) for p in stack.pids)
    boards, tasks = await open_dashboards(stack, sockets, stop_event, consultant["Cookie"])
    try:
        failed = [b.closed for b in boards if b.closed]
        await asyncio.sleep(2)
        rss1 = sum(rss_mb(p) for p in stack.pids)
        results[f"idle-{sockets}"] = {"sockets": sockets - len(failed), "added_mb": round(rss1 - rss0, 1),
                                      "per_socket_kb": round(1024 * (rss1 - rss0) / max(1, sockets), 1)}
        check(not failed, f"idle {sockets}: every socket said hello ({len(failed)} failed: {failed[:2]})", results)
    finally:
        stop_event.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def replay(stack: Stack, args, results: dict) -> None:
    import websockets  # noqa: PLC0415

    market = stack.data["market"]
    head = shell_json(stack.env, APPEND % (args.replay, market, market))
    consultant = await login(stack.port, "consultant")
    since = head - args.replay
    url = f"ws://127.0.0.1:{stack.port}/ws/markets/{market}/feed/?since={since}"
    t0 = time.perf_counter()
    seqs = []
    async with websockets.connect(url, additional_headers={"Cookie": consultant["Cookie"],
                                                           "Origin": f"http://127.0.0.1:{stack.port}"},
                                  max_queue=None, ping_interval=None) as ws:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "entry":
                seqs.append(message["seq"])
                if message["seq"] >= head:
                    break
            if time.perf_counter() - t0 > 30:
                break
    seconds = time.perf_counter() - t0
    results["replay"] = {"entries": len(seqs), "seconds": round(seconds, 3),
                         "per_second": round(len(seqs) / seconds)}
    check(seqs == list(range(since + 1, head + 1)), f"replay: {len(seqs)} entries {since + 1}..{head} in order, "
                                                    f"no gap, no repeat", results)


def subprocess_bench(results: dict, name: str, argv: list[str], timeout: float) -> None:
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    out = subprocess.run([PYTHON, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    results[name] = {"stdout": out.stdout[-4000:], "seconds": round(time.perf_counter() - t0, 1),
                     "returncode": out.returncode}
    print(f"\n--- {name} ({' '.join(argv)}; {time.perf_counter() - t0:.0f} s) ---\n{out.stdout.strip()}")
    if out.returncode != 0:
        print(out.stderr[-2000:])
        raise BenchFailure(f"{name} exited with {out.returncode}")


def parse_snapshot(text: str) -> dict:
    found = {}
    m = re.search(r"GET snapshot via API.*?\s([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$", text, re.M)
    if m:
        found["api_median_ms"], found["api_p95_ms"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"replay (\d+) entries through the websocket consumer: (\d+) ms", text)
    if m:
        found["ws_replay_entries"], found["ws_replay_ms"] = int(m.group(1)), int(m.group(2))
    return found


# ---------------------------------------------------------------------------------------------
# table
# ---------------------------------------------------------------------------------------------

TARGETS = {
    "redeem-first": "≥ 250/s, p99 ≤ 150 ms, ≥ 25% of bare",
    "redeem-repeat": "≥ 300/s",
    "bound-redeem-first": "(redeem service alone: no framework, no auth)",
    "prod-redeem-first": "≥ 300/s",
    "kiosk-first": "≥ 200/s, p99 ≤ 200 ms",
    "feed-200": "p99 ≤ 50 ms",
    "feed-1000": "p99 ≤ 150 ms",
    "prod-feed-200": "p99 ≤ 50 ms",
    "idle-1000": "≤ 150 MB",
    "replay": "≤ 1 s",
}


def print_table(results: dict) -> None:
    rows = [(k, v) for k, v in results.items() if isinstance(v, dict) and "rate" in v]
    print(f"\n{'phase':<22}{'req':>6}{'req/s':>8}{'x bare':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'err':>5}"
          f"{'srvCPU':>8}{'genCPU':>8}  target / outcomes")
    for name, r in rows:
        prefix = "prod-" if name.startswith("prod-") else ""
        bare = results.get(f"{prefix}floor-bare", {}).get("rate") or float("nan")
        print(f"{name:<22}{r['requests']:>6}{r['rate']:>8.0f}{r['rate'] / bare:>8.2f}{r['p50']:>8}{r['p95']:>8}"
              f"{r['p99']:>8}{r['errors']:>5}{r['server_cpu']:>8}{r['loadgen_cpu']:>8}  "
              f"{TARGETS.get(name, '')} {r['outcomes']}")
    for name, r in results.items():
        if isinstance(r, dict) and "deliveries" in r:
            print(f"{name:<22} {r['sockets']} sockets x {r['writes']} scans at {r['scan_rate']}/s: "
                  f"{r['deliveries']} deliveries, {r['missing']} missing; p50 {r['p50']} p95 {r['p95']} "
                  f"p99 {r['p99']} max {r['max']} ms (redeem answer p50 {r.get('scan_p50')} p99 {r.get('scan_p99')});"
                  f" srvCPU {r.get('server_cpu')} genCPU {r.get('loadgen_cpu')}"
                  f"  [{TARGETS.get(name, '')}]")
    if "idle-1000" in results:
        r = results["idle-1000"]
        print(f"{'idle-1000':<22} {r['sockets']} idle sockets: +{r['added_mb']} MB ({r['per_socket_kb']} KB each)"
              f"  [{TARGETS['idle-1000']}]")
    if "replay" in results:
        r = results["replay"]
        print(f"{'replay':<22} {r['entries']} entries in {r['seconds']} s ({r['per_second']}/s)  [≤ 1 s]")
    if "snapshot" in results and results["snapshot"].get("parsed"):
        print(f"{'snapshot':<22} {results['snapshot']['parsed']}  [≤ 150 ms]")


# ---------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--only", default="", help="comma list: redeem,kiosk,feed,idle,replay,snapshot,qr")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=60, help="seconds per load phase at most")
    parser.add_argument("--scan-rate", type=float, default=50, help="scans per second in the feed phases")
    parser.add_argument("--letters", type=int, default=3000, help="letters in the batch PDF (20000 for the memory target)")
    args = parser.parse_args()
    production = os.environ.get("BENCH_PRODUCTION") == "1"
    only = set(filter(None, args.only.split(",")))
    want = (lambda name: not only or name in only)  # noqa: E731
    q = args.quick
    args.floor_requests = 1000 if q else 3000
    n_redeem = 500 if q else 2000
    n_kiosk = 500 if q else 2000
    feed_sizes = [50, 200] if q else [200, 1000]
    n_feed = 100 if q else 250  # scans per feed row (5 s at 50/s)
    args.replay = 5000
    started = time.perf_counter()
    results: dict = {"machine_start": machine(), "production": production,
                     "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    print(f"bench: {results['machine_start']['cores']} cores, {results['machine_start']['cpu']}, load average "
          f"{results['machine_start']['loadavg']}", flush=True)
    failure = None
    tmp = Path(tempfile.mkdtemp(prefix="vm-bench-"))
    stack = None
    try:
        clients = 2 * n_redeem + n_kiosk + n_feed * len(feed_sizes) + 50
        stack = Stack(tmp / "embedded", False, clients) if (tmp / "embedded").mkdir() is None else None
        tokens = stack.data["tokens"]
        print(f"embedded: seeded {len(tokens)} invitations in {stack.setup_seconds:.1f} s", flush=True)
        t_redeem, rest = tokens[:n_redeem], tokens[n_redeem:]
        t_kiosk, rest = rest[:n_kiosk], rest[n_kiosk:]
        t_bound, rest = rest[:n_redeem], rest[n_redeem:]

        async def embedded():
            await floors(stack, args, results, "")
            if want("redeem"):
                await guarded(results, "redeem", redeem(stack, args, results, t_redeem, ""))
                # The same scans through the redeem service alone: what no framework at all would give.
                await guarded(results, "bound-redeem", redeem(stack, args, results, t_bound, "bound-", repeat=False,
                                                              path=BOUND_PATH))
            if want("kiosk"):
                await guarded(results, "kiosk", kiosk(stack, args, results, t_kiosk))
            feed_tokens = rest
            if want("feed"):
                for size in feed_sizes:
                    await guarded(results, f"feed-{size}",
                                  feed_latency(stack, args, results, size, feed_tokens[:n_feed], ""))
                    feed_tokens = feed_tokens[n_feed:]
            if want("replay"):
                await guarded(results, "replay", replay(stack, args, results))

        asyncio.run(embedded())
        stack.close()
        stack = None

        if want("idle"):
            # A fresh server: after the feed phases the process's heap is at its high-water mark
            # and 1,000 new sockets would fit in memory freed by the earlier ones (measured +0 MB).
            (tmp / "idle").mkdir()
            stack = Stack(tmp / "idle", False, 50)
            asyncio.run(guarded(results, "idle", idle_memory(stack, args, results, 1000)))
            stack.close()
            stack = None

        if production:
            (tmp / "production").mkdir()
            stack = Stack(tmp / "production", True, n_redeem + n_feed + 50)
            tokens = stack.data["tokens"]
            print(f"production: seeded {len(tokens)} invitations in {stack.setup_seconds:.1f} s", flush=True)

            async def prod():
                await floors(stack, args, results, "prod-")
                if want("redeem"):
                    await guarded(results, "prod-redeem",
                                  redeem(stack, args, results, tokens[:n_redeem], "prod-", repeat=False))
                if want("feed"):
                    await guarded(results, "prod-feed-200",
                                  feed_latency(stack, args, results, 200, tokens[n_redeem:n_redeem + n_feed], "prod-"))

            asyncio.run(prod())
            stack.close()
            stack = None

        if want("snapshot"):
            subprocess_bench(results, "snapshot", ["bench/snapshot.py", "--runs", "10"], 240)
            results["snapshot"]["parsed"] = parse_snapshot(results["snapshot"]["stdout"])
        if want("qr"):
            subprocess_bench(results, "qr_letters", ["bench/qr_letters.py", "--qr", "1000", "--issue", "20000",
                                                     "--letters", str(args.letters), "--no-trace"], 400)
    except BenchFailure as exc:
        failure = str(exc)
        if stack is not None:
            print(f"--- server logs (tail) ---\n{stack.log_tail()}")
    finally:
        if stack is not None:
            stack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine_end"] = machine()
    results["seconds"] = round(time.perf_counter() - started, 1)
    print_table(results)
    print(f"\nload average at start {results['machine_start']['loadavg']}, at end {results['machine_end']['loadavg']};"
          f" suite {results['seconds']} s (bound {SUITE_SECONDS} s)")
    out = ROOT / "bench" / "results" / (dt.datetime.now().strftime("%Y%m%d-%H%M%S") + ".json")
    if results.get("failures"):
        failure = "; ".join(results["failures"]) + (f"; {failure}" if failure else "")
    results["failure"] = failure
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {out.relative_to(ROOT)}")
    if failure:
        print(f"\nBENCH FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
