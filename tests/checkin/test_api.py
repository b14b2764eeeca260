"""The check-in API (DESIGN.md §7): shapes, status codes, roles, sync, body limits, rate limit."""

import datetime as dt

import pytest
from django.test import Client as DjangoClient
from django.utils import timezone

from backend import ratelimit
from checkin.models import Scan
from events.models import Invitation
from tests import factories as f
from tests.checkin.conftest import checkins, nonce, post, redeem

pytestmark = pytest.mark.django_db

REDEEM_KEYS = {"status", "reason", "replayed", "client", "checked_in_at", "message"}


def test_redeem_ok_shape(host_api, market, invitation):
    r = redeem(host_api, market, token=invitation.token)
    assert r.status_code == 200
    body = r.json()
    assert REDEEM_KEYS <= set(body)
    assert body["status"] == "ok" and body["reason"] is None and body["replayed"] is False
    assert body["client"] == {"display_name": "Ayşe K.", "language": "tr"}
    assert dt.datetime.fromisoformat(body["checked_in_at"].replace("Z", "+00:00"))
    assert body["message"]


def test_message_follows_the_request_language(api_as, host, market):
    c = api_as(host)
    inv = f.invitation(market)
    r = redeem(c, market, token=inv.token, HTTP_ACCEPT_LANGUAGE="nl")
    assert "aangemeld" in r.json()["message"]


@pytest.mark.parametrize("role_fixture", ["host", "mediator", "consultant", "coordinator"])
def test_every_scanning_role_may_redeem(request, api_as, market, invitation, role_fixture):
    user = request.getfixturevalue(role_fixture)
    r = redeem(api_as(user), market, token=invitation.token)
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_401_without_login(market, invitation):
    r = redeem(DjangoClient(), market, token=invitation.token)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert Scan.objects.count() == 0


def test_403_user_without_role(api_as, market, invitation):
    r = redeem(api_as(f.user("nobody")), market, token=invitation.token)
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"


def test_403_consultant_of_another_district(api_as, other_consultant, market, invitation):
    r = redeem(api_as(other_consultant), market, token=invitation.token)
    assert r.status_code == 403 and r.json()["code"] == "wrong_district"
    invitation.refresh_from_db()
    assert invitation.state == "issued"


def test_403_unknown_market(host_api):
    """§7: a scan's 4xx are 401, 403, 422, 429 — a market that does not exist is no right to it."""
    r = redeem(host_api, 999999, code="ABCD-EFGH")
    assert r.status_code == 403 and r.json()["code"] == "market_not_found"


@pytest.mark.parametrize("body", [
    {"token": "x"},  # no market, no nonce
    {"market": 1, "token": "x"},  # no nonce
    {"market": 1, "nonce": "", "token": "x"},
    {"market": 1, "nonce": "n"},  # neither token nor code
    {"market": 1, "nonce": "n", "token": "x", "code": "ABCD-EFGH"},  # both
    {"market": 1, "nonce": "n" * 65, "token": "x"},
    {"market": 1, "nonce": "n", "token": "x" * 513},
    {"market": 1, "nonce": "n", "code": "A" * 33},
    {"market": 1, "nonce": "n", "code": "ABCD-EFGH", "scanned_at": "gisteren"},
    {"market": "een", "nonce": "n", "code": "ABCD-EFGH"},
])
def test_malformed_is_422(host_api, market, body):
    if body.get("market") == 1:
        body["market"] = market.pk
    r = post(host_api, "/api/v1/checkin/redeem", body)
    assert r.status_code == 422, r.content
    assert set(r.json()) == {"message", "code", "extra"}
    assert Scan.objects.count() == 0


def test_not_json_is_422(host_api):
    r = host_api.post("/api/v1/checkin/redeem", "{nope", content_type="application/json")
    assert r.status_code == 422 and r.json()["code"] == "invalid"
    assert Scan.objects.count() == 0


def test_over_long_body_is_422(host_api, market):
    body = {"market": market.pk, "nonce": nonce(), "code": "ABCD-EFGH", "pad": "x" * 10_000}
    r = post(host_api, "/api/v1/checkin/redeem", body)
    assert r.status_code == 422 and r.json()["code"] == "body_too_large"


def test_scanned_at_in_future_is_422(host_api, market, invitation):
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    r = redeem(host_api, market, token=invitation.token, scanned_at=future)
    assert r.status_code == 422 and r.json()["code"] == "scanned_at_in_future"
    assert Scan.objects.count() == 0


def test_replay_and_nonce_reuse_over_http(host_api, market):
    a, b = f.invitation(market), f.invitation(market)
    n = nonce()
    first = redeem(host_api, market, token=a.token, nonce_=n).json()
    again = redeem(host_api, market, token=a.token, nonce_=n)
    assert again.status_code == 200 and again.json() == {**first, "replayed": True}
    reused = redeem(host_api, market, token=b.token, nonce_=n)
    assert reused.status_code == 422 and reused.json()["code"] == "nonce_reused"
    assert Scan.objects.count() == 1 and checkins(market) == 1


def test_wrong_market_over_http(host_api, market, district):
    other = f.market(district, state="open", starts_in_hours=72)
    inv = f.invitation(other)
    body = redeem(host_api, market, token=inv.token).json()
    assert body["reason"] == "wrong_market" and body["market"]["id"] == other.pk


def test_429_with_retry_after_after_many_unknown_codes(host_api, market):
    allowed, _ = ratelimit.LIMITS["code"]
    for _ in range(allowed):
        assert redeem(host_api, market, code="ZZZZ-ZZZZ").json()["reason"] == "unknown"
    r = redeem(host_api, market, code="ZZZZ-ZZZZ")
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert int(r["Retry-After"]) >= 1


def test_valid_scans_are_never_rate_limited(host_api, market):
    allowed, _ = ratelimit.LIMITS["code"]
    invs = [f.invitation(market) for _ in range(3)]
    for i in range(allowed + 10):
        r = redeem(host_api, market, code=invs[i % 3].code)
        assert r.status_code == 200 and r.json()["reason"] in (None, "already_checked_in")


# -------------------------------------------------------------------------------------------
# sync
# -------------------------------------------------------------------------------------------

def sync(client, scans):
    return post(client, "/api/v1/checkin/sync", {"scans": scans})


def test_sync_answers_in_order_and_is_repeatable(host_api, market):
    invs = [f.invitation(market) for _ in range(4)]
    batch = [{"market": market.pk, "nonce": nonce(), "code": inv.code,
              "scanned_at": (timezone.now() - dt.timedelta(minutes=10 - i)).isoformat()}
             for i, inv in enumerate(invs)]
    batch.append({"market": market.pk, "nonce": nonce(), "code": invs[0].code})  # a second scan of the first
    batch.append({"market": market.pk, "nonce": nonce(), "token": "onzin"})
    first = sync(host_api, batch)
    assert first.status_code == 200
    results = first.json()["results"]
    assert [r["status"] for r in results] == ["ok"] * 4 + ["error", "error"]
    assert [r["reason"] for r in results[4:]] == ["already_checked_in", "unknown"]
    assert [r["client"]["display_name"] for r in results[:4]] == [i.client.display_name for i in invs]
    again = sync(host_api, batch).json()["results"]
    assert again == [{**r, "replayed": True} for r in results]
    assert checkins(market) == 4 and Scan.objects.count() == 6
    assert Invitation.objects.filter(market=market, state="checked_in").count() == 4


def test_sync_malformed_item_gets_its_own_error(host_api, market):
    inv = f.invitation(market)
    batch = [
        {"market": market.pk, "code": inv.code},  # no nonce
        "not even an object",
        {"market": market.pk, "nonce": nonce(), "code": inv.code},
        {"market": market.pk, "nonce": nonce(), "code": "ABCD-EFGH",
         "scanned_at": (timezone.now() + dt.timedelta(days=1)).isoformat()},
        {"market": 999999, "nonce": nonce(), "code": inv.code},
    ]
    results = sync(host_api, batch).json()["results"]
    assert len(results) == 5
    assert results[0]["status"] == "error" and results[0]["reason"] is None
    assert results[0]["error"]["status"] == 422 and results[0]["error"]["code"] == "invalid"
    assert results[1]["error"]["code"] == "invalid"
    assert results[2]["status"] == "ok"
    assert results[3]["error"]["code"] == "scanned_at_in_future"
    assert (results[4]["error"]["status"], results[4]["error"]["code"]) == (403, "market_not_found")


def test_sync_item_of_another_district_is_403_item(api_as, consultant, market, other_district):
    foreign = f.market(other_district, state="open")
    mine, theirs = f.invitation(market), f.invitation(foreign)
    results = sync(api_as(consultant), [
        {"market": foreign.pk, "nonce": nonce(), "token": theirs.token},
        {"market": market.pk, "nonce": nonce(), "token": mine.token},
    ]).json()["results"]
    assert results[0]["error"]["status"] == 403
    assert results[1]["status"] == "ok"
    theirs.refresh_from_db()
    assert theirs.state == "issued"


def test_sync_nonce_reuse_is_an_item_error(host_api, market):
    a, b = f.invitation(market), f.invitation(market)
    n = nonce()
    results = sync(host_api, [{"market": market.pk, "nonce": n, "token": a.token},
                              {"market": market.pk, "nonce": n, "token": b.token}]).json()["results"]
    assert results[0]["status"] == "ok"
    assert results[1]["error"] == {"status": 422, "code": "nonce_reused", "message": results[1]["message"],
                                   "extra": {}}


def test_sync_batch_over_the_limit_is_422(host_api, market, settings):
    settings.VM_SYNC_BATCH_MAX = 3
    batch = [{"market": market.pk, "nonce": nonce(), "code": "ABCD-EFGH"} for _ in range(4)]
    r = sync(host_api, batch)
    assert r.status_code == 422 and r.json()["code"] == "batch_too_large"
    assert Scan.objects.count() == 0


def test_sync_requires_a_list(host_api):
    assert post(host_api, "/api/v1/checkin/sync", {"scans": "nee"}).status_code == 422
    assert post(host_api, "/api/v1/checkin/sync", {}).status_code == 422


def test_sync_401_and_403(api_as, market):
    assert sync(DjangoClient(), []).status_code == 401
    results = sync(api_as(f.user("nobody")), [{"market": market.pk, "nonce": nonce(), "code": "ABCD-EFGH"}])
    assert results.json()["results"][0]["error"]["status"] == 403


def test_sync_empty_batch(host_api):
    r = sync(host_api, [])
    assert r.status_code == 200 and r.json() == {"results": []}


# -------------------------------------------------------------------------------------------
# running count
# -------------------------------------------------------------------------------------------

def test_count(host_api, market, invitation):
    f.invitation(market)
    redeem(host_api, market, token=invitation.token)
    r = host_api.get(f"/api/v1/checkin/markets/{market.pk}/count")
    assert r.json() == {"market": market.pk, "checked_in": 1, "invited": 2}


def test_count_forbidden_for_other_district(api_as, other_consultant, market):
    assert api_as(other_consultant).get(f"/api/v1/checkin/markets/{market.pk}/count").status_code == 403
