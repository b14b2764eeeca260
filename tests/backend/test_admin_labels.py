"""The admin a coordinator works in is Dutch throughout (CONVENTIONS.md: every user-facing
string translatable, plain Dutch msgids): app and model names of checkin, kiosk and backend too."""

from __future__ import annotations

import pytest

from backend.auth import COORDINATOR
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_admin_index_names_every_app_and_model_in_dutch(client):
    coordinator = f.user("coord_labels", COORDINATOR)
    coordinator.is_staff = True
    coordinator.save()
    client.force_login(coordinator)
    html = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    for dutch in ("Aanmelden bij de ingang", "Scans", "Tablets van organisaties", "Tablets", "Koppelcodes",
                  "Feed, rollen en audit", "Auditlog", "Feedberichten"):
        assert dutch in html, dutch
    for english in ("Check-in at the entrance", "Organisation kiosks", "Pairing codes", "Project wiring",
                    "Feed entries", "Audit events"):
        assert english not in html, english


def test_a_lead_reads_in_dutch(client):
    from events import lead_services as ls
    from events.models import Lead

    market = f.market(f.district(), state="open")
    org = f.organisation("Stadstuin")
    lead = ls.lead_upsert(market=market, client=f.invitation(market).client, organisation=org,
                          activities=list(org.activities.all()[:1]), source=Lead.Source.KIOSK)[0]
    coordinator = f.user("coord_leads", COORDINATOR)
    coordinator.is_staff = True
    coordinator.save()
    client.force_login(coordinator)
    html = client.get(f"/admin/events/lead/{lead.pk}/change/", HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    for dutch in ("Genomen door", "Reden van afwijzen", "Interesse", "Vervolgafspraak op"):
        assert dutch in html, dutch
    for english in ("Claimed by", "Declined reason", "Warmth", "Follow up on"):
        assert english not in html, english
