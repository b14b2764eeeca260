import datetime as dt
import json

import pytest
from django.test import Client as DjangoClient
from django.test.utils import CaptureQueriesContext
from django.db import connection
from django.utils import timezone

from backend.auth import CONSULTANT, HOST
from events.models import Agreement, Lead
from kiosk import services
from kiosk.models import Device, PairingCode
from tests import factories as f
from tests.kiosk.conftest import check_in, device_client, new_nonce

# Queries of one registration through the API, savepoints included: device (with stand,
# organisation and market, one statement), invitation (with client), activities, lead
# lock/insert (+ audit hook), activities add, feed append (2: `UPDATE … RETURNING` the head,
# the entry; no savepoint), replay-log insert. A new lead's activities are those just added;
# an updated lead reads its activities once (no reload of the lead). No replay lookup first (a
# replayed nonce is found by the unique replay-log insert). No query depends on the number of
# activities.
CREATE_QUERIES = 14
UPDATE_QUERIES = 15
SENSITIVE = ("C9990001", "ayse@example.org", "0612345678", "Geheimstraat", "Kaya", "client_number",
             "email", "phone", "address", "exemption", "consultant")


def assert_nothing_sensitive(response):
    body = response.content.decode()
    for word in SENSITIVE:
        assert word not in body, f"{word!r} leaked in {body}"


def post(client, path, body, **extra):
    return client.post(f"/api/v1/{path}", data=json.dumps(body), content_type="application/json", **extra)


def interests(tablet, **body):
    body.setdefault("nonce", new_nonce())
    body.setdefault("warmth", "warm")
    return post(tablet, "kiosk/interests", body)


# ---- pairing --------------------------------------------------------------------------------

def test_coordinator_creates_a_code_and_a_tablet_pairs(api_as, coordinator, market, stand):
    r = post(api_as(coordinator), f"markets/{market.pk}/stands/{stand.pk}/pairing-code", {})
    assert r.status_code == 200, r.content
    body = r.json()
    assert len(body["code"]) == 9 and body["expires_at"] and body["stand"] == stand.pk
    r = post(DjangoClient(), "kiosk/pair", {"code": body["code"], "label": "Tafel 1"})
    assert r.status_code == 200, r.content
    paired = r.json()
    assert paired["stand"]["id"] == stand.pk
    assert paired["stand"]["organisation"]["name"] == stand.organisation.name
    assert paired["stand"]["market"]["id"] == market.pk
    assert paired["device"]["label"] == "Tafel 1"
    assert_nothing_sensitive(r)
    r = device_client(paired["token"]).get("/api/v1/kiosk/stand")
    assert r.status_code == 200


def test_pairing_code_permissions(api_as, market, stand, district):
    path = f"markets/{market.pk}/stands/{stand.pk}/pairing-code"
    assert post(DjangoClient(), path, {}).status_code == 401
    assert post(api_as(f.user("h", HOST)), path, {}).status_code == 403
    assert post(api_as(f.user("c", CONSULTANT, districts=(district,))), path, {}).status_code == 403


def test_pairing_code_for_unknown_market_or_foreign_stand(api_as, coordinator, market, district):
    other_stand = f.stand(f.market(district))
    c = api_as(coordinator)
    assert post(c, f"markets/999999/stands/{other_stand.pk}/pairing-code", {}).status_code == 404
    r = post(c, f"markets/{market.pk}/stands/{other_stand.pk}/pairing-code", {})
    assert r.status_code == 404 and r.json()["code"] == "stand_not_found"


def test_a_device_cannot_create_pairing_codes(tablet, market, stand):
    assert post(tablet, f"markets/{market.pk}/stands/{stand.pk}/pairing-code", {}).status_code == 401


def test_pair_wrong_expired_reused(stand):
    anon = DjangoClient()
    r = post(anon, "kiosk/pair", {"code": "ZZZZ-ZZZZ"})
    assert r.status_code == 404 and r.json()["code"] == "pairing_code_unknown"
    code, row = services.pairing_code_create(stand=stand)
    PairingCode.objects.filter(pk=row.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    r = post(anon, "kiosk/pair", {"code": code})
    assert r.status_code == 422 and r.json()["code"] == "pairing_code_expired"
    code, _row = services.pairing_code_create(stand=stand)
    assert post(anon, "kiosk/pair", {"code": code}).status_code == 200
    r = post(anon, "kiosk/pair", {"code": code})
    assert r.status_code == 422 and r.json()["code"] == "pairing_code_used"
    assert post(anon, "kiosk/pair", {}).status_code == 422
    assert Device.objects.count() == 1


def test_pair_is_rate_limited_with_retry_after(stand):
    anon = DjangoClient(REMOTE_ADDR="10.9.9.9")
    for _ in range(10):
        assert post(anon, "kiosk/pair", {"code": "ZZZZ-ZZZZ"}).status_code == 404
    code, _row = services.pairing_code_create(stand=stand)
    r = post(anon, "kiosk/pair", {"code": code})
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1
    assert r.json()["code"] == "rate_limited"


# ---- device auth ----------------------------------------------------------------------------

def test_device_endpoints_need_the_device_scheme(paired, api_as, coordinator, visitor, activity_ids):
    token, _device = paired
    assert DjangoClient().get("/api/v1/kiosk/stand").status_code == 401
    assert DjangoClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/kiosk/stand").status_code == 401
    assert device_client("not-a-token").get("/api/v1/kiosk/stand").status_code == 401
    # A user session does not open device endpoints.
    user = api_as(coordinator)
    assert user.get("/api/v1/kiosk/stand").status_code == 401
    assert interests(user, token=visitor.token, activities=activity_ids[:1]).status_code == 401


def test_a_device_never_reaches_user_endpoints(tablet, market, device):
    for path in ("auth/me", "markets", f"markets/{market.pk}/devices"):
        assert tablet.get(f"/api/v1/{path}").status_code == 401, path
    assert post(tablet, f"devices/{device.pk}/revoke", {}).status_code == 401
    assert post(tablet, "auth/logout", {}).status_code == 401
    # an organisation tablet checks nobody in (docs/checkin.md, "Who scans")
    scan = {"market": market.pk, "code": "ABCD-EFGH", "nonce": new_nonce()}
    assert post(tablet, "checkin/redeem", scan).status_code == 401
    assert post(tablet, "checkin/sync", {"scans": [scan]}).status_code == 401


def test_revoked_device_gets_401_at_once(api_as, coordinator, tablet, device, market, visitor, activity_ids):
    assert tablet.get("/api/v1/kiosk/stand").status_code == 200
    r = post(api_as(coordinator), f"devices/{device.pk}/revoke", {})
    assert r.status_code == 200 and r.json()["revoked"] is True
    r = tablet.get("/api/v1/kiosk/stand")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert interests(tablet, token=visitor.token, activities=activity_ids[:1]).status_code == 401
    assert not Lead.objects.exists()


def test_devices_list_and_revoke_permissions(api_as, coordinator, market, device, district):
    r = api_as(coordinator).get(f"/api/v1/markets/{market.pk}/devices")
    assert r.status_code == 200
    [row] = r.json()
    assert row["id"] == device.pk and row["label"] == "Tablet 1" and row["revoked"] is False
    assert row["stand"]["organisation"] == device.stand.organisation.name and row["last_seen_at"]
    consultant = api_as(f.user("c", CONSULTANT, districts=(district,)))
    assert consultant.get(f"/api/v1/markets/{market.pk}/devices").status_code == 403
    assert post(consultant, f"devices/{device.pk}/revoke", {}).status_code == 403
    assert post(api_as(coordinator), "devices/999999/revoke", {}).status_code == 404
    assert api_as(coordinator).get("/api/v1/markets/999999/devices").status_code == 404
    assert Device.objects.get(pk=device.pk).revoked_at is None


# ---- kiosk/stand ----------------------------------------------------------------------------

def test_stand_shows_activities_with_capacity_use(tablet, device, visitor, activity_ids, organisation, market):
    interests(tablet, token=visitor.token, activities=activity_ids[:2])
    act = organisation.activities.get(pk=activity_ids[0])
    Agreement.objects.create(client=visitor.client, organisation=organisation, activity=act, hours_per_week=4,
                             start_date=timezone.localdate())
    r = tablet.get("/api/v1/kiosk/stand")
    assert r.status_code == 200
    body = r.json()
    assert body["organisation"]["name"] == organisation.name
    assert body["stand"]["market"]["id"] == market.pk and body["device"]["id"] == device.pk
    by_id = {a["id"]: a for a in body["activities"]}
    assert set(by_id) == set(activity_ids)
    assert by_id[activity_ids[0]]["leads"] == 1 and by_id[activity_ids[0]]["agreements"] == 1
    assert by_id[activity_ids[1]]["leads"] == 1 and by_id[activity_ids[1]]["agreements"] == 0
    assert by_id[activity_ids[2]]["leads"] == 0
    assert by_id[activity_ids[0]]["capacity"] == 3 and "guidance_capacity" in by_id[activity_ids[0]]
    assert_nothing_sensitive(r)


# ---- kiosk/interests ------------------------------------------------------------------------

def test_interest_ok_shape(tablet, visitor, activity_ids):
    r = interests(tablet, token=visitor.token, activities=activity_ids[:2], note="Kan goed met kinderen.",
                  warmth="hot")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "ok" and body["reason"] is None
    assert body["client"] == {"display_name": "Ayşe K.", "language": "tr"}
    assert body["lead"]["warmth"] == "hot" and len(body["lead"]["activities"]) == 2
    assert_nothing_sensitive(r)


@pytest.mark.parametrize("reason", ["not_checked_in", "unknown", "revoked", "wrong_market",
                                    "activity_not_at_stand"])
def test_every_reason_over_the_api(tablet, market, district, visitor, activity_ids, reason):
    acts = activity_ids[:1]
    if reason == "not_checked_in":
        body = {"token": f.invitation(market).token}
    elif reason == "unknown":
        body = {"code": "ZZZZ-ZZZZ"}
    elif reason == "revoked":
        inv = f.invitation(market)
        type(inv).objects.filter(pk=inv.pk).update(state="revoked")
        body = {"token": inv.token}
    elif reason == "wrong_market":
        body = {"token": check_in(f.invitation(f.market(district))).token}
    else:
        body = {"token": visitor.token}
        acts = [f.organisation("Elders").activities.first().pk]
    r = interests(tablet, activities=acts, **body)
    assert r.status_code == 200
    out = r.json()
    assert (out["status"], out["reason"], out["lead"]) == ("error", reason, None)
    assert_nothing_sensitive(r)
    assert not Lead.objects.exists()


@pytest.mark.parametrize("body,code", [
    ({"activities": []}, "no_activities"),
    ({"note": "x" * 1001}, "note_too_long"),
    ({"warmth": "lukewarm"}, "invalid"),
    ({"nonce": ""}, "invalid"),
    ({"activities": ["abc"]}, "invalid"),
])
def test_bad_input_is_422(tablet, visitor, activity_ids, body, code):
    payload = {"token": visitor.token, "activities": activity_ids[:1], **body}
    r = interests(tablet, **payload)
    assert r.status_code == 422, r.content
    assert r.json()["code"] == code
    assert not Lead.objects.exists()


def test_note_with_markup_is_returned_as_text(tablet, visitor, activity_ids):
    note = '<img src=x onerror="alert(1)"> & <b>'
    r = interests(tablet, token=visitor.token, activities=activity_ids[:1], note=note)
    assert r.json()["lead"]["note"] == note
    assert Lead.objects.get().note == note


def test_replayed_nonce_over_the_api(tablet, visitor, activity_ids):
    body = {"token": visitor.token, "activities": activity_ids[:1], "nonce": "abc-123"}
    first = interests(tablet, **body).json()
    again = interests(tablet, **body).json()
    assert again == {**first, "replayed": True}
    assert Lead.objects.count() == 1
    other = interests(tablet, **{**body, "activities": activity_ids[1:2]})
    assert other.status_code == 422 and other.json()["code"] == "nonce_reused"  # as on check-in
    assert Lead.objects.count() == 1


def test_unknown_codes_get_429_after_the_limit(tablet, activity_ids):
    for _ in range(30):
        assert interests(tablet, code="ZZZZ-ZZZZ", activities=activity_ids[:1]).status_code == 200
    r = interests(tablet, code="ZZZZ-ZZZZ", activities=activity_ids[:1])
    assert r.status_code == 429 and r["Retry-After"]


def test_interest_query_count_is_pinned(tablet, visitor, activity_ids, market):
    interests(tablet, token=visitor.token, activities=activity_ids[:1])  # warm up: device seen, feed head exists
    other = check_in(f.invitation(market))
    with CaptureQueriesContext(connection) as created:
        r = interests(tablet, token=other.token, activities=activity_ids[:2])
    assert r.json()["lead"]["created"] is True
    with CaptureQueriesContext(connection) as updated:
        r = interests(tablet, token=other.token, activities=activity_ids[:2])
    assert r.json()["lead"]["created"] is False
    assert len(created.captured_queries) == CREATE_QUERIES
    assert len(updated.captured_queries) == UPDATE_QUERIES


# ---- kiosk/visitor (lookup before registering) ----------------------------------------------

def test_visitor_lookup_shows_only_name_and_language(tablet, visitor, market, district):
    r = post(tablet, "kiosk/visitor", {"token": visitor.token})
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "reason": None, "client": {"display_name": "Ayşe K.", "language": "tr"}}
    assert_nothing_sensitive(r)
    assert post(tablet, "kiosk/visitor", {"code": visitor.formatted_code}).json()["status"] == "ok"
    assert post(tablet, "kiosk/visitor", {"code": "ZZZZ-ZZZZ"}).json()["reason"] == "unknown"
    assert post(tablet, "kiosk/visitor", {"token": f.invitation(market).token}).json() == {
        "status": "error", "reason": "not_checked_in", "client": None}
    other = check_in(f.invitation(f.market(district)))
    assert post(tablet, "kiosk/visitor", {"token": other.token}).json()["reason"] == "wrong_market"
    assert post(tablet, "kiosk/visitor", {}).status_code == 422
    assert not Lead.objects.exists()


def test_visitor_lookup_needs_a_device(api_as, coordinator, visitor, paired):
    token, device = paired
    assert post(api_as(coordinator), "kiosk/visitor", {"token": visitor.token}).status_code == 401
    assert post(device_client(token), "kiosk/visitor", {"token": visitor.token}).status_code == 200
    services.device_revoke(device=device)
    assert post(device_client(token), "kiosk/visitor", {"token": visitor.token}).status_code == 401
