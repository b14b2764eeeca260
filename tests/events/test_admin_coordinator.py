"""The admin as a municipal coordinator uses it (tests/browser/test_coordinator.py walks the same
journey in a browser): a user with the coordinator role only — not a superuser — sets up a
market with time slots and stands, gets plain Dutch labels and refusals, sees times in local
time, and reaches the invitations, letters and report of a market from its admin pages."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.test import Client as DjangoClient
from pypdf import PdfReader

from events import services
from events.models import Client, Market, Stand, TimeSlot
from tests import factories as f

TZ = ZoneInfo("Europe/Amsterdam")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client(coordinator):
    assert not coordinator.is_superuser
    c = DjangoClient()
    c.force_login(coordinator)
    return c


def _market_post(district, *, name="Markt Oost", day="2030-05-01", starts="10:00", ends="16:00",
                 slots=(), stands=()) -> dict:
    data = {"district": district.pk, "name": name, "venue": "Buurthuis De Ster", "address": "Sterstraat 5",
            "starts_at_0": day, "starts_at_1": starts, "ends_at_0": day, "ends_at_1": ends, "what_to_bring": "",
            "slots-TOTAL_FORMS": str(len(slots)), "slots-INITIAL_FORMS": "0",
            "stands-TOTAL_FORMS": str(len(stands)), "stands-INITIAL_FORMS": "0"}
    for i, (start, end) in enumerate(slots):
        data.update({f"slots-{i}-starts_at_0": day, f"slots-{i}-starts_at_1": start,
                     f"slots-{i}-ends_at_0": day, f"slots-{i}-ends_at_1": end, f"slots-{i}-capacity": "40"})
    for i, org in enumerate(stands):
        data.update({f"stands-{i}-organisation": str(org.pk), f"stands-{i}-location": f"Tafel {i + 1}"})
    return data


def timezone_hm(value: dt.datetime) -> str:
    return value.astimezone(TZ).strftime("%H:%M")


def test_a_coordinator_without_superuser_rights_gets_the_slot_stand_and_activity_inlines(admin_client, district):
    page = admin_client.get("/admin/events/market/add/").content.decode()
    assert 'name="slots-TOTAL_FORMS"' in page and 'name="stands-TOTAL_FORMS"' in page
    assert 'name="activities-TOTAL_FORMS"' in admin_client.get("/admin/events/organisation/add/").content.decode()

    org = f.organisation("Buurthuis De Brug")
    r = admin_client.post("/admin/events/market/add/", _market_post(
        district, slots=[("10:00", "12:00"), ("13:00", "15:00")], stands=[org]))
    assert r.status_code == 302, r.content.decode()[:3000]
    market = Market.objects.get(name="Markt Oost")
    assert [(timezone_hm(s.starts_at), timezone_hm(s.ends_at)) for s in market.slots.all()] == [
        ("10:00", "12:00"), ("13:00", "15:00")]
    assert Stand.objects.get(market=market).organisation == org
    change = admin_client.get(f"/admin/events/market/{market.pk}/change/").content.decode()
    assert 'name="slots-INITIAL_FORMS" value="2"' in change and 'name="stands-INITIAL_FORMS" value="1"' in change


def test_the_admin_speaks_dutch_to_the_coordinator(admin_client, district):
    index = admin_client.get("/admin/").content.decode()
    for label in ("Markten", "Tijdvakken", "Cliënten", "Uitnodigingen", "Wijken", "Organisaties", "Activiteiten"):
        assert f">{label}<" in index, label
    page = admin_client.get("/admin/events/market/add/").content.decode()
    for label in ("Begint om", "Eindigt om", "Gebouw", "Wat meenemen", "Tijdvakken", "Stands", "Plek"):
        assert label in page, label
    for english in ("Starts at", "Ends at", "Venue", "What to bring", "Time slots"):
        assert english not in page, english
    f.client(district)
    clients = admin_client.get("/admin/events/client/").content.decode()
    assert "Cliëntnummer" in clients and "Client number" not in clients


def test_a_market_that_ends_before_it_starts_is_refused_in_plain_dutch(admin_client, district):
    r = admin_client.post("/admin/events/market/add/", _market_post(district, starts="16:00", ends="10:00"))
    assert r.status_code == 200
    page = r.content.decode()
    assert "Het einde van de markt moet na het begin liggen." in page
    assert "market_ends_after_start" not in page  # not the database constraint's name
    assert not Market.objects.exists()


@pytest.mark.parametrize(("slot", "message"), [
    (("13:00", "12:00"), "Het einde van een tijdvak moet na het begin liggen."),
    (("15:00", "17:00"), "Een tijdvak moet binnen de tijden van de markt liggen."),
    (("09:00", "11:00"), "Een tijdvak moet binnen de tijden van de markt liggen."),
])
def test_a_slot_the_letter_could_not_print_is_refused_and_nothing_is_saved(admin_client, district, slot, message):
    r = admin_client.post("/admin/events/market/add/", _market_post(district, slots=[("10:00", "12:00"), slot]))
    assert r.status_code == 200
    assert message in r.content.decode()
    assert not Market.objects.exists() and not TimeSlot.objects.exists()


def test_the_time_slot_page_checks_a_slot_against_its_market_too(admin_client, district):
    market = f.market(district, state="planned", starts_in_hours=48)
    day = market.starts_at.astimezone(TZ)
    late = day + dt.timedelta(hours=5)
    r = admin_client.post("/admin/events/timeslot/add/", {
        "market": market.pk, "starts_at_0": late.strftime("%Y-%m-%d"), "starts_at_1": late.strftime("%H:%M"),
        "ends_at_0": late.strftime("%Y-%m-%d"), "ends_at_1": (late + dt.timedelta(hours=1)).strftime("%H:%M"),
        "capacity": "10"})
    assert r.status_code == 200
    assert "Een tijdvak moet binnen de tijden van de markt liggen." in r.content.decode()
    assert not TimeSlot.objects.exists()


def test_a_time_slot_shows_local_time_not_utc(district):
    market = services.market_create(district=district, name="Winter", venue="Zaal", address="Straat 1",
                                    starts_at=dt.datetime(2030, 1, 10, 9, 0, tzinfo=TZ),
                                    ends_at=dt.datetime(2030, 1, 10, 17, 0, tzinfo=TZ))
    slot = services.timeslot_create(market=market, starts_at=dt.datetime(2030, 1, 10, 13, 0, tzinfo=TZ),
                                    ends_at=dt.datetime(2030, 1, 10, 15, 0, tzinfo=TZ))
    slot.refresh_from_db()  # the database hands back UTC (12:00)
    assert str(slot) == "13:00–15:00"


def test_the_invite_page_says_which_market_and_day_each_slot_belongs_to(admin_client, district):
    market = services.market_create(district=district, name="Markt Oost", venue="Zaal", address="Straat 1",
                                    starts_at=dt.datetime(2030, 5, 1, 10, 0, tzinfo=TZ),
                                    ends_at=dt.datetime(2030, 5, 1, 16, 0, tzinfo=TZ))
    services.timeslot_create(market=market, starts_at=dt.datetime(2030, 5, 1, 13, 0, tzinfo=TZ),
                             ends_at=dt.datetime(2030, 5, 1, 15, 0, tzinfo=TZ))
    closed = f.market(district, state="closed", name="Oude markt")
    services.timeslot_create(market=closed, starts_at=closed.starts_at, ends_at=closed.ends_at)
    client = f.client(district)
    page = admin_client.post("/admin/events/client/", {"action": "invite_to_market",
                                                       "_selected_action": [str(client.pk)]}).content.decode()
    assert f"Markt Oost — {district.name}, 1 mei 2030" in page
    assert "Markt Oost, 1 mei 2030, 13:00–15:00" in page
    assert "Oude markt" not in page  # a closed market and its slots cannot be chosen


def test_the_market_list_and_page_link_to_the_invitations_and_the_report(admin_client, market):
    f.invitation(market)
    listing = admin_client.get("/admin/events/market/").content.decode()
    invitations_url = f"/admin/events/invitation/?market__id__exact={market.pk}"
    assert f'<a href="{invitations_url}">1</a>' in listing
    assert f'<a href="/reports/market/{market.pk}/">Rapport</a>' in listing
    change = admin_client.get(f"/admin/events/market/{market.pk}/change/").content.decode()
    assert f'href="/reports/market/{market.pk}/"' in change and f'href="{invitations_url}"' in change
    assert admin_client.get(invitations_url).status_code == 200
    assert admin_client.get(f"/reports/market/{market.pk}/").status_code == 200
    add = admin_client.get("/admin/events/market/add/").content.decode()
    assert "/reports/market/" not in add


def test_one_selected_invitation_downloads_its_own_letter_in_its_language(admin_client, market):
    arabic = f.invitation(market, f.client(market.district, given="فاطمة", family="الزهراء", language="ar"))
    dutch = f.invitation(market)
    r = admin_client.post("/admin/events/invitation/", {"action": "download_letters",
                                                        "_selected_action": [str(arabic.pk)]})
    assert r["Content-Type"] == "application/pdf"
    assert r["Content-Disposition"] == f'attachment; filename="uitnodiging-{arabic.formatted_code}.pdf"'
    assert "no-store" in r["Cache-Control"]
    pdf = PdfReader(io.BytesIO(r.content))
    assert len(pdf.pages) == 1 and pdf.trailer["/Root"]["/Lang"] == "ar"
    assert arabic.formatted_code in pdf.metadata.title

    r = admin_client.post("/admin/events/invitation/", {"action": "download_letters",
                                                        "_selected_action": [str(arabic.pk), str(dutch.pk)]})
    pdf = PdfReader(io.BytesIO(b"".join(r.streaming_content)))
    assert len(pdf.pages) == 2 and pdf.trailer["/Root"]["/Lang"] == "nl"  # a batch mixes languages


def test_the_import_message_fits_every_count(admin_client, district):
    upload = io.BytesIO("client_number,given_name,family_name,language\nA1,Zoë,Brouwër,nl\nA2,Jan,Fout,xx\n"
                        .encode())
    upload.name = "c.csv"
    r = admin_client.post("/admin/events/client/import-csv/", {"district": district.pk, "file": upload})
    page = r.content.decode()
    assert "Nieuw: 1. Bijgewerkt: 0. Ongewijzigd: 0. Regels met fouten: 1." in page
    assert list(Client.objects.values_list("client_number", flat=True)) == ["A1"]
