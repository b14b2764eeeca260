import datetime as dt
import io
import json

import pytest
from django.test import Client as DjangoClient
from django.utils import timezone

from events import letters, services
from events.models import Client, Invitation, Market
from tests import factories as f
from tests.conftest import logged_in


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def post(c, path, body=None):
    return c.post(f"/api/v1/{path}", json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def world(district, other_district, coordinator, consultant, other_consultant, host):
    market = f.market(district, state="planned")
    stand = f.stand(market)
    invitation = f.invitation(market)
    return {"market": market, "stand": stand, "invitation": invitation,
            "clients": [f.client(district) for _ in range(2)]}


def _requests(w):
    m, inv = w["market"].pk, w["invitation"].pk
    start = (timezone.now() + dt.timedelta(days=30)).isoformat()
    end = (timezone.now() + dt.timedelta(days=30, hours=3)).isoformat()
    return {
        "markets_create": ("post", "markets", {"district": w["market"].district_id, "name": "Markt Oost",
                                               "venue": "Buurthuis", "address": "Straat 1", "starts_at": start,
                                               "ends_at": end}),
        "open": ("post", f"markets/{m}/open", None),
        "issue": ("post", f"markets/{m}/invitations", {"clients": [c.pk for c in w["clients"]]}),
        "list": ("get", f"markets/{m}/invitations", None),
        "qr_png": ("get", f"invitations/{inv}/qr.png", None),
        "qr_svg": ("get", f"invitations/{inv}/qr.svg", None),
        "letter": ("get", f"invitations/{inv}/letter.pdf", None),
        "letters": ("get", f"markets/{m}/letters.pdf", None),
        "stands": ("get", f"markets/{m}/stands", None),
        "close": ("post", f"markets/{m}/close", None),
    }


COORDINATOR_ONLY = ["markets_create", "open", "issue", "list", "qr_png", "qr_svg", "letter", "letters", "close"]


def _call(c, method, path, body):
    return post(c, path, body) if method == "post" else c.get(f"/api/v1/{path}")


@pytest.mark.parametrize("name", COORDINATOR_ONLY + ["stands"])
def test_anonymous_gets_401(world, name):
    method, path, body = _requests(world)[name]
    r = _call(DjangoClient(), method, path, body)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("role", ["consultant", "other_consultant", "host"])
@pytest.mark.parametrize("name", COORDINATOR_ONLY)
def test_other_roles_get_403_on_coordinator_endpoints(world, request, role, name):
    method, path, body = _requests(world)[name]
    r = _call(logged_in(request.getfixturevalue(role)), method, path, body)
    assert r.status_code == 403, r.content
    assert r.json()["code"] == "wrong_role"
    assert Market.objects.get(pk=world["market"].pk).state == "planned"
    assert Invitation.objects.count() == 1


@pytest.mark.parametrize("name", ["open", "issue", "list", "qr_png", "letter", "letters", "stands", "close"])
def test_unknown_ids_are_404(world, coordinator, name):
    method, path, body = _requests(world)[name]
    path = path.replace(f"markets/{world['market'].pk}/", "markets/999999/").replace(
        f"invitations/{world['invitation'].pk}/", "invitations/999999/")
    r = _call(logged_in(coordinator), method, path, body)
    assert r.status_code == 404 and r.json()["code"].endswith("_not_found")


def test_coordinator_flow(world, coordinator):
    c = logged_in(coordinator)
    reqs = _requests(world)
    r = _call(c, *reqs["markets_create"])
    assert r.status_code == 201
    assert set(r.json()) >= {"id", "name", "district", "starts_at", "ends_at", "state"}
    assert r.json()["state"] == "planned"

    r = _call(c, *reqs["open"])
    assert r.status_code == 200 and r.json()["state"] == "open"

    r = _call(c, *reqs["issue"])
    assert r.status_code == 200 and r.json()["created"] == 2
    inv = r.json()["invitations"][0]
    assert set(inv) >= {"id", "client", "token", "code", "state", "round", "slot"}
    assert inv["state"] == "issued" and inv["round"] == 1
    assert len(inv["code"]) == 9 and inv["code"][4] == "-"
    r = _call(c, *reqs["issue"])
    assert r.status_code == 200 and r.json() == {"created": 0, "invitations": []}

    r = _call(c, *reqs["list"])
    assert r.status_code == 200 and len(r.json()) == 3
    assert {i["code"] for i in r.json()} == {i.formatted_code for i in Invitation.objects.all()}

    r = _call(c, *reqs["close"])
    assert r.status_code == 200
    assert r.json()["state"] == "closed" and r.json()["no_shows"] == 3
    assert set(Invitation.objects.values_list("state", flat=True)) == {"no_show"}


def test_issue_errors(world, coordinator, other_district):
    c = logged_in(coordinator)
    m = world["market"]
    r = post(c, f"markets/{m.pk}/invitations", {"clients": [f.client(other_district).pk]})
    assert r.status_code == 422 and r.json()["code"] == "client_wrong_district"
    r = post(c, f"markets/{m.pk}/invitations", {"clients": [world["clients"][0].pk], "slot": 999999})
    assert r.status_code == 404 and r.json()["code"] == "slot_not_found"
    r = post(c, f"markets/{m.pk}/invitations", {"clients": []})
    assert r.status_code == 422
    services.market_open(market=m)
    services.market_close(market=m)
    r = post(c, f"markets/{m.pk}/invitations", {"clients": [world["clients"][0].pk]})
    assert r.status_code == 409 and r.json()["code"] == "market_closed"
    assert Invitation.objects.count() == 1


def test_issue_with_slot(world, coordinator):
    m = world["market"]
    slot = services.timeslot_create(market=m, starts_at=m.starts_at, ends_at=m.ends_at)
    r = post(logged_in(coordinator), f"markets/{m.pk}/invitations",
             {"clients": [world["clients"][0].pk], "slot": slot.pk})
    assert r.status_code == 200 and r.json()["invitations"][0]["slot"] == slot.pk


def test_markets_list_per_role(world, coordinator, consultant, other_consultant, host, other_district):
    theirs = f.market(other_district, state="planned")
    mine = world["market"]
    ids = lambda u: {m["id"] for m in logged_in(u).get("/api/v1/markets").json()}  # noqa: E731
    assert ids(coordinator) == {mine.pk, theirs.pk}
    assert ids(host) == {mine.pk, theirs.pk}
    assert ids(consultant) == {mine.pk}
    assert ids(other_consultant) == {theirs.pk}
    row = logged_in(consultant).get("/api/v1/markets").json()[0]
    assert set(row) >= {"id", "name", "district", "starts_at", "ends_at", "state"}
    assert DjangoClient().get("/api/v1/markets").status_code == 401


def test_create_market_validation(coordinator, district):
    c = logged_in(coordinator)
    start = timezone.now() + dt.timedelta(days=3)
    body = {"district": district.pk, "name": "M", "venue": "V", "address": "A",
            "starts_at": start.isoformat(), "ends_at": (start - dt.timedelta(hours=1)).isoformat()}
    r = post(c, "markets", body)
    assert r.status_code == 422 and r.json()["code"] == "ends_before_start"
    r = post(c, "markets", {**body, "district": 999999})
    assert r.status_code == 404 and r.json()["code"] == "district_not_found"
    body["ends_at"] = (start + dt.timedelta(hours=4)).isoformat()
    body["slots"] = [{"starts_at": start.isoformat(), "ends_at": (start + dt.timedelta(hours=2)).isoformat(),
                      "capacity": 30}]
    r = post(c, "markets", body)
    assert r.status_code == 201
    assert Market.objects.get(pk=r.json()["id"]).slots.count() == 1


def test_create_market_with_only_the_fields_the_design_names(coordinator, district):
    """§11 fixes name, district, starts_at, ends_at: venue and address are optional, and times
    without an offset are the municipality's local time (Europe/Amsterdam)."""
    c = logged_in(coordinator)
    r = post(c, "markets", {"district": district.pk, "name": "Markt Noord",
                            "starts_at": "2027-03-02T10:00:00", "ends_at": "2027-03-02T15:00:00",
                            "slots": [{"starts_at": "2027-03-02T10:00:00", "ends_at": "2027-03-02T12:00:00"}]})
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["venue"], body["address"], body["state"]) == ("", "", "planned")
    assert body["starts_at"] == "2027-03-02T10:00:00+01:00"  # Amsterdam, winter time
    market = Market.objects.get(pk=body["id"])
    assert market.slots.get().starts_at == market.starts_at
    invitation = f.invitation(market)
    # when and what time, but no "where" row with an empty place
    assert len(letters.letter_texts(invitation)["facts"]) == 2
    Market.objects.filter(pk=market.pk).update(venue="Buurthuis De Ster")
    invitation = Invitation.objects.select_related("market", "client", "slot").get(pk=invitation.pk)
    assert letters.letter_texts(invitation)["facts"][2][1] == "Buurthuis De Ster"


def test_open_closed_market_is_409(coordinator, district):
    m = f.market(district, state="closed")
    r = post(logged_in(coordinator), f"markets/{m.pk}/open")
    assert r.status_code == 409 and r.json()["code"] == "market_closed"


def test_stands_per_role(world, consultant, other_consultant, coordinator, host):
    path = f"/api/v1/markets/{world['market'].pk}/stands"
    for user in (coordinator, consultant):
        r = logged_in(user).get(path)
        assert r.status_code == 200
        [stand] = r.json()
        assert stand["id"] == world["stand"].pk
        assert stand["organisation"] == world["stand"].organisation.name
        assert [a["title"] for a in stand["activities"]] and set(stand["activities"][0]) == {"id", "title"}
    r = logged_in(other_consultant).get(path)
    assert r.status_code == 403 and r.json()["code"] == "wrong_district"
    assert logged_in(host).get(path).status_code == 403


def test_follow_up_endpoint(coordinator, consultant, district, other_district):
    first = f.market(district, state="open")
    missed = f.invitation(first)
    services.market_close(market=first)
    later = f.market(district, state="planned", starts_in_hours=24 * 7)
    c = logged_in(coordinator)
    r = post(c, f"markets/{first.pk}/follow-up", {"market": later.pk})
    assert r.status_code == 200 and r.json()["created"] == 1
    [inv] = r.json()["invitations"]
    assert (inv["round"], inv["previous"], inv["client"]) == (2, missed.pk, missed.client_id)
    r = post(c, f"markets/{first.pk}/follow-up", {"market": later.pk})
    assert r.status_code == 200 and r.json()["created"] == 0
    r = post(c, f"markets/{first.pk}/follow-up", {"market": f.market(other_district, starts_in_hours=99).pk})
    assert r.status_code == 422 and r.json()["code"] == "follow_up_other_district"
    r = post(c, f"markets/{later.pk}/follow-up", {"market": first.pk})
    assert r.status_code == 409 and r.json()["code"] == "market_not_closed"
    r = post(c, f"markets/{first.pk}/follow-up", {"market": 999999})
    assert r.status_code == 404
    assert post(logged_in(consultant), f"markets/{first.pk}/follow-up", {"market": later.pk}).status_code == 403
    assert post(DjangoClient(), f"markets/{first.pk}/follow-up", {"market": later.pk}).status_code == 401


# --- import endpoint --------------------------------------------------------------------------


def _upload(c, district, data: bytes, name="clients.csv"):
    file = io.BytesIO(data)
    file.name = name
    return c.post("/api/v1/clients/import", {"district": str(district), "file": file})


def test_import_endpoint(coordinator, district):
    c = logged_in(coordinator)
    data = "client_number,given_name,family_name,language\nA1,Ayşe,Şahin,tr\nA2,Jan,Smit,xx\n".encode()
    r = _upload(c, district.pk, data)
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["created"], body["updated"]) == (1, 0)
    assert body["errors"] == [{"row": 3, "field": "language", "code": "unknown_language",
                               "message": body["errors"][0]["message"]}]
    r = _upload(c, district.name, "client_number,given_name,family_name,language\nA1,Ayşe,Şahin,nl\n".encode())
    assert r.status_code == 200 and r.json()["updated"] == 1
    assert Client.objects.get(client_number="A1").language == "nl"


@pytest.mark.parametrize("data,code", [
    (b"", "csv_empty"),
    ("client_number,given_name\nA1,Zoë\n".encode("latin-1"), "csv_encoding"),
    (b"client_number,given_name\nA1,Jan\n", "csv_missing_columns"),
])
def test_import_endpoint_file_errors(coordinator, district, data, code):
    r = _upload(logged_in(coordinator), district.pk, data)
    assert r.status_code == 422 and r.json()["code"] == code
    assert Client.objects.count() == 0


def test_import_endpoint_roles(coordinator, consultant, host, district):
    data = b"client_number,given_name,family_name,language\nA1,Jan,Smit,nl\n"
    assert _upload(logged_in(consultant), district.pk, data).status_code == 403
    assert _upload(logged_in(host), district.pk, data).status_code == 403
    assert _upload(DjangoClient(), district.pk, data).status_code == 401
    assert _upload(logged_in(coordinator), 999999, data).status_code == 404
    r = logged_in(coordinator).post("/api/v1/clients/import", {"district": str(district.pk)})
    assert r.status_code == 422
    assert Client.objects.count() == 0


def test_openapi_lists_the_events_paths(coordinator):
    paths = DjangoClient().get("/api/v1/openapi.json").json()["paths"]
    for p in ["/api/v1/markets", "/api/v1/markets/{market_id}/open", "/api/v1/clients/import",
              "/api/v1/markets/{market_id}/invitations", "/api/v1/invitations/{invitation_id}/qr.png",
              "/api/v1/markets/{market_id}/letters.pdf", "/api/v1/markets/{market_id}/follow-up",
              "/api/v1/markets/{market_id}/stands"]:
        assert p in paths
