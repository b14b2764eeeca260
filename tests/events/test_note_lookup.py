"""A peer mediator scans a client's letter to add a note to one of their leads (DESIGN.md §2:
"like a host, plus adding notes to leads; no access to client records"):
POST /api/v1/markets/{id}/leads/lookup, then POST /api/v1/leads/{id}/notes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from backend.models import FeedEntry
from checkin.models import Scan
from events import lead_services as ls
from events import services
from events.codes import invitation_url
from events.models import Lead
from tests import factories as f

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


@pytest.fixture
def org(market):
    o = f.organisation("Stadstuin")
    f.stand(market, o)
    return o


@pytest.fixture
def invitation(market):
    return f.invitation(market, f.client(market.district, given="Şükrü", family="Öztürk", language="tr"))


@pytest.fixture
def lead(market, org, invitation):
    return ls.lead_upsert(market=market, client=invitation.client, organisation=org,
                          activities=list(org.activities.all()[:1]), source=Lead.Source.KIOSK, warmth="hot",
                          note="Kan goed met planten")[0]


def lookup_url(market):
    return f"/api/v1/markets/{market.pk}/leads/lookup"


def test_mediator_finds_the_open_leads_by_token_code_or_qr_url_and_adds_a_note(api_as, mediator, market, org,
                                                                               invitation, lead):
    c = api_as(mediator)
    feed_before = FeedEntry.objects.count()
    for body in ({"token": invitation.token}, {"code": invitation.formatted_code.lower().replace("-", " ")},
                 {"token": invitation_url(invitation.token)}):
        r = post(c, lookup_url(market), body)
        assert r.status_code == 200, r.json()
        answer = r.json()
        assert answer["status"] == "ok" and answer["reason"] is None
        assert answer["client"] == {"display_name": "Şükrü Ö.", "language": "tr"}
        activity = org.activities.first()
        assert answer["leads"] == [{"id": lead.pk, "organisation": "Stadstuin",
                                    "activities": [{"id": activity.pk, "title": activity.title}]}]
        assert answer["message"]
    # Nothing about the client record or the lead's state and notes is in the answer.
    text = r.content.decode()
    for secret in (invitation.client.client_number, "Öztürk", "new", "Kan goed met planten", "hot"):
        assert secret not in text
    # The lookup writes nothing: no scan, no feed entry.
    assert FeedEntry.objects.count() == feed_before and not Scan.objects.exists()

    r = post(c, f"/api/v1/leads/{lead.pk}/notes", {"text": "Heeft op dinsdag geen opvang voor de kinderen"})
    assert r.status_code == 201
    entry = FeedEntry.objects.filter(market_id=market.pk).order_by("-seq").first()
    assert entry.kind == "lead_note.created" and entry.data["lead_id"] == lead.pk
    assert entry.data["author"] == "mediator"


def test_only_leads_a_note_can_still_help_are_listed(api_as, mediator, consultant, market, invitation, lead):
    other = f.organisation("Voedselbank")
    f.stand(market, other)
    closed = ls.lead_upsert(market=market, client=invitation.client, organisation=other, activities=[],
                            source=Lead.Source.KIOSK)[0]
    ls.lead_claim(lead_id=closed.pk, user=consultant)
    ls.lead_outcome(lead_id=closed.pk, user=consultant, outcome="exemption", category="care",
                    review_date=timezone.localdate() + dt.timedelta(days=90))
    answer = post(api_as(mediator), lookup_url(market), {"token": invitation.token}).json()
    # The exempted lead is not shown: that it exists would tell a mediator about an exemption.
    assert [row["id"] for row in answer["leads"]] == [lead.pk]


def test_a_client_without_leads_gets_a_plain_message(api_as, mediator, market):
    invitation = f.invitation(market, f.client(market.district, given="Rui", family="Barros"))
    answer = post(api_as(mediator), lookup_url(market), {"token": invitation.token}).json()
    assert answer["status"] == "ok" and answer["leads"] == []
    assert "nog geen aanmelding" in answer["message"] and "Rui B." in answer["message"]


def test_scan_outcomes_unknown_wrong_market_revoked(api_as, mediator, market, district, invitation):
    c = api_as(mediator)
    unknown = post(c, lookup_url(market), {"code": "ZZZZ-ZZZZ"}).json()
    assert (unknown["status"], unknown["reason"], unknown["client"], unknown["leads"]) == ("error", "unknown", None, [])
    later = f.market(district, state="planned", starts_in_hours=24 * 14)
    elsewhere = f.invitation(later, invitation.client)
    wrong = post(c, lookup_url(market), {"token": elsewhere.token}).json()
    assert (wrong["reason"], wrong["client"]) == ("wrong_market", None)
    services.invitation_revoke(invitation_ids=[invitation.pk])
    revoked = post(c, lookup_url(market), {"token": invitation.token}).json()
    assert (revoked["reason"], revoked["client"], revoked["leads"]) == ("revoked", None, [])


@pytest.mark.parametrize("body,code", [
    ({}, "token_or_code"),
    ({"token": "a", "code": "ABCD-EFGH"}, "token_or_code"),
    ({"token": "   "}, "token_or_code"),
    ({"token": "a", "nonce": "extra field"}, "invalid"),
    ({"code": "x" * 33}, "invalid"),
])
def test_malformed_bodies(api_as, mediator, market, body, code):
    r = post(api_as(mediator), lookup_url(market), body)
    assert r.status_code == 422 and r.json()["code"] == code


def test_who_may_look_up(api_as, client, mediator, consultant, other_consultant, host, coordinator, market,
                         invitation, lead):
    body = {"token": invitation.token}
    assert post(api_as(consultant), lookup_url(market), body).status_code == 200
    for user, code in ((host, "wrong_role"), (coordinator, "wrong_role"), (other_consultant, "wrong_district")):
        r = post(api_as(user), lookup_url(market), body)
        assert r.status_code == 403 and r.json()["code"] == code, user
    assert post(client, lookup_url(market), body).status_code == 401
    r = post(api_as(mediator), "/api/v1/markets/999999/leads/lookup", body)
    assert r.status_code == 404 and r.json()["code"] == "market_not_found"


def test_unknown_codes_are_rate_limited_per_user(api_as, mediator, market, invitation):
    c = api_as(mediator)
    for _ in range(30):
        assert post(c, lookup_url(market), {"code": "ZZZZ-ZZZZ"}).json()["reason"] == "unknown"
    r = post(c, lookup_url(market), {"token": invitation.token})
    assert r.status_code == 429 and r.json()["code"] == "rate_limited" and r.has_header("Retry-After")
