"""The client's own page /i/<token>: view tests (DESIGN.md §6, §9; docs/client-page.md)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.test import Client as DjangoClient
from django.utils import timezone

from backend.feed_kinds import KINDS
from backend.models import FeedEntry
from events import services
from events.models import ClientStatement, Invitation, Lead
from tests import factories as f


def future_market(district, *, starts_in_hours: float = 72, slots=((0, 2, 50), (2, 4, 50))):
    m = f.market(district, state="planned", starts_in_hours=starts_in_hours, hours=4)
    for start, end, capacity in slots:
        services.timeslot_create(market=m, starts_at=m.starts_at + dt.timedelta(hours=start),
                                 ends_at=m.starts_at + dt.timedelta(hours=end), capacity=capacity)
    return m


@pytest.fixture
def fmarket(district):
    return future_market(district)


@pytest.fixture
def inv(fmarket):
    client = f.client(fmarket.district, given="Ayşe", family="Kaya", number="C7654321",
                      address="Geheimstraat 99, Rotterdam", phone="0612345678", email="ayse@example.org")
    invitation = f.invitation(fmarket, client)
    Invitation.objects.filter(pk=invitation.pk).update(slot=fmarket.slots.first())
    invitation.refresh_from_db()
    return invitation


@pytest.fixture
def web():
    return DjangoClient(enforce_csrf_checks=True)


def url(inv, action=None):
    return f"/i/{inv.token}" + (f"/{action}" if action else "")


def csrf_post(web, inv, action, data=None, **extra):
    """GET the page (sets the csrftoken cookie), then POST the form with the token like a browser."""
    page = web.get(url(inv))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    payload = {"csrfmiddlewaretoken": token.group(1) if token else ""}
    payload.update(data or {})
    return web.post(url(inv, action), payload, **extra)


def entries(market, kind=None):
    qs = FeedEntry.objects.filter(market_id=market.pk).order_by("seq")
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs)


def assert_valid(entry):
    KINDS[entry.kind].model_validate(entry.data)


# ---------------------------------------------------------------------------------------------
# What the page shows
# ---------------------------------------------------------------------------------------------

def test_page_shows_date_place_slot_bring_map_and_read_aloud(web, inv):
    r = web.get(url(inv))
    assert r.status_code == 200
    html = r.content.decode()
    assert inv.market.venue in html
    assert "Hoekstraat 1, Rotterdam" in html  # the market's address, not the client's
    assert "https://www.openstreetmap.org/search?query=Hoekstraat+1%2C+Rotterdam" in html
    slot = inv.slot
    assert timezone.localtime(slot.starts_at).strftime("%H:%M") in html
    assert "Neem mee" in html
    assert 'id="speak-button"' in html and "Voorlezen" in html
    assert 'aria-hidden="true"' in html  # decorative pictograms
    assert inv.formatted_code in html
    assert 'href="/toegankelijkheid/"' in html
    assert "<script" in html and "events/client.js" in html
    assert not re.search(r"<script>(?!\s*</script>)", html)  # no inline script
    assert r["Cache-Control"].startswith("no-store")


def test_page_never_shows_client_number_address_or_contact(web, inv):
    for path in (url(inv), url(inv) + "?lang=en", url(inv) + "?lang=ar"):
        html = web.get(path).content.decode()
        for secret in ("C7654321", "Geheimstraat", "0612345678", "ayse@example.org", "Kaya"):
            assert secret not in html, (path, secret)


def test_unknown_token_is_a_friendly_404_with_the_phone_number(web, db):
    r = web.get("/i/this-token-does-not-exist-at-all")
    assert r.status_code == 404
    html = r.content.decode()
    assert "Deze link werkt niet" in html
    assert settings.VM_MUNICIPALITY_PHONE in html
    assert '<html lang="nl"' in html


def test_unknown_token_page_repeats_text_in_the_visitors_language(web, db):
    r = web.get("/i/this-token-does-not-exist-at-all", HTTP_ACCEPT_LANGUAGE="ar")
    assert r.status_code == 404
    html = r.content.decode()
    assert '<html lang="nl"' in html
    assert 'lang="ar" dir="rtl"' in html


def test_revoked_token_is_404(web, inv):
    Invitation.objects.filter(pk=inv.pk).update(state=Invitation.State.REVOKED)
    assert web.get(url(inv)).status_code == 404
    r = web.post(url(inv, "confirm"))
    assert r.status_code in (403, 404)  # no CSRF token here; never a change
    assert not Invitation.objects.get(pk=inv.pk).confirmed_at


def test_failed_tokens_are_rate_limited_per_ip(web, db, monkeypatch):
    from backend import ratelimit

    monkeypatch.setitem(ratelimit.LIMITS, "client_token", (3, 300))
    for i in range(3):
        assert web.get(f"/i/unknown-token-number-{i:04d}xxxxxxxx").status_code == 404
    r = web.get("/i/unknown-token-number-9999xxxxxxxx")
    assert r.status_code == 429
    assert int(r["Retry-After"]) >= 1
    assert settings.VM_MUNICIPALITY_PHONE in r.content.decode()
    # Another IP is not affected.
    other = DjangoClient(REMOTE_ADDR="10.9.8.7")
    assert other.get("/i/unknown-token-number-1234xxxxxxxx").status_code == 404


def test_the_letters_short_address_leads_to_the_clients_page(web, inv):
    from events.codes import short_url

    assert short_url(inv.code) == f"{settings.PUBLIC_BASE_URL}/c/{inv.formatted_code}"
    for typed in (inv.formatted_code, inv.code, inv.formatted_code.lower(), inv.code.lower() + "/"):
        r = web.get(f"/c/{typed}")
        assert r.status_code == 302 and r["Location"] == f"/i/{inv.token}", typed
        assert "no-cache" in r["Cache-Control"] or "no-store" in r["Cache-Control"]
    assert web.get(f"/c/{inv.code}", follow=True).status_code == 200


def test_a_short_address_with_an_unknown_or_revoked_code_is_the_friendly_404(web, inv, monkeypatch):
    from backend import ratelimit

    assert web.get("/c/ZZZZ-ZZZZ").status_code == 404
    assert "Deze link werkt niet" in web.get("/c/not-a-code").content.decode()
    Invitation.objects.filter(pk=inv.pk).update(state=Invitation.State.REVOKED)
    assert web.get(f"/c/{inv.formatted_code}").status_code == 404
    # typed codes spend the visitor's failures like tokens do
    monkeypatch.setitem(ratelimit.LIMITS, "client_token", (3, 300))
    assert web.get("/c/ZZZZ-ZZZY").status_code == 429


def test_rate_limit_is_not_spent_by_valid_tokens(web, inv, monkeypatch):
    from backend import ratelimit

    monkeypatch.setitem(ratelimit.LIMITS, "client_token", (2, 300))
    for _ in range(5):
        assert web.get(url(inv)).status_code == 200


def test_after_the_market_only_says_it_has_passed(web, district):
    m = f.market(district, state="closed", starts_in_hours=-30, hours=4)
    client = f.client(district, number="C5550001")
    inv = Invitation.objects.create(client=client, market=m, token="x" * 30, code="ABCDEFGH")
    r = web.get(url(inv))
    assert r.status_code == 200
    html = r.content.decode()
    assert "De markt is voorbij" in html
    assert m.venue not in html and "Hoekstraat" not in html and "ABCD-EFGH" not in html
    assert "<form" not in html


def test_market_that_ended_but_is_not_closed_has_passed(web, district):
    m = f.market(district, state="open", starts_in_hours=-10, hours=4)
    inv = f.invitation(m)
    html = web.get(url(inv)).content.decode()
    assert "De markt is voorbij" in html


# ---------------------------------------------------------------------------------------------
# Languages
# ---------------------------------------------------------------------------------------------

def test_language_default_is_the_clients_preferred_language(web, inv):
    inv.client.language = "tr"
    inv.client.save()
    r = web.get(url(inv), HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="tr"' in r.content.decode()
    assert r["Content-Language"] == "tr"


def test_accept_language_only_when_no_preferred_language(web, inv):
    inv.client.language = ""
    inv.client.save()
    r = web.get(url(inv), HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.9,en;q=0.5")
    assert '<html lang="pt"' in r.content.decode()


def test_explicit_choice_wins_and_is_remembered_in_a_cookie(web, inv):
    inv.client.language = "tr"
    inv.client.save()
    r = web.get(url(inv) + "?lang=en", HTTP_ACCEPT_LANGUAGE="pt")
    assert '<html lang="en"' in r.content.decode()
    cookie = r.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en" and int(cookie["max-age"]) > 30 * 24 * 3600
    # Next visit without ?lang: the cookie wins over the preferred language and the browser.
    r = web.get(url(inv), HTTP_ACCEPT_LANGUAGE="pt")
    assert '<html lang="en"' in r.content.decode()


def test_unknown_lang_parameter_is_ignored(web, inv):
    r = web.get(url(inv) + "?lang=xx")
    assert '<html lang="nl"' in r.content.decode()
    assert settings.LANGUAGE_COOKIE_NAME not in r.cookies


def test_arabic_is_right_to_left(web, inv):
    html = web.get(url(inv) + "?lang=ar").content.decode()
    assert re.search(r'<html lang="ar" dir="rtl"', html)
    assert 'dir="ltr"' in html  # the short code stays left-to-right
    # the municipality's number: a link to call, left to right, on one line (client.css .phone)
    assert f'<a class="phone" dir="ltr" href="tel:14010">{settings.VM_MUNICIPALITY_PHONE}</a>' in html
    html = web.get(url(inv) + "?lang=nl").content.decode()
    assert 'dir="rtl"' not in html.split(">", 2)[1]


# ---------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------

def test_confirm_twice_sets_once_and_emits_one_entry(web, inv):
    before = len(entries(inv.market))
    r = csrf_post(web, inv, "confirm")
    assert r.status_code == 303 and r["Location"] == url(inv)
    inv.refresh_from_db()
    first = inv.confirmed_at
    assert first is not None
    r = csrf_post(web, inv, "confirm")
    assert r.status_code == 303
    inv.refresh_from_db()
    assert inv.confirmed_at == first
    new = entries(inv.market)[before:]
    assert [e.kind for e in new] == ["invitation.updated"]
    assert new[0].data["confirmed"] is True and new[0].data["invitation_id"] == inv.pk
    assert_valid(new[0])
    page = web.get(url(inv)).content.decode()
    assert "U heeft gezegd dat u komt" in page


def test_post_without_csrf_is_refused_with_a_friendly_page(inv):
    web = DjangoClient(enforce_csrf_checks=True)
    r = web.post(url(inv, "confirm"))
    assert r.status_code == 403
    html = r.content.decode()
    assert "Dat lukte niet" in html and f'href="{url(inv)}"' in html
    inv.refresh_from_db()
    assert inv.confirmed_at is None
    # Elsewhere Django's own CSRF answer is unchanged.
    r = web.post("/login/", {"username": "x", "password": "y"})
    assert r.status_code == 403 and "CSRF" in r.content.decode()


def test_change_slot(web, inv):
    other = inv.market.slots.exclude(pk=inv.slot_id).get()
    r = csrf_post(web, inv, "slot", {"slot": other.pk})
    assert r.status_code == 303
    inv.refresh_from_db()
    assert inv.slot_id == other.pk
    e = entries(inv.market, "invitation.updated")[-1]
    assert e.data["slot_id"] == other.pk
    assert_valid(e)
    # The same again: no change, no second entry.
    count = len(entries(inv.market))
    assert csrf_post(web, inv, "slot", {"slot": other.pk}).status_code == 303
    assert len(entries(inv.market)) == count


def test_full_slot_is_refused_with_alternatives(web, district):
    m = future_market(district, slots=((0, 1, 50), (1, 2, 1), (2, 3, 50)))
    first, full, free = list(m.slots.order_by("starts_at"))
    taker = f.invitation(m)
    Invitation.objects.filter(pk=taker.pk).update(slot=full)
    inv = f.invitation(m)
    Invitation.objects.filter(pk=inv.pk).update(slot=first)
    inv.refresh_from_db()
    count = len(entries(m))
    r = csrf_post(web, inv, "slot", {"slot": full.pk})
    assert r.status_code == 409
    html = r.content.decode()
    assert "Deze tijd is vol" in html
    assert "Op deze tijden is nog plaats" in html
    alt = timezone.localtime(free.starts_at).strftime("%H:%M")
    assert alt in html.split("Op deze tijden is nog plaats")[1].split("</ul>")[0]
    inv.refresh_from_db()
    assert inv.slot_id == first.pk
    assert len(entries(m)) == count


def test_slot_of_another_market_is_refused(web, inv, district):
    other_market = future_market(district)
    r = csrf_post(web, inv, "slot", {"slot": other_market.slots.first().pk})
    assert r.status_code == 422
    inv.refresh_from_db()
    assert inv.slot.market_id == inv.market_id


def test_cancel_in_time_makes_the_invitation_excused(web, inv):
    r = csrf_post(web, inv, "cancel", {"reason": "care"})
    assert r.status_code == 303
    inv.refresh_from_db()
    assert inv.state == Invitation.State.EXCUSED
    assert inv.excuse_category == "care" and inv.excused_at
    e = entries(inv.market, "invitation.updated")[-1]
    assert e.data["state"] == "excused" and e.data["excuse_category"] == "care"
    assert_valid(e)
    count = len(entries(inv.market))
    assert csrf_post(web, inv, "cancel", {"reason": "care"}).status_code == 303
    assert len(entries(inv.market)) == count
    # Closing the market later does not turn the excused client into a no-show.
    services.market_open(market=inv.market)
    services.market_close(market=inv.market)
    inv.refresh_from_db()
    assert inv.state == Invitation.State.EXCUSED


def test_cancel_without_a_reason_is_refused(web, inv):
    r = csrf_post(web, inv, "cancel", {"reason": ""})
    assert r.status_code == 422
    inv.refresh_from_db()
    assert inv.state == Invitation.State.ISSUED


def test_cancel_after_the_deadline_is_explained_and_refused(web, district):
    m = future_market(district, starts_in_hours=settings.VM_CANCEL_DEADLINE_HOURS - 1)
    inv = f.invitation(m)
    page = web.get(url(inv)).content.decode()
    assert "Die tijd is voorbij" in page
    assert 'name="reason"' not in page
    r = csrf_post(web, inv, "cancel", {"reason": "illness"})
    assert r.status_code == 409
    assert "kan niet meer" in r.content.decode()
    inv.refresh_from_db()
    assert inv.state == Invitation.State.ISSUED


def test_wishes_create_client_leads_without_duplicates(web, inv):
    org = f.organisation("Buurthuis De Brug", activities=2)
    f.stand(inv.market, org)
    a1, a2 = org.activities.order_by("pk")
    before = len(entries(inv.market))
    r = csrf_post(web, inv, "wishes", {"activity": [a1.pk, a2.pk], "tag": ["buiten", "nonsense"]})
    assert r.status_code == 303
    leads = Lead.objects.filter(market=inv.market, client=inv.client)
    assert leads.count() == 1
    lead = leads.get()
    assert lead.source == Lead.Source.CLIENT and lead.organisation_id == org.pk
    assert {a.pk for a in lead.activities.all()} == {a1.pk, a2.pk}
    assert lead.tags == ["buiten"]
    new = entries(inv.market)[before:]
    assert [e.kind for e in new] == ["lead.created"]
    assert_valid(new[0])
    # Posting the same form again: no new lead, no new entry.
    assert csrf_post(web, inv, "wishes", {"activity": [a1.pk, a2.pk], "tag": ["buiten"]}).status_code == 303
    assert Lead.objects.filter(market=inv.market, client=inv.client).count() == 1
    assert len(entries(inv.market)) == before + 1
    # The page shows the choice again.
    assert re.search(rf'id="activity-{a1.pk}" value="{a1.pk}" checked', web.get(url(inv)).content.decode())


def test_tags_only_make_one_lead_without_organisation(web, inv):
    assert csrf_post(web, inv, "wishes", {"tag": ["groen"]}).status_code == 303
    assert csrf_post(web, inv, "wishes", {"tag": ["groen"]}).status_code == 303
    assert csrf_post(web, inv, "wishes", {"tag": ["dieren"]}).status_code == 303
    leads = list(Lead.objects.filter(market=inv.market, client=inv.client))
    assert len(leads) == 1
    assert leads[0].organisation_id is None and leads[0].tags == ["dieren", "groen"]
    kinds = [e.kind for e in entries(inv.market) if e.kind.startswith("lead.")]
    assert kinds == ["lead.created", "lead.updated"]


def test_wish_for_activity_not_at_this_market_is_refused(web, inv):
    org = f.organisation(activities=1)  # no stand at this market
    r = csrf_post(web, inv, "wishes", {"activity": [org.activities.get().pk]})
    assert r.status_code == 422
    assert not Lead.objects.filter(client=inv.client).exists()


def test_empty_wish_is_refused(web, inv):
    assert csrf_post(web, inv, "wishes", {}).status_code == 422


def test_already_volunteering_is_flagged_once(web, inv):
    r = csrf_post(web, inv, "volunteering", {"organisation": " Voedselbank  Noord ", "hours": "6"})
    assert r.status_code == 303
    csrf_post(web, inv, "volunteering", {"organisation": "voedselbank noord", "hours": "6,0"})
    statements = list(ClientStatement.objects.filter(invitation=inv))
    assert len(statements) == 1
    s = statements[0]
    assert s.kind == "volunteering" and s.organisation_name == "Voedselbank Noord"
    assert float(s.hours_per_week) == 6.0 and s.handled is False
    e = entries(inv.market, "statement.created")
    assert len(e) == 1 and e[0].data["kind"] == "volunteering" and e[0].data["hours_per_week"] == 6.0
    assert_valid(e[0])


@pytest.mark.parametrize("data", [{"organisation": "", "hours": "4"}, {"organisation": "X", "hours": "0"},
                                  {"organisation": "X", "hours": "99"}, {"organisation": "X", "hours": "abc"},
                                  {"organisation": "X" * 201, "hours": "4"}])
def test_bad_volunteering_input_is_refused(web, inv, data):
    assert csrf_post(web, inv, "volunteering", data).status_code == 422
    assert not ClientStatement.objects.exists()


def test_constraints_are_categories_only_and_not_duplicated(web, inv):
    r = csrf_post(web, inv, "constraints", {"category": ["care", "debt"], "details": "medical secret"})
    assert r.status_code == 303
    csrf_post(web, inv, "constraints", {"category": ["care"]})
    rows = ClientStatement.objects.filter(invitation=inv, kind="constraint").order_by("category")
    assert [s.category for s in rows] == ["care", "debt"]
    assert "medical secret" not in str(list(rows.values()))
    e = entries(inv.market, "statement.created")
    assert [x.data["category"] for x in e] == ["care", "debt"]
    for x in e:
        assert_valid(x)
    page = web.get(url(inv)).content.decode()
    assert 'name="details"' not in page and "<textarea" not in page
    # The page does not echo which categories were chosen, only that something was passed on.
    assert "U heeft hier al iets doorgegeven" in page
    assert not re.search(r'id="category-\w+" value="\w+" checked', page)
    assert "Ik heb schulden</label>" in page


def test_unknown_constraint_category_is_refused(web, inv):
    assert csrf_post(web, inv, "constraints", {"category": ["illness-details"]}).status_code == 422


def test_unknown_action_is_404(web, inv):
    assert csrf_post(web, inv, "delete").status_code == 404


def test_actions_after_the_market_change_nothing(district):
    m = f.market(district, state="open", starts_in_hours=-10, hours=4)
    inv = f.invitation(m)
    r = DjangoClient().post(url(inv, "confirm"))
    assert r.status_code == 303
    inv.refresh_from_db()
    assert inv.confirmed_at is None


def test_refusal_page_is_in_the_clients_language(web, district):
    m = future_market(district, starts_in_hours=1)
    inv = f.invitation(m)
    inv.client.language = "en"
    inv.client.save()
    r = csrf_post(web, inv, "cancel", {"reason": "illness"})
    assert r.status_code == 409
    assert '<html lang="en"' in r.content.decode()


def test_accessibility_statement(web, db):
    r = web.get("/toegankelijkheid/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "WCAG 2.1" in html and settings.VM_MUNICIPALITY_PHONE in html
    r = web.get("/toegankelijkheid/?lang=ar")
    assert '<html lang="ar" dir="rtl"' in r.content.decode()


def test_page_query_count_does_not_grow_with_the_market(web, inv, django_assert_max_num_queries):
    for _ in range(4):
        org = f.organisation(activities=3)
        f.stand(inv.market, org)
    for _ in range(5):
        f.invitation(inv.market)
    with django_assert_max_num_queries(9):
        assert web.get(url(inv)).status_code == 200
