"""Two (or many) devices scan one invitation at the same moment: exactly one `ok`."""

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import close_old_connections, connection

from backend.models import FeedEntry
from checkin.models import Scan
from checkin.services import ScanRequest, checkin_redeem
from events.models import Invitation, Market
from tests import factories as f

THREADS = 8
ROOT = Path(__file__).resolve().parents[2]


def _race(market_id: int, token: str, user_id: int, same_nonce: str | None = None) -> list[dict]:
    from django.contrib.auth import get_user_model

    barrier = threading.Barrier(THREADS)
    results: list = []
    lock = threading.Lock()

    def worker():
        try:
            market = Market.objects.get(pk=market_id)
            user = get_user_model().objects.get(pk=user_id)
            barrier.wait(timeout=10)
            answer = checkin_redeem(market=market, user=user, request=ScanRequest(
                market_id=market_id, nonce=same_nonce or uuid.uuid4().hex, token=token))
        except Exception as exc:  # recorded so that the test fails with it
            answer = exc
        finally:
            close_old_connections()
            connection.close()
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _assert_one_ok(results, market, invitation):
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    statuses = sorted((r["status"], r["reason"]) for r in results)
    assert statuses.count(("ok", None)) == 1
    assert statuses.count(("error", "already_checked_in")) == THREADS - 1
    assert Invitation.objects.get(pk=invitation.pk).state == "checked_in"
    assert FeedEntry.objects.filter(market_id=market.pk, kind="checkin.created").count() == 1
    assert Scan.objects.filter(invitation=invitation).count() == THREADS
    first_times = {r["checked_in_at"] for r in results}
    assert len(first_times) == 1


@pytest.fixture
def race_setup(transactional_db):
    market = f.market(f.district("Race"), state="open")
    invitation = f.invitation(market)
    host = f.user("racer", "host")
    return market, invitation, host


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="real row-lock race: runs in CI's PostgreSQL pass")
@pytest.mark.django_db(transaction=True)
def test_many_threads_one_invitation_exactly_one_ok_postgres(race_setup):
    market, invitation, host = race_setup
    _assert_one_ok(_race(market.pk, invitation.token, host.pk), market, invitation)


@pytest.fixture(scope="module")
def sqlite_file_db(tmp_path_factory):
    """A migrated SQLite file database (WAL, IMMEDIATE), like the embedded server's."""
    tmp = tmp_path_factory.mktemp("race")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'race.sqlite3'}", "VAR_DIR": str(tmp)}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    return env


def _race_in_process(env, *args) -> dict:
    out = subprocess.run([sys.executable, "tests/checkin/race_script.py", str(THREADS), *args], cwd=ROOT,
                         env=env, check=True, capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(settings.IS_POSTGRES, reason="SQLite variant; the PostgreSQL pass runs the in-process race")
def test_many_threads_one_invitation_exactly_one_ok_sqlite_file(sqlite_file_db):
    run = _race_in_process(sqlite_file_db)
    results = run["results"]
    assert not [r for r in results if "exception" in r], results
    statuses = sorted((r["status"], r["reason"]) for r in results)
    assert statuses.count(("ok", None)) == 1
    assert statuses.count(("error", "already_checked_in")) == THREADS - 1
    assert (run["state"], run["entries"], run["scans"]) == ("checked_in", 1, THREADS)


@pytest.mark.skipif(settings.IS_POSTGRES, reason="SQLite variant; the PostgreSQL pass runs the in-process race")
def test_same_nonce_from_many_threads_is_one_scan_sqlite_file(sqlite_file_db):
    run = _race_in_process(sqlite_file_db, "same-nonce")
    results = run["results"]
    assert not [r for r in results if "exception" in r], results
    assert sum(1 for r in results if not r["replayed"]) == 1
    assert all(r["status"] == "ok" for r in results)
    assert (run["entries"], run["scans"]) == (1, 1)


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="real row-lock race: runs in CI's PostgreSQL pass")
@pytest.mark.django_db(transaction=True)
def test_same_nonce_from_many_threads_is_one_scan(race_setup):
    market, invitation, host = race_setup
    results = _race(market.pk, invitation.token, host.pk, same_nonce=uuid.uuid4().hex)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    assert sum(1 for r in results if not r["replayed"]) == 1
    assert all(r["status"] == "ok" for r in results)
    assert Scan.objects.count() == 1
    assert FeedEntry.objects.filter(market_id=market.pk, kind="checkin.created").count() == 1
