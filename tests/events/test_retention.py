import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from backend.feed import feed_append
from backend.models import FeedEntry
from events import services
from events.models import Client, Invitation, Market
from events.retention import retention_run
from tests import factories as f


@pytest.fixture
def old_market(district):
    m = f.market(district, state="open", starts_in_hours=-24 * 800)
    return m


@pytest.mark.django_db
def test_old_clients_are_pseudonymised_and_figures_survive(old_market):
    old = f.client(old_market.district, given="Ayşe", family="Kaya", email="a@example.org", phone="0612345678",
                   address="Straat 1")
    inv = f.invitation(old_market, old)
    feed_append(market_id=old_market.pk, kind="checkin.created",
                data={"invitation_id": inv.pk, "client_id": old.pk, "display_name": old.display_name,
                      "language": "nl", "checked_in_at": timezone.now()})
    services.market_close(market=old_market)
    recent_market = f.market(old_market.district)
    recent = f.client(old_market.district, given="Jan", family="Bakker")
    f.invitation(recent_market, recent)

    out = StringIO()
    call_command("retention", stdout=out)
    assert "1 clients pseudonymised" in out.getvalue()

    old.refresh_from_db()
    assert old.pseudonymised_at is not None
    assert "Ayşe" not in (old.given_name + old.family_name) and old.client_number.startswith("PSEUDO-")
    assert old.email == old.phone == old.address == ""
    entry = FeedEntry.objects.get(market_id=old_market.pk, kind="checkin.created")
    assert "Ayşe" not in entry.data["display_name"]
    # figures remain: the invitation (now a no-show) still counts
    assert Invitation.objects.filter(market=old_market, state="no_show").count() == 1
    recent.refresh_from_db()
    assert recent.pseudonymised_at is None and recent.given_name == "Jan"

    # safe to run again: nothing more to do
    assert retention_run() == 0


@pytest.mark.django_db
def test_dry_run_changes_nothing(old_market):
    c = f.client(old_market.district)
    f.invitation(old_market, c)
    assert retention_run(dry_run=True) == 1
    c.refresh_from_db()
    assert c.pseudonymised_at is None
    assert Market.objects.count() == 1 and Client.objects.count() == 1


@pytest.mark.django_db
def test_days_override(district):
    m = f.market(district, starts_in_hours=-24 * 10)
    c = f.client(district)
    f.invitation(m, c)
    assert retention_run(days=30) == 0
    assert retention_run(days=5, now=timezone.now() + dt.timedelta(days=1)) == 1


@pytest.mark.django_db
def test_nothing_about_the_person_survives_anywhere(district, consultant, host):
    """Everything a real market leaves behind about a client — the scan's stored answer, the
    kiosk's stored answer with its note, lead notes, a decline reason, an agreement's reasons,
    an excuse reason, what the client typed on their page, and every feed copy of those — holds
    neither the name nor the free text after retention (§10). Figures stay."""
    import json

    from backend.feed import feed_append
    from checkin.models import Scan
    from checkin.services import ScanRequest, checkin_redeem
    from events import client_services, lead_services
    from events.models import Agreement, ClientStatement, Lead, LeadNote
    from events.reports import market_report
    from kiosk import services as kiosk
    from kiosk.models import InterestRequest

    secret = "Geheimnaam"
    market = f.market(district, state="open")
    person = f.client(district, given="Zeynep", family=secret)
    inv = f.invitation(market, person)
    client_services.client_volunteering_report(invitation=inv, organisation_name=f"Stichting {secret}",
                                               hours_per_week=4)
    assert checkin_redeem(market=market, request=ScanRequest(market_id=market.pk, nonce="n-1", token=inv.token),
                          user=host)["status"] == "ok"
    # A neighbour at the same market who also comes to a recent one: not due, kept as is.
    neighbour = f.client(district, given="Noor", family="Buurvrouw")
    checkin_redeem(market=market, request=ScanRequest(market_id=market.pk, nonce="n-2",
                                                      token=f.invitation(market, neighbour).token), user=host)
    f.invitation(f.market(district, state="planned", starts_in_hours=24 * 7), neighbour)
    stand = f.stand(market)
    code, _row = kiosk.pairing_code_create(stand=stand)
    _token, device = kiosk.device_pair(code=code, ip="127.0.0.1")
    activity = stand.organisation.activities.first()
    answer = kiosk.interest_register(device=device, data=kiosk.InterestIn(
        token=inv.token, code=None, activities=[activity.pk], note=f"Bel {secret} 0612345678", warmth="warm",
        nonce="k-1"))
    lead_id = answer["lead"]["id"]
    lead_services.lead_claim(lead_id=lead_id, user=consultant)
    lead_services.lead_note_add(lead_id=lead_id, user=consultant, text=f"Gesprek met {secret}, Kerkstraat 1")
    lead_services.lead_outcome(lead_id=lead_id, user=consultant, outcome="declined", declined_by="client",
                               reason=f"{secret} heeft rugklachten")
    Agreement.objects.create(client=person, market=market, organisation=stand.organisation, activity=activity,
                             hours_per_week=24, hours_reason=f"{secret} wil meer uren",
                             capacity_override_reason=f"voor {secret}", start_date=timezone.localdate())
    Invitation.objects.filter(pk=inv.pk).update(excuse_reason=f"{secret} ligt in het ziekenhuis")
    feed_append(market_id=market.pk, kind="invitation.updated", data={
        "invitation_id": inv.pk, "client_id": person.pk, "display_name": person.display_name, "state": "checked_in"})
    services.market_close(market=market)
    figures = market_report(market=market)["figures"]
    past = timezone.now() - dt.timedelta(days=800)
    Market.objects.filter(pk=market.pk).update(starts_at=past, ends_at=past + dt.timedelta(hours=4))

    assert retention_run() == 1

    def dump(model, *fields):
        return json.dumps(list(model.objects.values_list(*fields)), default=str, ensure_ascii=False)

    everything = "".join([
        dump(FeedEntry, "data"), dump(Scan, "response"), dump(InterestRequest, "response"),
        dump(Lead, "note", "declined_reason"), dump(LeadNote, "text"),
        dump(Agreement, "hours_reason", "capacity_override_reason"), dump(Invitation, "excuse_reason"),
        dump(ClientStatement, "organisation_name"), dump(Client, "given_name", "family_name", "client_number")])
    for leak in (secret, "Zeynep", "0612345678", "Kerkstraat", "rugklachten", "ziekenhuis"):
        assert leak not in everything, leak
    assert Scan.objects.get(nonce="n-1").status == "ok" and InterestRequest.objects.count() == 1
    assert Scan.objects.get(nonce="n-1").response["message"] == ""  # "Welkom! Zeynep G. …" is gone
    kept = FeedEntry.objects.get(kind="checkin.created", data__client_id=neighbour.pk)
    assert kept.data["display_name"] == "Noor B." and "Noor B." in Scan.objects.get(nonce="n-2").response["message"]
    assert Lead.objects.get().state == "declined"
    assert market_report(market=Market.objects.get(pk=market.pk))["figures"] == figures
