"""Faults in the parts the API leans on give clear, retryable answers — never a false ok."""

import json
import uuid

import pytest
from django.db.utils import OperationalError

from backend import ratelimit
from checkin.models import Scan
from tests import factories as f


@pytest.mark.django_db
def test_database_outage_is_503_with_retry_after_and_writes_nothing(market, host, api_as, monkeypatch):
    inv = f.invitation(market)
    c = api_as(host)

    def down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("checkin.services.invitation_check_in", down)
    body = json.dumps({"market": market.pk, "token": inv.token, "nonce": uuid.uuid4().hex})
    r = c.post("/api/v1/checkin/redeem", body, content_type="application/json")
    assert r.status_code == 503
    assert r.json()["code"] == "unavailable" and r["Retry-After"] == "2"
    assert not Scan.objects.exists()
    inv.refresh_from_db()
    assert inv.state == "issued"

    monkeypatch.undo()
    retry = c.post("/api/v1/checkin/redeem", body, content_type="application/json")
    assert retry.status_code == 200 and retry.json()["status"] == "ok"


@pytest.mark.django_db
def test_rate_limit_cache_outage_fails_open(monkeypatch, market, host, api_as):
    class Broken:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("redis down")
            return fail

    monkeypatch.setattr(ratelimit, "cache", Broken())
    ratelimit.check("code", "ip:1")  # no exception: the door keeps working
    ratelimit.record_failure("code", "ip:1")
    inv = f.invitation(market)
    r = api_as(host).post("/api/v1/checkin/redeem",
                          json.dumps({"market": market.pk, "token": inv.token, "nonce": uuid.uuid4().hex}),
                          content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "ok"
