"""Benchmark: check-in redeem throughput on a real daphne (embedded default: one process, SQLite).

    .venv/bin/python bench/redeem.py                      # 3000 clients, 16 scanners
    .venv/bin/python bench/redeem.py --clients 1000 --concurrency 16 --requests 1000 --json out.json

What it does (all on loopback, bounded in count and time):
1. a temporary VAR_DIR with a SQLite file (WAL, IMMEDIATE), `migrate`, `seed_demo --clients N`;
2. daphne serving backend.asgi:application (production mode, DEBUG=0) on a free port;
3. logs in as the demo host once (session cookie + CSRF token, as the scanner page has);
4. runs phases with C concurrent scanners, a new TCP connection per request (raw asyncio
   sockets, HTTP/1.1 `Connection: close`):
   - floor-bare: a bare ASGI JSON endpoint (bench/bare_asgi.py) on its own daphne: the server's
     ceiling on this machine;
   - floor-django: GET /healthz through Django's middleware (no database);
   - first: POST /api/v1/checkin/redeem, each request a distinct invitation (the `ok` path);
   - repeat: the same invitations again (`already_checked_in`);
5. checks correctness afterwards: ok answers = invitations checked in = checkin.created entries.

Prints one table (scans/s, p50/p95/p99 ms, errors, server and load-generator CPU share).
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

# The shared helpers (env, seeding, daphne, raw HTTP client, login) live in bench/common.py;
# bench/run.py runs this workload with the others (`make bench`).
from bench.common import (PASSWORD, cpu_model as _cpu_model, cpu_seconds, free_port, http,  # noqa: E402,F401
                          login, manage, server_env, start_daphne, stop)
from bench.common import run_phase as common_run_phase  # noqa: E402


async def run_phase(port: int, requests: list[tuple[str, str, bytes]], headers: dict, concurrency: int,
                    time_limit: float, server_pid: int) -> dict:
    """One load phase against one daphne process (the suite's loop, bench/common.run_phase)."""
    return await common_run_phase(port, requests, headers, concurrency, time_limit, [server_pid])


EXPORT = """
import json
from events.management.commands.seed_demo import DEMO_MARKET
from events.models import Market, Invitation
m = Market.objects.get(name=DEMO_MARKET)
print("JSON" + json.dumps({"market": m.pk, "tokens": list(Invitation.objects.filter(market=m, state="issued")
      .order_by("pk").values_list("token", flat=True))}))
"""

VERIFY = """
import json
from backend.models import FeedEntry
from events.models import Invitation
m = %d
print("JSON" + json.dumps({"checked_in": Invitation.objects.filter(market_id=m, state="checked_in").count(),
      "entries": FeedEntry.objects.filter(market_id=m, kind="checkin.created").count()}))
"""


def _json(out: str):
    return json.loads([ln for ln in out.splitlines() if ln.startswith("JSON")][-1][4:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000, help="first scans (and repeats) per phase")
    parser.add_argument("--floor-requests", type=int, default=3000)
    parser.add_argument("--time-limit", type=float, default=60, help="seconds per phase at most")
    parser.add_argument("--debug", action="store_true", help="run the server with DEBUG=1")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="vm-bench-redeem-"))
    port, bare_port = free_port(), free_port()
    env = server_env(tmp, port, args.debug)
    server = bare = None
    results: dict[str, dict] = {}
    try:
        t0 = time.perf_counter()
        manage(env, "migrate", "--noinput")
        manage(env, "seed_demo", "--password", PASSWORD, "--clients", str(args.clients))
        data = _json(manage(env, "shell", "-c", EXPORT))
        market, tokens = data["market"], data["tokens"]
        print(f"setup: {len(tokens)} invitations in {time.perf_counter() - t0:.1f}s "
              f"({os.cpu_count()} cores; {_cpu_model()})", flush=True)

        bare = start_daphne(env, bare_port, "bench.bare_asgi:application", tmp / "bare.log")
        results["floor-bare"] = asyncio.run(run_phase(
            bare_port, [("GET", "/", b"")] * args.floor_requests, {}, args.concurrency, args.time_limit, bare.pid))
        stop(bare)
        bare = None

        server = start_daphne(env, port, "backend.asgi:application", tmp / "daphne.log")
        headers = asyncio.run(login(port))
        results["floor-django"] = asyncio.run(run_phase(
            port, [("GET", "/healthz", b"")] * args.floor_requests, {}, args.concurrency, args.time_limit,
            server.pid))

        chosen = tokens[: args.requests]

        def bodies():
            return [("POST", "/api/v1/checkin/redeem",
                     json.dumps({"market": market, "token": tok, "nonce": uuid.uuid4().hex}).encode())
                    for tok in chosen]

        results["first"] = asyncio.run(run_phase(port, bodies(), headers, args.concurrency, args.time_limit,
                                                 server.pid))
        results["repeat"] = asyncio.run(run_phase(port, bodies(), headers, args.concurrency, args.time_limit,
                                                  server.pid))
        verify = _json(manage(env, "shell", "-c", VERIFY % market))
        ok = results["first"]["outcomes"].get("ok", 0)
        correct = ok == verify["checked_in"] == verify["entries"] and "ok" not in results["repeat"]["outcomes"]
        results["check"] = {"ok_answers": ok, **verify, "correct": correct}
    finally:
        stop(bare)
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)

    floor = results["floor-bare"]["rate"]
    print(f"\n{'phase':<14}{'req':>6}{'req/s':>9}{'% bare':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}{'srv CPU':>9}{'gen CPU':>9}  outcomes")
    for name in ("floor-bare", "floor-django", "first", "repeat"):
        r = results[name]
        print(f"{name:<14}{r['requests']:>6}{r['rate']:>9}{100 * r['rate'] / floor:>7.0f}%{r['p50']:>9}"
              f"{r['p95']:>9}{r['p99']:>9}{r['errors']:>8}{r['server_cpu']:>9}{r['loadgen_cpu']:>9}  "
              f"{r['outcomes']}")
    check = results["check"]
    print(f"\ncorrectness: ok answers {check['ok_answers']} = checked in {check['checked_in']} = "
          f"checkin.created entries {check['entries']}: {'OK' if check['correct'] else 'MISMATCH'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"cores": os.cpu_count(), "cpu": _cpu_model(), **results}, indent=2))
    return 0 if check["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
