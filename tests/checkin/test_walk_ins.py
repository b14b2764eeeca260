"""Walk-ins: find by number or name within the district, or create; check in at once; privacy."""

import pytest
from django.utils import timezone

from backend.models import FeedEntry
from checkin.models import Scan
from events.models import Client, Invitation
from tests import factories as f
from tests.checkin.conftest import nonce, post

pytestmark = pytest.mark.django_db


def walk_in(api, market, **body):
    body.setdefault("nonce", nonce())
    return post(api, f"/api/v1/markets/{market.pk}/walk-ins", body)


def search(client, market, q):
    return client.get(f"/api/v1/markets/{market.pk}/clients", {"q": q})


@pytest.fixture
def known(district):
    return f.client(district, given="Mohamed", family="El Amrani", number="R1234567",
                    email="m@example.org", phone="0612345678", address="Geheimstraat 1")


def test_host_search_shows_no_number_or_contact(host_api, market, known):
    hits = search(host_api, market, "amrani").json()
    assert hits == [{"id": known.pk, "display_name": "Mohamed E.", "language": "nl"}]
    assert "R1234567" not in str(hits) and "Geheim" not in str(hits)
    assert search(host_api, market, "R1234567").json()[0]["id"] == known.pk


def test_consultant_search_sees_the_number(api_as, consultant, market, known):
    hits = api_as(consultant).get(f"/api/v1/markets/{market.pk}/clients", {"q": "mohamed amrani"}).json()
    assert hits[0]["client_number"] == "R1234567"
    assert "email" not in hits[0] and "phone" not in hits[0]


def test_a_search_that_shows_client_numbers_is_audit_logged(api_as, consultant, host_api, market, known):
    from backend.models import AuditEvent

    search(host_api, market, "amrani")  # display names only: the minimal profile, not a record
    assert not AuditEvent.objects.filter(action="read", object_type="client").exists()
    api_as(consultant).get(f"/api/v1/markets/{market.pk}/clients", {"q": "nobody-like-this"})
    assert not AuditEvent.objects.filter(action="read", object_type="client").exists()
    api_as(consultant).get(f"/api/v1/markets/{market.pk}/clients", {"q": "amrani"})
    event = AuditEvent.objects.get(action="read", object_type="client")
    assert event.actor == consultant.username and event.object_id == f"market:{market.pk}"
    assert event.detail == {"via": "walk_in_search", "clients": [known.pk]}


def test_search_stays_in_the_district_and_shows_invitation_state(host_api, market, known, other_district):
    f.client(other_district, given="Mohamed", family="Anders")
    f.invitation(market, known)
    hits = search(host_api, market, "mohamed").json()
    assert [h["id"] for h in hits] == [known.pk]
    assert hits[0]["invitation_state"] == "issued"
    assert search(host_api, market, "m").json() == []  # at least two characters


def test_search_roles(api_as, mediator, other_consultant, market):
    assert search(api_as(mediator), market, "ab").status_code == 403
    assert search(api_as(other_consultant), market, "ab").status_code == 403


def test_walk_in_of_a_summoned_client_without_letter(host_api, market, known):
    inv = f.invitation(market, known)
    body = walk_in(host_api, market, client=known.pk).json()
    assert body["status"] == "ok" and body["created_client"] is False and body["method"] == "walk_in"
    assert body["invitation"]["id"] == inv.pk
    inv.refresh_from_db()
    assert inv.state == "checked_in" and inv.walk_in is False


def test_walk_in_by_client_number_issues_a_walk_in_invitation(host_api, market, known):
    body = walk_in(host_api, market, client_number="r1234567").json()
    assert body["status"] == "ok" and body["client"] == {"display_name": "Mohamed E.", "language": "nl"}
    inv = Invitation.objects.get(market=market, client=known)
    assert inv.walk_in and inv.state == "checked_in"
    entry = FeedEntry.objects.get(market_id=market.pk, kind="checkin.created")
    assert entry.data["walk_in"] is True and entry.data["method"] == "walk_in"
    # walk-in invitations do not change the invited count feed
    assert not FeedEntry.objects.filter(market_id=market.pk, kind="invitations.issued").exists()


def test_walk_in_creates_a_new_client(host_api, market):
    body = walk_in(host_api, market, given_name="Şükriye", family_name="Öztürk", language="tr").json()
    assert body["status"] == "ok" and body["created_client"] is True
    client = Client.objects.get(pk=body["client_id"])
    assert client.client_number.startswith("INLOOP-") and client.district == market.district
    assert body["client"] == {"display_name": "Şükriye Ö.", "language": "tr"}
    assert "INLOOP" not in str(body)


def test_walk_in_by_name_finds_the_summoned_client_without_letter(host_api, market, known):
    """§7 "found by client number or name": no duplicate record, and the client's own
    invitation is checked in (so it does not become a no-show at closing)."""
    inv = f.invitation(market, known)
    body = walk_in(host_api, market, given_name=" mohamed ", family_name="EL AMRANI").json()
    assert (body["status"], body["created_client"], body["client_id"]) == ("ok", False, known.pk)
    assert body["invitation"]["id"] == inv.pk
    inv.refresh_from_db()
    assert inv.state == "checked_in" and Client.objects.count() == 1


def test_walk_in_by_name_finds_a_district_client_who_just_comes(host_api, market, known, other_district, district):
    f.client(other_district, given="Mohamed", family="El Amrani")  # another district does not count
    f.client(district, given="Mohamed", family="El Amrani", pseudonymised_at=timezone.now())  # nor a past record
    body = walk_in(host_api, market, given_name="Mohamed", family_name="El Amrani").json()
    assert (body["status"], body["created_client"], body["client_id"]) == ("ok", False, known.pk)
    assert Invitation.objects.get(market=market, client=known).walk_in


def test_walk_in_by_name_among_namesakes(host_api, market, known, district):
    twin = f.client(district, given="Mohamed", family="El Amrani")
    r = walk_in(host_api, market, given_name="Mohamed", family_name="El Amrani")
    assert r.status_code == 409 and r.json()["code"] == "client_ambiguous" and r.json()["extra"] == {"count": 2}
    assert not Invitation.objects.exists() and Client.objects.count() == 2
    f.invitation(market, twin)  # only one of them is summoned here: that one
    body = walk_in(host_api, market, given_name="Mohamed", family_name="El Amrani").json()
    assert (body["status"], body["client_id"]) == ("ok", twin.pk)
    # with a client number the number decides, not the name
    body = walk_in(host_api, market, client_number="R1234567", given_name="Mohamed",
                   family_name="El Amrani").json()
    assert body["client_id"] == known.pk


def test_walk_in_with_a_new_client_number(api_as, consultant, market):
    body = walk_in(api_as(consultant), market, client_number="R7654321", given_name="Jan",
                   family_name="Jansen").json()
    assert body["status"] == "ok"
    assert Client.objects.get(client_number="R7654321").given_name == "Jan"


def test_walk_in_needs_both_names(host_api, market):
    r = walk_in(host_api, market, given_name="Jan")
    assert r.status_code == 422 and r.json()["code"] == "name_required"
    assert not Client.objects.exists() and not Scan.objects.exists()


def test_walk_in_refuses_a_client_of_another_district(host_api, market, other_district):
    stranger = f.client(other_district, number="Z0000001")
    assert walk_in(host_api, market, client=stranger.pk).status_code == 422
    assert walk_in(host_api, market, client_number="Z0000001").status_code == 422
    assert not Invitation.objects.exists()


def test_walk_in_is_idempotent_with_the_nonce(host_api, market):
    n = nonce()
    first = walk_in(host_api, market, nonce=n, given_name="Kees", family_name="Visser").json()
    again = walk_in(host_api, market, nonce=n, given_name="Kees", family_name="Visser").json()
    assert again == {**first, "replayed": True}
    assert Client.objects.count() == 1 and Invitation.objects.count() == 1
    assert FeedEntry.objects.filter(kind="checkin.created").count() == 1
    other = walk_in(host_api, market, nonce=n, given_name="Piet", family_name="Visser")
    assert other.status_code == 422 and other.json()["code"] == "nonce_reused"


def test_walk_in_of_someone_already_checked_in(host_api, market, known):
    walk_in(host_api, market, client=known.pk)
    body = walk_in(host_api, market, client=known.pk).json()
    assert body["reason"] == "already_checked_in" and body["checked_in_at"]


def test_walk_in_when_market_not_open_creates_nothing(host_api, district):
    planned = f.market(district, state="planned")
    body = walk_in(host_api, planned, given_name="Kees", family_name="Visser").json()
    assert body["reason"] == "not_open" and body["client"] is None
    assert not Client.objects.exists()


def test_walk_in_roles(api_as, mediator, other_consultant, coordinator, market):
    assert walk_in(api_as(mediator), market, given_name="A", family_name="B").status_code == 403
    assert walk_in(api_as(other_consultant), market, given_name="A", family_name="B").status_code == 403
    assert walk_in(api_as(coordinator), market, given_name="A", family_name="B").status_code == 200
