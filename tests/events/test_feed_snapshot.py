"""GET /api/v1/markets/{id}/snapshot (DESIGN.md §5): per role, its content, the head it
reflects, and a query count that does not grow with the market."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client as DjangoClient

from backend.feed import feed_head
from events.lead_services import lead_upsert
from events.models import Invitation, Lead
from events.snapshot import market_snapshot
from tests import factories as f

pytestmark = pytest.mark.django_db


def url(market_id: int) -> str:
    return f"/api/v1/markets/{market_id}/snapshot"


def check_in(api, host, market, invitation) -> None:
    body = {"market": market.pk, "code": invitation.code, "nonce": str(uuid.uuid4())}
    response = api(host).post("/api/v1/checkin/redeem", body, content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "ok", response.content


@pytest.fixture
def busy_market(market, api_as, host):
    """Six invitations: two arrived, one excused, one revoked, two still expected; three leads."""
    invitations = [f.invitation(market, f.client(market.district, given=g, family="Şahin", language=lang))
                   for g, lang in [("Ayşe", "tr"), ("Noor", "ar"), ("Jan", "nl"), ("Rui", "pt"), ("Kees", "nl"),
                                   ("Ana", "pt")]]
    check_in(api_as, host, market, invitations[0])
    check_in(api_as, host, market, invitations[1])
    Invitation.objects.filter(pk=invitations[2].pk).update(state=Invitation.State.EXCUSED)
    Invitation.objects.filter(pk=invitations[3].pk).update(state=Invitation.State.REVOKED)
    org = f.organisation()
    f.stand(market, org)
    activities = list(org.activities.all())
    for inv in invitations[:2]:
        lead_upsert(market=market, client=inv.client, organisation=org, activities=activities[:1], source="kiosk",
                    warmth="warm")
    other = f.organisation()
    lead, _ = lead_upsert(market=market, client=invitations[0].client, organisation=other,
                          activities=list(other.activities.all()), source="kiosk", warmth="hot", note="Wil graag")
    Lead.objects.filter(pk=lead.pk).update(state=Lead.State.CLAIMED)
    return market, invitations


def test_consultant_gets_counts_arrivals_leads_and_head(busy_market, consultant, api_as):
    market, invitations = busy_market
    response = api_as(consultant).get(url(market.pk))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["market"]["id"] == market.pk and body["market"]["state"] == "open"
    assert set(body["market"]) >= {"id", "name", "state", "starts_at", "ends_at"}
    assert body["head"] == feed_head(market_id=market.pk) > 0
    assert body["counts"] == {"invited": 5, "arrived": 2, "excused": 1, "no_show": 0, "expected": 2,
                              "leads": {"new": 2, "claimed": 1, "agreement": 0, "exemption": 0,
                                        "follow_up": 0, "declined": 0}}
    arrivals = body["arrivals"]
    assert [a["invitation_id"] for a in arrivals] == [invitations[0].pk, invitations[1].pk]
    assert arrivals[0] == {"invitation_id": invitations[0].pk, "client_id": invitations[0].client_id,
                           "display_name": "Ayşe Ş.", "language": "tr", "walk_in": False,
                           "checked_in_at": arrivals[0]["checked_in_at"], "slot_id": None}
    assert arrivals[0]["checked_in_at"]
    assert len(body["leads"]) == 3
    assert set(body["leads"][0]) == {"id", "client_id", "display_name", "language", "organisation_id",
                                     "organisation", "activities", "source", "state", "warmth", "note",
                                     "claimed_by", "updated_at"}
    assert body["invitation_states"][str(invitations[3].pk)] == "revoked"
    assert len(body["invitation_states"]) == 6
    # Never welfare data: no client numbers or family names in the snapshot.
    text = response.content.decode()
    assert invitations[0].client.client_number not in text and "Şahin" not in text


def test_head_matches_the_last_entry_the_rows_reflect(busy_market, consultant, api_as, host):
    market, invitations = busy_market
    before = api_as(consultant).get(url(market.pk)).json()
    check_in(api_as, host, market, invitations[4])
    after = api_as(consultant).get(url(market.pk)).json()
    assert after["head"] > before["head"]
    assert after["counts"]["arrived"] == 3 and after["counts"]["expected"] == 1


def test_coordinator_may_read(busy_market, coordinator, api_as):
    market, _ = busy_market
    assert api_as(coordinator).get(url(market.pk)).status_code == 200


@pytest.mark.parametrize("who,status", [("host", 403), ("mediator", 403), ("other_consultant", 403)])
def test_others_may_not(busy_market, api_as, request, who, status):
    market, _ = busy_market
    response = api_as(request.getfixturevalue(who)).get(url(market.pk))
    assert response.status_code == status
    assert response.json()["code"] in {"wrong_role", "wrong_district"}


def test_anonymous_and_unknown_market(busy_market, coordinator, api_as):
    market, _ = busy_market
    assert DjangoClient().get(url(market.pk)).status_code == 401
    response = api_as(coordinator).get(url(987654))
    assert response.status_code == 404 and response.json()["code"] == "market_not_found"


# Session, user, market + district with the roles and district membership (one query); then
# the snapshot's reads: savepoint, head, market, invitation states, arrivals, leads, leads'
# activities, client statements, release.
SNAPSHOT_QUERIES = 12


def test_query_count_is_pinned_and_independent_of_size(busy_market, consultant, api_as, host,
                                                      django_assert_num_queries):
    market, _ = busy_market
    api = api_as(consultant)
    with django_assert_num_queries(SNAPSHOT_QUERIES):
        assert api.get(url(market.pk)).status_code == 200
    # Ten more arrivals and leads: the same number of queries.
    org = f.organisation()
    for i in range(10):
        inv = f.invitation(market, f.client(market.district, given=f"Extra{i}"))
        check_in(api_as, host, market, inv)
        lead_upsert(market=market, client=inv.client, organisation=org, activities=list(org.activities.all()),
                    source="kiosk")
    api = api_as(consultant)
    with django_assert_num_queries(SNAPSHOT_QUERIES):
        body = api.get(url(market.pk)).json()
    assert body["counts"]["arrived"] == 12 and len(body["leads"]) == 13


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_snapshot_opens_its_own(market, django_assert_max_num_queries):
    """The path a real request takes (no surrounding atomic block); on PostgreSQL this sets
    REPEATABLE READ as the transaction's first statement."""
    assert not connection.in_atomic_block
    # PostgreSQL: BEGIN, SET TRANSACTION, head, market, states, arrivals, lead activities,
    # leads, COMMIT (the lead rows are two value queries even for a market without leads).
    with django_assert_max_num_queries(10) as captured:
        snapshot = market_snapshot(market=market)
    assert snapshot["head"] == feed_head(market_id=market.pk)
    if connection.vendor == "postgresql":
        sqls = [q["sql"] for q in captured.captured_queries if q["sql"] != "BEGIN"]
        assert "REPEATABLE READ" in sqls[0]


def test_snapshot_carries_what_clients_reported_but_not_their_wishes(market, consultant, api_as):
    from events.client_services import client_constraints_report, client_volunteering_report, client_wishes_save

    inv = f.invitation(market, f.client(market.district, given="Sevgi", family="Demir"))
    client_volunteering_report(invitation=inv, organisation_name="Buurthuis De Brug", hours_per_week="4")
    client_constraints_report(invitation=inv, categories=["care"])
    client_wishes_save(invitation=inv, activity_ids=[], tags=["buiten"])
    body = api_as(consultant).get(url(market.pk)).json()
    kinds = sorted((s["kind"], s["category"], s["organisation_name"]) for s in body["statements"])
    assert kinds == [("constraint", "care", None), ("volunteering", None, "Buurthuis De Brug")]
    assert {s["display_name"] for s in body["statements"]} == {"Sevgi D."}
