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
