"""One lead per client per stand under concurrent requests, and one answer per nonce.

Threads with their own database connections register the same client at the same moment.
PostgreSQL (CI's PostgreSQL pass) runs the real row-lock race. SQLite's in-memory test
database (shared cache) reports "table is locked" instead of waiting, so there the threads
take turns, as writers do on a production SQLite file (IMMEDIATE transactions); the lost-race
paths are then exercised deterministically below.
"""

import threading

import pytest
from django.conf import settings
from django.db import connection

from backend.models import FeedEntry
from events.models import Lead
from kiosk import services
from kiosk.models import InterestRequest
from tests.kiosk.conftest import check_in, new_nonce
from tests import factories as f

postgres_only = pytest.mark.skipif(not settings.IS_POSTGRES, reason="real row-lock races need PostgreSQL")


def _run_at_once(calls):
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []
    turn = threading.Lock() if not settings.IS_POSTGRES else None

    def worker(i, call):
        try:
            barrier.wait(timeout=10)
            if turn is None:
                results[i] = call()
            else:
                with turn:
                    results[i] = call()
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


@pytest.fixture
def race_setup(transactional_db):
    market = f.market(f.district("Race"))
    org = f.organisation("Race club", activities=2)
    stand = f.stand(market, org)
    devices = []
    for _ in range(4):
        code, _row = services.pairing_code_create(stand=stand)
        devices.append(services.device_pair(code=code, ip="10.1.1.1")[1])
    visitor = check_in(f.invitation(market))
    acts = list(org.activities.values_list("pk", flat=True))
    return market, devices, visitor, acts


def _register(device, visitor, acts, nonce=None, warmth="warm"):
    data = services.InterestIn(token=visitor.token, code=None, activities=acts, note="", warmth=warmth,
                               nonce=nonce or new_nonce())
    return lambda: services.interest_register(device=device, data=data)


def _assert_one_lead(market, results):
    assert [r["status"] for r in results] == ["ok"] * len(results)
    assert Lead.objects.filter(market=market).count() == 1
    assert sum(r["lead"]["created"] for r in results) == 1
    kinds = list(FeedEntry.objects.filter(market_id=market.pk, kind__startswith="lead.")
                 .values_list("kind", flat=True))
    assert sorted(kinds) == ["lead.created"] + ["lead.updated"] * (len(results) - 1)


def test_concurrent_tablets_one_lead_per_client_per_stand(race_setup):
    market, devices, visitor, acts = race_setup
    calls = [_register(devices[i % 4], visitor, [acts[i % 2]]) for i in range(6)]
    results = _run_at_once(calls)
    _assert_one_lead(market, results)
    assert sorted(Lead.objects.get().activities.values_list("pk", flat=True)) == sorted(acts)


@postgres_only
def test_real_race_one_lead_per_client_per_stand_postgres(race_setup):
    market, devices, visitor, acts = race_setup
    results = _run_at_once([_register(devices[i % 4], visitor, acts) for i in range(12)])
    _assert_one_lead(market, results)


def test_same_nonce_at_once_is_answered_once(race_setup):
    market, devices, visitor, acts = race_setup
    results = _run_at_once([_register(devices[0], visitor, acts, nonce="dup-1") for _ in range(5)])
    assert InterestRequest.objects.filter(nonce="dup-1").count() == 1
    assert Lead.objects.filter(market=market).count() == 1
    assert sum(not r["replayed"] for r in results) == 1
    first = next(r for r in results if not r["replayed"])
    assert all(r == {**first, "replayed": r["replayed"]} for r in results)
    assert FeedEntry.objects.filter(market_id=market.pk, kind__startswith="lead.").count() == 1


def test_nonce_insert_race_lost_rolls_back_and_answers_as_replay(race_setup, monkeypatch):
    """The other request with this nonce committed before our insert (there is no replay
    lookup before the work any more, so this is every replay's path): our lead write is rolled
    back and we answer with the winner's stored response."""
    market, devices, visitor, acts = race_setup
    first = _register(devices[0], visitor, acts, nonce="late")()
    feed_before = FeedEntry.objects.filter(market_id=market.pk).count()
    real_replay = services._replay
    calls = []

    def replay_spy(device, data, fingerprint):
        calls.append(1)
        return real_replay(device, data, fingerprint)

    monkeypatch.setattr(services, "_replay", replay_spy)
    again = _register(devices[0], visitor, acts, nonce="late")()
    assert again == {**first, "replayed": True}
    assert len(calls) == 1  # only after the failed insert
    assert FeedEntry.objects.filter(market_id=market.pk).count() == feed_before
    assert Lead.objects.get().warmth == "warm" and InterestRequest.objects.count() == 1
