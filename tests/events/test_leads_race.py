"""Two consultants claim the same lead at the same moment: exactly one wins (DESIGN.md §9).

The real row-level race needs PostgreSQL (CI's PostgreSQL pass); SQLite serialises writers."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection

from backend.auth import CONSULTANT
from backend.errors import Conflict
from backend.models import FeedEntry
from events import lead_services as ls
from events.models import Lead
from tests import factories as f

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="a real row-lock race needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def test_concurrent_claim_has_exactly_one_winner():
    district = f.district("Race")
    market = f.market(district)
    org = f.organisation("Racebaan")
    lead, _ = ls.lead_upsert(market=market, client=f.invitation(market).client, organisation=org,
                             activities=[], source=Lead.Source.KIOSK)
    consultants = [f.user(f"racer{i}", CONSULTANT, districts=(district,)) for i in range(6)]
    barrier = threading.Barrier(len(consultants))
    results: list[tuple[str, str]] = []
    lock = threading.Lock()

    def attempt(user):
        try:
            barrier.wait(timeout=10)
            ls.lead_claim(lead_id=lead.pk, user=user)
            outcome = ("won", user.username)
        except Conflict as exc:
            outcome = (exc.code, exc.extra.get("claimed_by"))
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt, args=(u,)) for u in consultants]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    winners = [name for status, name in results if status == "won"]
    assert len(results) == len(consultants)
    assert len(winners) == 1
    assert all(status == "lead_taken" and who == winners[0] for status, who in results if status != "won")
    lead.refresh_from_db()
    assert lead.claimed_by.username == winners[0]
    claims = FeedEntry.objects.filter(market_id=market.pk, kind="lead.updated", data__state="claimed")
    assert claims.count() == 1
