"""Benchmark: the consultant dashboard's start (snapshot) and catch-up (feed replay).

    .venv/bin/python bench/snapshot.py                       # 2,000 invitations, 1,500 arrivals, 1,000 leads
    .venv/bin/python bench/snapshot.py --invitations 4000 --arrivals 3000 --leads 2000 --runs 30

Builds one market in its own SQLite database in a temporary directory (or, with DATABASE_URL
set, in that database — use an empty PostgreSQL database of your own), through the same
services the app uses, so the feed holds the entries a real market day would: invitations
issued, one `checkin.created` per arrival, `lead.created` per lead, and a claim plus an outcome
for a share of the leads. Then measures:

- the leads part of it two ways: model instances + lead_feed_data (what the snapshot does)
  and events.lead_selectors.lead_feed_rows (two value queries);
- the snapshot as the selector builds it (events.snapshot.market_snapshot) and as the API
  serves it (GET /api/v1/markets/{id}/snapshot through Django's test client: auth, schema,
  JSON), median and p95 over --runs; target ≤ 150 ms;
- feed replay from seq 0: reading the entries from the database (backend.feed.feed_entries in
  the consumer's chunk size) and through the real websocket consumer (WebsocketCommunicator,
  in-memory channel layer), entries per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(tmp: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    os.environ.setdefault("VAR_DIR", str(tmp))
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ.pop("REDIS_URL", None)  # the replay is measured on the in-memory layer
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def build(invitations: int, arrivals: int, leads: int) -> tuple:
    import datetime as dt
    import uuid

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from backend.auth import CONSULTANT, COORDINATOR, ensure_role_groups, grant_role
    from backend.feed import feed_append
    from events import lead_services as ls
    from events import services
    from events.models import Activity, Client, District, Invitation, Lead, Organisation, Stand

    tag = uuid.uuid4().hex[:6]
    ensure_role_groups()
    district = District.objects.create(name=f"Bench {tag}")
    User = get_user_model()
    coordinator = User.objects.create_user(f"bench-coord-{tag}", password="x")
    grant_role(coordinator, COORDINATOR)
    consultant = User.objects.create_user(f"bench-cons-{tag}", password="x")
    grant_role(consultant, CONSULTANT)
    district.consultants.add(consultant)
    start = timezone.now() - dt.timedelta(hours=2)
    market = services.market_create(district=district, name=f"Bench markt {tag}", venue="Hal", address="Straat 1",
                                    starts_at=start, ends_at=start + dt.timedelta(hours=8))
    services.market_open(market=market)
    clients = Client.objects.bulk_create([
        Client(client_number=f"B{tag}{i:06d}", given_name=f"Naam{i}", family_name="Bench", district=district,
               language="nl") for i in range(invitations)], batch_size=1000)
    services.invitation_issue_bulk(market=market, clients=clients)
    orgs = []
    for o in range(10):
        org = Organisation.objects.create(name=f"Org {tag} {o}")
        for a in range(3):
            Activity.objects.create(organisation=org, title=f"Activiteit {a}", capacity=1000)
        Stand.objects.create(market=market, organisation=org)
        orgs.append(org)
    invs = list(Invitation.objects.filter(market=market).select_related("client").order_by("pk")[:arrivals])
    t0 = time.perf_counter()
    with transaction.atomic():
        for k, inv in enumerate(invs):
            inv.state = Invitation.State.CHECKED_IN
            inv.checked_in_at = start + dt.timedelta(seconds=k * 10)
            inv.save(update_fields=["state", "checked_in_at"])
            feed_append(market_id=market.pk, kind="checkin.created",
                        data={"invitation_id": inv.pk, "client_id": inv.client_id,
                              "display_name": inv.client.display_name, "language": "nl",
                              "checked_in_at": inv.checked_in_at, "slot_id": None, "walk_in": False})
    t_checkin = time.perf_counter() - t0
    t0 = time.perf_counter()
    made = []
    with transaction.atomic():
        for k in range(leads):
            inv = invs[k % len(invs)]
            org = orgs[(k // len(invs)) % len(orgs)] if leads > len(invs) else orgs[k % len(orgs)]
            lead, _ = ls.lead_upsert(market=market, client=inv.client, organisation=org,
                                     activities=list(org.activities.all()[:1]), source=Lead.Source.KIOSK,
                                     warmth="warm", note="bench")
            made.append(lead)
    t_leads = time.perf_counter() - t0
    # A third of the leads claimed, a tenth with an outcome (agreement): lead.updated, agreement.created.
    today = timezone.localdate()
    for k, lead in enumerate(made[: leads // 3]):
        ls.lead_claim(lead_id=lead.pk, user=consultant)
        if k % 3 == 0:
            ls.lead_outcome(lead_id=lead.pk, user=consultant, outcome="agreement",
                            activity=lead.activities.first().pk, hours_per_week=8, start_date=today,
                            end_date=today + dt.timedelta(days=90))
    return market, coordinator, {"checkins_written_per_s": len(invs) / t_checkin, "leads_written_per_s": leads / t_leads}


def timed(fn, runs: int) -> dict:
    fn()  # warm up
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[max(0, int(len(samples) * 0.95) - 1)],
            "max_ms": samples[-1]}


async def ws_replay(market_id: int, user, head: int) -> float:
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from events.routing import websocket_urlpatterns

    router = URLRouter(websocket_urlpatterns)

    async def app(scope, receive, send):
        return await router({**scope, "user": user}, receive, send)

    comm = WebsocketCommunicator(app, f"/ws/markets/{market_id}/feed/?since=0")
    t = time.perf_counter()
    connected, _ = await comm.connect(timeout=30)
    assert connected
    got = 0
    while True:
        message = await comm.receive_json_from(timeout=30)
        if message["type"] == "entry":
            got += 1
            if message["seq"] == head:
                break
        elif message["type"] == "reset":
            raise SystemExit(f"replay got reset (head {head}); raise VM_FEED_REPLAY_LIMIT")
    elapsed = time.perf_counter() - t
    await comm.disconnect()
    assert got == head, (got, head)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=2000)
    parser.add_argument("--arrivals", type=int, default=1500)
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vm-bench-snapshot-"))
    setup_django(tmp)
    from django.conf import settings
    from django.test import Client as HttpClient
    from django.test.utils import setup_test_environment

    from backend import heap
    from backend.feed import feed_entries, feed_head
    from events.snapshot import market_snapshot

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    t0 = time.perf_counter()
    market, coordinator, write_rates = build(args.invitations, args.arrivals, args.leads)
    build_s = time.perf_counter() - t0
    head = feed_head(market_id=market.pk)

    snap = market_snapshot(market=market)
    selector = timed(lambda: market_snapshot(market=market), args.runs)
    from events.lead_selectors import lead_feed_rows
    from events.models import Lead
    from events.lead_services import lead_feed_data

    def leads_orm():
        return [lead_feed_data(lead) for lead in Lead.objects.filter(market_id=market.pk)
                .select_related("client", "organisation", "claimed_by").prefetch_related("activities").order_by("pk")]

    leads_models = timed(leads_orm, args.runs)
    leads_values = timed(lambda: lead_feed_rows(market_id=market.pk), args.runs)
    http = HttpClient()
    http.force_login(coordinator)
    url = f"/api/v1/markets/{market.pk}/snapshot"
    response = http.get(url)
    assert response.status_code == 200, response.content[:300]
    size_kb = len(response.content) / 1024
    # The server settles its start-up heap out of the collector's way (backend/asgi.py): do the
    # same here, after the build, so that full collections walk what the requests make, not the
    # whole loaded app (bench/README.md, "Garbage collector").
    heap.settle()
    api = timed(lambda: http.get(url), args.runs)

    def read_all():
        since, n = 0, 0
        while True:
            chunk = feed_entries(market_id=market.pk, since=since, limit=500)
            n += len(chunk)
            if len(chunk) < 500:
                return n
            since = chunk[-1]["seq"]

    db_replay = timed(read_all, max(3, args.runs // 4))
    ws_seconds = asyncio.run(ws_replay(market.pk, coordinator, head))

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database: {engine}; market: {args.invitations} invitations, {len(snap['arrivals'])} arrivals, "
          f"{len(snap['leads'])} leads; feed head {head}; built in {build_s:.1f} s "
          f"({write_rates['checkins_written_per_s']:.0f} check-ins/s, {write_rates['leads_written_per_s']:.0f} "
          f"leads/s in one transaction)")
    print(f"{'measure':44} {'median':>10} {'p95':>10} {'max':>10}")
    print(f"{'snapshot selector (ms)':44} {selector['median_ms']:10.1f} {selector['p95_ms']:10.1f} "
          f"{selector['max_ms']:10.1f}")
    print(f"{'GET snapshot via API, %.0f KB JSON (ms)' % size_kb:44} {api['median_ms']:10.1f} "
          f"{api['p95_ms']:10.1f} {api['max_ms']:10.1f}")
    print(f"{'  of which leads, model instances (ms)':44} {leads_models['median_ms']:10.1f} "
          f"{leads_models['p95_ms']:10.1f} {leads_models['max_ms']:10.1f}")
    print(f"{'  leads via lead_feed_rows, values (ms)':44} {leads_values['median_ms']:10.1f} "
          f"{leads_values['p95_ms']:10.1f} {leads_values['max_ms']:10.1f}")
    print(f"{'replay %d entries from the database (ms)' % head:44} {db_replay['median_ms']:10.1f} "
          f"{db_replay['p95_ms']:10.1f} {db_replay['max_ms']:10.1f}")
    print(f"  = {head / (db_replay['median_ms'] / 1000):,.0f} entries/s from the database")
    print(f"replay {head} entries through the websocket consumer: {ws_seconds * 1000:.0f} ms "
          f"= {head / ws_seconds:,.0f} entries/s")
    verdict = "meets" if api["p95_ms"] <= 150 else "MISSES"
    print(f"target: snapshot ≤ 150 ms — API p95 {api['p95_ms']:.1f} ms {verdict} it")


if __name__ == "__main__":
    main()
