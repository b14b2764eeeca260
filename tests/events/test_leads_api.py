"""API tests of the lead workflow (DESIGN.md §9, §11): status codes, error codes, shapes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from pypdf import PdfReader

from backend.auth import CONSULTANT
from backend.feed_kinds import KINDS
from backend.models import FeedEntry
from events import lead_services as ls
from events.models import Agreement, Lead
from tests import factories as f

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


@pytest.fixture
def org(market):
    o = f.organisation("Stadstuin")
    f.stand(market, o)
    return o


@pytest.fixture
def activity(org):
    return org.activities.first()


@pytest.fixture
def lead(market, org, activity):
    client = f.invitation(market, f.client(market.district, given="Şükrü", family="Öztürk", language="tr")).client
    return ls.lead_upsert(market=market, client=client, organisation=org, activities=[activity],
                          source=Lead.Source.KIOSK, warmth="hot")[0]


@pytest.fixture
def consultant2(district):
    return f.user("consultant2", CONSULTANT, districts=(district,))


def agreement_body(activity_, **over):
    body = {"outcome": "agreement", "activity": activity_.pk, "hours_per_week": 8,
            "start_date": today().isoformat(), "end_date": (today() + dt.timedelta(days=90)).isoformat()}
    body.update(over)
    return body


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


def test_list_leads_with_filters(api_as, consultant, consultant2, coordinator, market, lead, org):
    other = ls.lead_upsert(market=market, client=f.invitation(market).client, organisation=org, activities=[],
                           source=Lead.Source.KIOSK)[0]
    ls.lead_claim(lead_id=other.pk, user=consultant2)
    c = api_as(consultant)
    r = c.get(f"/api/v1/markets/{market.pk}/leads")
    assert r.status_code == 200
    by_id = {row["id"]: row for row in r.json()}
    assert by_id[lead.pk]["state"] == "new" and by_id[lead.pk]["display_name"] == "Şükrü Ö."
    assert by_id[other.pk]["claimed_by"] == "consultant2"
    assert "client_number" not in by_id[lead.pk]
    assert [row["id"] for row in c.get(f"/api/v1/markets/{market.pk}/leads?state=new").json()] == [lead.pk]
    assert c.get(f"/api/v1/markets/{market.pk}/leads?mine=true").json() == []
    assert [r["id"] for r in api_as(consultant2).get(f"/api/v1/markets/{market.pk}/leads?mine=true").json()] == [other.pk]
    assert api_as(coordinator).get(f"/api/v1/markets/{market.pk}/leads").status_code == 200
    bad = c.get(f"/api/v1/markets/{market.pk}/leads?state=lost")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_state"


def test_list_leads_refusals(api_as, other_consultant, host, mediator, market, client):
    r = api_as(other_consultant).get(f"/api/v1/markets/{market.pk}/leads")
    assert r.status_code == 403 and r.json()["code"] == "wrong_district"
    for user in (host, mediator):
        assert api_as(user).get(f"/api/v1/markets/{market.pk}/leads").status_code == 403
    assert client.get(f"/api/v1/markets/{market.pk}/leads").status_code == 401
    assert api_as(other_consultant).get("/api/v1/markets/999999/leads").status_code == 404


def test_claim_and_lost_claim(api_as, consultant, consultant2, lead):
    r = post(api_as(consultant), f"/api/v1/leads/{lead.pk}/claim")
    assert r.status_code == 200 and r.json()["state"] == "claimed" and r.json()["claimed_by"] == "consultant"
    lost = post(api_as(consultant2), f"/api/v1/leads/{lead.pk}/claim")
    assert lost.status_code == 409
    body = lost.json()
    assert body["code"] == "lead_taken" and body["extra"]["claimed_by"] == "consultant" and body["message"]
    again = post(api_as(consultant), f"/api/v1/leads/{lead.pk}/claim")
    assert again.status_code == 409 and again.json()["code"] == "lead_already_yours"


def test_claim_refusals(api_as, other_consultant, coordinator, lead, consultant):
    r = post(api_as(other_consultant), f"/api/v1/leads/{lead.pk}/claim")
    assert r.status_code == 403 and r.json()["code"] == "wrong_district"
    r = post(api_as(coordinator), f"/api/v1/leads/{lead.pk}/claim")
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"
    r = post(api_as(consultant), "/api/v1/leads/999999/claim")
    assert r.status_code == 404 and r.json()["code"] == "lead_not_found"


def test_claim_needs_csrf(consultant, lead):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    c.force_login(consultant)
    assert c.post(f"/api/v1/leads/{lead.pk}/claim").status_code == 403
    lead.refresh_from_db()
    assert lead.state == "new"


def test_release(api_as, consultant, lead):
    c = api_as(consultant)
    post(c, f"/api/v1/leads/{lead.pk}/claim")
    r = post(c, f"/api/v1/leads/{lead.pk}/release")
    assert r.status_code == 200 and r.json()["state"] == "new" and r.json()["claimed_by"] is None
    r = post(c, f"/api/v1/leads/{lead.pk}/release")
    assert r.status_code == 409 and r.json()["code"] == "lead_not_claimed"


def test_notes(api_as, consultant, mediator, host, lead):
    r = post(api_as(mediator), f"/api/v1/leads/{lead.pk}/notes", {"text": "Wil eerst kijken"})
    assert r.status_code == 201 and r.json()["author"] == "mediator"
    assert set(r.json()) == {"id", "lead_id", "author", "text", "created_at"}
    assert post(api_as(host), f"/api/v1/leads/{lead.pk}/notes", {"text": "x"}).status_code == 403
    r = post(api_as(consultant), f"/api/v1/leads/{lead.pk}/notes", {"text": ""})
    assert r.status_code == 422 and r.json()["code"] == "note_empty"
    detail = api_as(consultant).get(f"/api/v1/leads/{lead.pk}").json()
    assert [n["text"] for n in detail["notes"]] == ["Wil eerst kijken"]
    # A mediator adds notes but reads no client records.
    assert api_as(mediator).get(f"/api/v1/leads/{lead.pk}").status_code == 403


def test_outcome_agreement_and_feed(api_as, consultant, lead, activity, market):
    c = api_as(consultant)
    post(c, f"/api/v1/leads/{lead.pk}/claim")
    r = post(c, f"/api/v1/leads/{lead.pk}/outcome", agreement_body(activity))
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["lead"]["state"] == "agreement" and body["exemption"] is None
    assert body["agreement"]["hours_per_week"] == 8 and body["agreement"]["version"] == 1
    entries = list(FeedEntry.objects.filter(market_id=market.pk).order_by("seq"))
    assert [e.kind for e in entries[-2:]] == ["lead.updated", "agreement.created"]
    for e in entries:
        KINDS[e.kind].model_validate(e.data)


@pytest.mark.parametrize("over,status,code", [
    ({"hours_per_week": 0}, 422, "hours_out_of_range"),
    ({"hours_per_week": -3}, 422, "hours_out_of_range"),
    ({"hours_per_week": 41}, 422, "hours_out_of_range"),
    ({"hours_per_week": 25}, 422, "hours_reason_required"),
    ({"end_date": "2000-01-01"}, 422, "end_before_start"),
    ({"start_date": None}, 422, "start_date_required"),
    ({"activity": None}, 422, "activity_required"),
    ({"outcome": "maybe"}, 422, "invalid_outcome"),
    ({"medical_notes": "rugklachten"}, 422, "invalid"),
])
def test_outcome_agreement_refusals(api_as, consultant, lead, activity, over, status, code):
    c = api_as(consultant)
    post(c, f"/api/v1/leads/{lead.pk}/claim")
    r = post(c, f"/api/v1/leads/{lead.pk}/outcome", agreement_body(activity, **over))
    assert (r.status_code, r.json()["code"]) == (status, code)
    assert not Agreement.objects.exists()
    lead.refresh_from_db()
    assert lead.state == "claimed"


def test_outcome_on_unclaimed_and_foreign_lead(api_as, consultant, consultant2, lead, activity):
    r = post(api_as(consultant), f"/api/v1/leads/{lead.pk}/outcome", agreement_body(activity))
    assert (r.status_code, r.json()["code"]) == (409, "lead_not_claimed")
    post(api_as(consultant), f"/api/v1/leads/{lead.pk}/claim")
    r = post(api_as(consultant2), f"/api/v1/leads/{lead.pk}/outcome", agreement_body(activity))
    assert (r.status_code, r.json()["code"]) == (409, "lead_claimed_by_other")
    assert r.json()["extra"]["claimed_by"] == "consultant"


def test_over_capacity_with_and_without_override(api_as, consultant, lead, activity, market):
    for _ in range(activity.capacity):
        Agreement.objects.create(client=f.client(market.district), organisation=activity.organisation,
                                 activity=activity, hours_per_week=4, start_date=today())
    c = api_as(consultant)
    post(c, f"/api/v1/leads/{lead.pk}/claim")
    r = post(c, f"/api/v1/leads/{lead.pk}/outcome", agreement_body(activity))
    assert (r.status_code, r.json()["code"]) == (409, "over_capacity")
    assert r.json()["extra"]["capacity"] == activity.capacity
    r = post(c, f"/api/v1/leads/{lead.pk}/outcome",
             agreement_body(activity, capacity_override_reason="Organisatie heeft extra begeleider"))
    assert r.status_code == 200 and r.json()["agreement"]["capacity_override_reason"]


def test_outcome_exemption_follow_up_declined(api_as, consultant, market, org):
    c = api_as(consultant)
    leads = [ls.lead_upsert(market=market, client=f.invitation(market).client, organisation=org, activities=[],
                            source=Lead.Source.KIOSK)[0] for _ in range(3)]
    for lead in leads:
        post(c, f"/api/v1/leads/{lead.pk}/claim")
    review = (today() + dt.timedelta(days=120)).isoformat()
    r = post(c, f"/api/v1/leads/{leads[0].pk}/outcome", {"outcome": "exemption", "review_date": review})
    assert (r.status_code, r.json()["code"]) == (422, "category_required")
    r = post(c, f"/api/v1/leads/{leads[0].pk}/outcome",
             {"outcome": "exemption", "category": "health", "review_date": review, "reason": "hernia"})
    assert (r.status_code, r.json()["code"]) == (422, "exemption_free_text")
    r = post(c, f"/api/v1/leads/{leads[0].pk}/outcome",
             {"outcome": "exemption", "category": "language", "review_date": review})
    assert r.status_code == 200 and r.json()["exemption"]["category"] == "language"
    r = post(c, f"/api/v1/leads/{leads[1].pk}/outcome",
             {"outcome": "follow_up", "appointment_date": (today() + dt.timedelta(days=7)).isoformat()})
    assert r.status_code == 200 and r.json()["lead"]["state"] == "follow_up"
    r = post(c, f"/api/v1/leads/{leads[2].pk}/outcome",
             {"outcome": "declined", "declined_by": "client", "reason": "Heeft net werk gevonden"})
    assert r.status_code == 200 and r.json()["lead"]["declined_by"] == "client"


def test_consultant_creates_lead(api_as, consultant, other_consultant, market, org, activity):
    client = f.invitation(market).client
    body = {"client": client.pk, "organisation": org.pk, "activities": [activity.pk], "note": "Zoekt iets buiten"}
    r = post(api_as(consultant), f"/api/v1/markets/{market.pk}/leads", body)
    assert r.status_code == 201 and r.json()["source"] == "consultant" and r.json()["state"] == "new"
    r = post(api_as(consultant), f"/api/v1/markets/{market.pk}/leads", {**body, "claim": True})
    assert r.status_code == 200 and r.json()["state"] == "claimed"
    assert post(api_as(other_consultant), f"/api/v1/markets/{market.pk}/leads", body).status_code == 403


def test_formalise_update_and_client_copy(api_as, consultant, other_consultant, coordinator, market, org, activity):
    client = f.invitation(market, f.client(market.district, given="Jan", family="de Vries", language="en")).client
    c = api_as(consultant)
    body = {"organisation": org.pk, "activity": activity.pk, "hours_per_week": 6,
            "start_date": today().isoformat(), "end_date": (today() + dt.timedelta(days=365)).isoformat()}
    assert post(api_as(other_consultant), f"/api/v1/clients/{client.pk}/formalise", body).status_code == 403
    r = post(c, f"/api/v1/clients/{client.pk}/formalise", body)
    assert r.status_code == 201 and r.json()["formalised"] and r.json()["lead_id"] is None
    first = r.json()["id"]
    r = c.put(f"/api/v1/agreements/{first}", {"hours_per_week": 10}, content_type="application/json")
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["previous_id"] == first
    second = r.json()["id"]
    assert c.get(f"/api/v1/agreements/{first}").json()["is_current"] is False
    r = post(c, f"/api/v1/agreements/{first}", {"hours_per_week": 12})
    assert (r.status_code, r.json()["code"]) == (409, "agreement_not_current")
    r = post(c, f"/api/v1/agreements/{second}", {"hours_per_week": 30})
    assert (r.status_code, r.json()["code"]) == (422, "hours_reason_required")
    pdf = api_as(coordinator).get(f"/api/v1/agreements/{second}/client-copy.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    import io

    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Jan de Vries" in text and org.name in text and "10" in text
    assert api_as(other_consultant).get(f"/api/v1/agreements/{second}/client-copy.pdf").status_code == 403


def test_client_copy_uses_client_language(settings, market, org, activity, consultant):
    from django.utils import translation

    from events.agreement_pdf import agreement_texts

    client = f.client(market.district, language="ar")
    agreement = ls.agreement_formalise(client_id=client.pk, user=consultant, organisation=org.pk, hours_per_week=4,
                                       start_date=today(), end_date=today())
    seen = {}
    real = translation.override

    class Spy(real):
        def __init__(self, language, deactivate=False):
            seen["language"] = language
            super().__init__(language, deactivate)

    import events.agreement_pdf as mod

    mod.translation.override = Spy
    try:
        mod.agreement_pdf(agreement)
    finally:
        mod.translation.override = real
    assert seen["language"] == "ar"
    with translation.override("nl"):
        assert agreement_texts(agreement)["title"] == "Afspraak over vrijwilligerswerk"
