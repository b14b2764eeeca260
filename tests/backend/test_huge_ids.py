"""Ids beyond what the database can hold (2**63 and up) are bad input, not a server error:
every operation answers a 4xx with the `{"message", "code", "extra"}` body (DESIGN.md §7, §12)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from backend.api import api
from events.models import Invitation, Market
from tests.backend.test_malformed_body import principals  # noqa: F401 - the shared fixture

HUGE = 2**63


def _operations():
    for path, item in api.get_openapi_schema()["paths"].items():
        if "{" not in path or path.endswith(".pdf"):
            continue
        for method in item:
            yield method, re.sub(r"\{[^}]+\}", str(HUGE), path)


def test_no_operation_fails_on_a_huge_id(principals):  # noqa: F811
    operations = list(_operations())
    assert len(operations) > 20
    for method, path in operations:
        for who, client in principals.items():
            kwargs = {"content_type": "application/json"} if method != "get" else {}
            r = getattr(client, method)(path, "{}", **kwargs) if method != "get" else client.get(path)
            assert r.status_code < 500, (method, path, who, r.status_code, r.content[:300])
            if r.status_code >= 400 and r["Content-Type"].startswith("application/json"):
                assert set(r.json()) == {"message", "code", "extra"}, (method, path, who)


@pytest.mark.parametrize("path", ["/dashboard/%d/", "/reports/market/%d/", "/reports/district/%d/", "/scan/%d/"])
def test_pages_with_a_huge_id_do_not_exist(principals, path):  # noqa: F811
    for who in ("coordinator", "consultant", "host"):
        assert principals[who].get(path % HUGE).status_code == 404, (who, path)
    assert principals["coordinator"].get(path % 10**17).status_code == 404  # 18 digits: looked up, not found


def test_redeem_with_a_huge_market_is_422(principals):  # noqa: F811
    inv = Invitation.objects.first()
    r = principals["host"].post("/api/v1/checkin/redeem", {"market": HUGE, "token": inv.token, "nonce": "n1"},
                                content_type="application/json")
    assert r.status_code == 422 and r.json()["code"] == "invalid"


def test_sync_answers_a_huge_market_in_its_own_item(principals):  # noqa: F811
    market = Market.objects.get()
    a, b = Invitation.objects.filter(market=market)[:2]
    scans = [{"market": HUGE, "token": a.token, "nonce": uuid.uuid4().hex},
             {"market": market.pk, "token": b.token, "nonce": uuid.uuid4().hex}]
    r = principals["host"].post("/api/v1/checkin/sync", json.dumps({"scans": scans}), content_type="application/json")
    assert r.status_code == 200, r.content
    first, second = r.json()["results"]
    assert first["error"]["status"] == 422 and first["error"]["code"] == "invalid"
    assert second["status"] == "ok"


def test_kiosk_interest_with_a_huge_activity_is_422(principals):  # noqa: F811
    inv = Invitation.objects.first()
    r = principals["device"].post("/api/v1/kiosk/interests",
                                  {"token": inv.token, "activities": [HUGE], "nonce": "k1"},
                                  content_type="application/json")
    assert r.status_code == 422, r.content
