"""Scan-to-dashboard latency of the market feed, and feed replay speed (DESIGN.md §5, §12).

Starts a real daphne on a loopback port with its own database (a temporary SQLite file, or
with BENCH_PRODUCTION=1 PostgreSQL + Redis and two daphne processes), seeds it with
`manage.py seed_demo`, connects 1, 50 and 200 consultant websockets (session cookie from
POST /api/v1/auth/login) and checks invitations in through POST /api/v1/checkin/redeem, one
after the other. Latency = from sending the redeem request to the `checkin.created` entry
arriving on a socket, over every socket and every write: p50/p95/p99.

Then it appends 5,000 entries and times their replay to one fresh socket (target ≤ 1 s).
Those 5,000 are written with `manage.py shell -c` calling backend.feed.feed_append in one
transaction (the replay speed does not depend on how they were written; 5,000 redeems would
only make the bench slow).

    .venv/bin/python bench/feed_latency.py                  # embedded default
    BENCH_PRODUCTION=1 .venv/bin/python bench/feed_latency.py   # PostgreSQL + Redis, 2 daphnes
    BENCH_WRITES=100 BENCH_SOCKETS=1,50,200 BENCH_GAP_MS=20 ...   # knobs
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PASSWORD = "bench-password-123"
WRITES = int(os.environ.get("BENCH_WRITES", "100"))
SOCKETS = [int(n) for n in os.environ.get("BENCH_SOCKETS", "1,50,200").split(",")]
REPLAY = int(os.environ.get("BENCH_REPLAY", "5000"))
GAP_MS = int(os.environ.get("BENCH_GAP_MS", "20"))  # pause between redeems: 20 ms ≈ 50 check-ins/s
PRODUCTION = os.environ.get("BENCH_PRODUCTION") == "1"
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vm_feed_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict, *args: str, capture: bool = False) -> str:
    result = subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True,
                            capture_output=True, text=True, timeout=600)
    return result.stdout if capture else ""


def prepare(tmp: Path) -> dict:
    env = {**os.environ, "VAR_DIR": str(tmp), "DEBUG": "1", "LOG_LEVEL": "ERROR",
           "ALLOWED_HOSTS": "127.0.0.1,localhost", "PUBLIC_BASE_URL": "http://127.0.0.1:8000"}
    if PRODUCTION:
        import psycopg

        admin = PG_URL.rsplit("/", 1)[0] + "/postgres"
        name = PG_URL.rsplit("/", 1)[1]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        prefix = f"vm_bench_{uuid.uuid4().hex[:6]}"
        env.update(DATABASE_URL=PG_URL, REDIS_URL=REDIS_URL, CHANNEL_PREFIX=prefix, CACHE_PREFIX=prefix)
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        env.pop("REDIS_URL", None)
    manage(env, "migrate", "-v0")
    clients = WRITES * len(SOCKETS) + 10
    manage(env, "seed_demo", "--password", PASSWORD, "--clients", str(clients))
    return env


def start_daphne(env: dict, port: int, log: Path) -> subprocess.Popen:
    daphne = shutil.which("daphne", path=str(Path(PYTHON).parent)) or "daphne"
    proc = subprocess.Popen([daphne, "-b", "127.0.0.1", "-p", str(port), "backend.asgi:application"],
                            env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"daphne on port {port} did not start; see {log}")


async def login(base: str, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=30)
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


class Dashboard:
    """One consultant socket that notes when each invitation's check-in arrives."""

    def __init__(self, url: str, cookie: str, origin: str):
        self.url, self.cookie, self.origin = url, cookie, origin
        self.arrivals: dict[int, float] = {}
        self.entries = 0
        self.hello = asyncio.Event()

    async def run(self, stop: asyncio.Event, since: int | None = None):
        url = self.url + (f"?since={since}" if since is not None else "")
        async with websockets.connect(url, additional_headers={"Cookie": self.cookie, "Origin": self.origin},
                                      max_queue=None, ping_interval=None) as ws:
            recv = asyncio.ensure_future(self._read(ws))
            await stop.wait()
            recv.cancel()

    async def _read(self, ws):
        async for raw in ws:
            now = time.perf_counter()
            message = json.loads(raw)
            if message["type"] == "hello":
                self.hello.set()
            elif message["type"] == "entry":
                self.entries += 1
                if message["kind"] == "checkin.created":
                    self.arrivals[message["data"]["invitation_id"]] = now


async def latency_round(bases: list[str], market: int, sockets: int, invitations: list[dict],
                        consultant_cookie: str) -> dict:
    host = await login(bases[0], "host")
    stop = asyncio.Event()
    dashboards, tasks = [], []
    for i in range(sockets):
        base = bases[i % len(bases)]  # production: half the sockets on each daphne
        ws_url = base.replace("http://", "ws://") + f"/ws/markets/{market}/feed/"
        d = Dashboard(ws_url, consultant_cookie, base)
        dashboards.append(d)
        tasks.append(asyncio.ensure_future(d.run(stop)))
    await asyncio.wait_for(asyncio.gather(*(d.hello.wait() for d in dashboards)), 60)
    sent: dict[int, float] = {}
    for inv in invitations:
        t0 = time.perf_counter()
        response = await host.post("/api/v1/checkin/redeem",
                                   json={"market": market, "code": inv["code"], "nonce": str(uuid.uuid4())})
        assert response.status_code == 200 and response.json()["status"] == "ok", response.text
        sent[inv["id"]] = t0
        await asyncio.sleep(GAP_MS / 1000)
    deadline = time.time() + 30
    while time.time() < deadline and any(len(d.arrivals) < len(sent) for d in dashboards):
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await host.aclose()
    latencies = [(d.arrivals[i] - t0) * 1000 for d in dashboards for i, t0 in sent.items() if i in d.arrivals]
    missing = sum(1 for d in dashboards for i in sent if i not in d.arrivals)
    return {"sockets": sockets, "writes": len(sent), "deliveries": len(latencies), "missing": missing,
            "p50": pct(latencies, 50), "p95": pct(latencies, 95), "p99": pct(latencies, 99),
            "max": max(latencies), "mean": statistics.fmean(latencies)}


APPEND = """
from django.db import transaction
from backend.feed import feed_append, feed_head
with transaction.atomic():
    for i in range({n}):
        feed_append(market_id={market}, kind="invitations.issued", data={{"count": 0, "total": i}})
print(feed_head(market_id={market}))
"""


async def replay_round(env: dict, base: str, market: int, cookie: str) -> dict:
    out = manage(env, "shell", "-c", APPEND.format(n=REPLAY, market=market), capture=True)
    head = int(out.strip().splitlines()[-1])
    since = head - REPLAY
    url = base.replace("http://", "ws://") + f"/ws/markets/{market}/feed/?since={since}"
    t0 = time.perf_counter()
    received = 0
    async with websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": base},
                                  max_queue=None, ping_interval=None) as ws:
        first = None
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "entry":
                first = first or time.perf_counter()
                received += 1
                if message["seq"] == head:
                    break
    elapsed = time.perf_counter() - t0
    return {"entries": received, "seconds": elapsed, "first_entry_ms": (first - t0) * 1000 if first else None,
            "per_second": received / elapsed}


async def main_async(env: dict, bases: list[str]) -> tuple[list[dict], dict]:
    consultant = await login(bases[0], "consultant")
    coordinator = await login(bases[0], "coordinator")
    cookie = f"sessionid={consultant.cookies['sessionid']}"
    market = (await consultant.get("/api/v1/markets")).json()[0]["id"]
    invitations = [i for i in (await coordinator.get(f"/api/v1/markets/{market}/invitations")).json()
                   if i["state"] == "issued"]
    rows = []
    for n in SOCKETS:
        batch, invitations = invitations[:WRITES], invitations[WRITES:]
        rows.append(await latency_round(bases, market, n, batch, cookie))
        print(f"  {n} sockets done", file=sys.stderr)
    replay = await replay_round(env, bases[0], market, cookie)
    await consultant.aclose()
    await coordinator.aclose()
    return rows, replay


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="vm-feed-bench-"))
    procs = []
    try:
        print(f"preparing ({'PostgreSQL + Redis, 2 daphne processes' if PRODUCTION else 'SQLite, 1 daphne'})…",
              file=sys.stderr)
        env = prepare(tmp)
        ports = [free_port() for _ in range(2 if PRODUCTION else 1)]
        procs = [start_daphne(env, port, tmp / f"daphne-{port}.log") for port in ports]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        rows, replay = asyncio.run(main_async(env, bases))
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    mode = "PostgreSQL + Redis, 2 daphne" if PRODUCTION else "SQLite (WAL), in-memory layer, 1 daphne"
    print(f"\nScan-to-dashboard latency ({mode}; {WRITES} redeems per row, {GAP_MS} ms apart)")
    print("| sockets | deliveries | missing | p50 ms | p95 ms | p99 ms | max ms |")
    print("|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['sockets']} | {r['deliveries']} | {r['missing']} | {r['p50']:.1f} | {r['p95']:.1f} | "
              f"{r['p99']:.1f} | {r['max']:.1f} |")
    print(f"\nReplay of {replay['entries']} entries to one socket: {replay['seconds']:.3f} s "
          f"({replay['per_second']:.0f} entries/s; first entry after {replay['first_entry_ms']:.0f} ms; target ≤ 1 s)")


if __name__ == "__main__":
    main()
