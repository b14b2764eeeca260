"""The consultant's outcomes of DESIGN.md §9 in real Chromium, worked with the mouse and the
keyboard in the market dashboard (docs/leads.md): exemption (category and review date, no free
text, live on a second consultant's open dashboard), follow-up and declined, an agreement above
the hours limit and one over the activity's capacity, changing an agreement (a new version is
kept) with the printable client copy, and one outcome with the keyboard only plus axe-core.

Each test gets its own organisation with a stand at the demo market and its own activities
(named "Zorgboerderij …" so it sorts after the demo organisations others index by), and its own
checked-in clients with a consultant lead, so the tests do not depend on each other.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard_leads import LAPTOP, SECOND_CONSULTANT, demo_market, lead_item, redeem, show_tab

pytestmark = pytest.mark.browser

SETUP = """
import json, uuid
from events.models import Activity, Client, Market, Organisation, Stand
from events.services import invitation_issue_bulk
market = Market.objects.get(pk={market})
org = Organisation.objects.create(name="Zorgboerderij " + {tag!r})
acts = [Activity.objects.create(organisation=org, title=title, capacity=cap, guidance_capacity=1)
        for title, cap in {activities!r}]
Stand.objects.create(market=market, organisation=org)
visitors = []
for i in range({clients}):
    c = Client.objects.create(client_number="CO" + uuid.uuid4().hex[:10].upper(), given_name="Şenay" + str(i),
                              family_name="Uitkomst {tag}", language="nl", district=market.district)
    inv = invitation_issue_bulk(market=market, clients=[c])[0]
    visitors.append({{"client": c.pk, "token": inv.token, "display_name": c.display_name}})
print("JSON" + json.dumps({{"organisation": org.pk, "organisation_name": org.name,
                            "activities": [{{"id": a.pk, "title": a.title, "capacity": a.capacity}} for a in acts],
                            "visitors": visitors}}))
"""


def server_today() -> dt.date:
    """The server's today (TIME_ZONE Europe/Amsterdam): start dates and "not in the past" use it."""
    return dt.datetime.now(ZoneInfo("Europe/Amsterdam")).date()


MONTHS = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
          "november", "december"]


def dutch_date(day: dt.date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _json(output: str):
    return json.loads([ln for ln in output.splitlines() if ln.startswith("JSON")][-1][4:])


@pytest.fixture
def open_dashboard(context_factory, login):
    """`open_dashboard(market_id, username)`: the live dashboard on a laptop. A script error on any
    of these pages fails the test (a broken panel looks like a dashboard that does not update)."""
    errors = []

    def open_page(market_id: int, username: str):
        page = context_factory(viewport=LAPTOP).new_page()
        page.on("pageerror", lambda exc: errors.append(f"{username}: {exc}"))
        login(page, username, next_url=f"/dashboard/{market_id}/")
        expect(page.locator("[data-market-dashboard]")).to_have_attribute("data-feed-status", "live",
                                                                          timeout=15_000)
        return page

    yield open_page
    assert not errors, errors


@pytest.fixture
def second_consultant(live_server):
    live_server.manage("shell", "-c", SECOND_CONSULTANT.format(password=live_server.password))
    return "consultant2"


@pytest.fixture
def setup_leads(live_server, api_session):
    """`setup_leads(clients, activities=[(title, capacity)])`: a fresh organisation with a stand at
    the demo market, checked-in clients and one new consultant lead per client for its first
    activity. Returns the market, organisation, activities and leads."""

    def make(clients: int = 1, activities=(("Dieren verzorgen", 10),)) -> dict:
        coordinator, host, consultant = api_session("coordinator"), api_session("host"), api_session("consultant")
        market = demo_market(coordinator)
        tag = uuid.uuid4().hex[:6]
        data = _json(live_server.manage("shell", "-c", SETUP.format(
            market=market["id"], tag=tag, activities=list(activities), clients=clients)))
        leads = []
        for visitor in data["visitors"]:
            redeem(host, market["id"], visitor["token"])
            r = consultant.post(f"/api/v1/markets/{market['id']}/leads",
                                json={"client": visitor["client"], "organisation": data["organisation"],
                                      "activities": [data["activities"][0]["id"]]})
            assert r.status_code == 201, r.text
            leads.append({**visitor, "id": r.json()["id"]})
        return {"market": market["id"], **data, "leads": leads, "api": consultant}

    return make


def claim_and_open(page, lead_id: int):
    item = lead_item(page, lead_id)
    expect(item.locator("[data-claim]")).to_be_visible(timeout=10_000)
    item.locator("[data-claim]").click()
    detail = page.locator("[data-lead-detail]")
    expect(detail).to_have_attribute("data-lead", str(lead_id))
    expect(detail.locator("[data-detail-state]")).to_have_text("Van u")
    expect(detail.locator("[data-outcome-form]")).to_be_visible()
    return detail


def choose_outcome(form, label: str):
    form.get_by_label(label, exact=True).check()
    expect(form.get_by_label(label, exact=True)).to_be_checked()


def save(form):
    form.get_by_role("button", name="Uitkomst opslaan").click()


def hours_limit(page) -> float:
    return page.evaluate("() => JSON.parse(document.getElementById('lead-workflow-config').dataset.config)"
                         ".hours_limit")


def lead_detail_api(api, lead_id: int) -> dict:
    r = api.get(f"/api/v1/leads/{lead_id}")
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------------------------
# 1. Exemption
# --------------------------------------------------------------------------------------------

def test_exemption_with_category_and_review_date_shows_live(setup_leads, second_consultant, open_dashboard):
    today = server_today()
    data = setup_leads(1)
    mid, lead_id = data["market"], data["leads"][0]["id"]
    page_a = open_dashboard(mid, "consultant")
    page_b = open_dashboard(mid, second_consultant)

    # B has the lead open and could claim it; A claims first: B's open detail follows live.
    expect(lead_item(page_b, lead_id)).to_have_count(1, timeout=10_000)
    lead_item(page_b, lead_id).locator("[data-open]").click()
    detail_b = page_b.locator("[data-lead-detail]")
    expect(detail_b.locator("[data-detail-claim]")).to_be_visible()
    detail = claim_and_open(page_a, lead_id)
    expect(detail_b.locator("[data-detail-state]")).to_have_text("Genomen door consultant", timeout=10_000)
    expect(detail_b.locator("[data-detail-claim]")).to_be_hidden()
    expect(detail_b.locator("[data-outcome-form]")).to_be_hidden()

    form = detail.locator("[data-outcome-form]")
    choose_outcome(form, "Vrijstelling")
    exemption = form.locator('[data-fields="exemption"]')
    expect(exemption).to_be_visible()
    expect(form.locator('[data-fields="agreement"]')).to_be_hidden()
    # Only a category and a date: nowhere to type medical details.
    category = exemption.get_by_label("Reden (categorie)")
    options = [o.strip() for o in category.locator("option").all_inner_texts()]
    assert options[1:] == ["Mantelzorg", "Gezondheid", "Eerst een taalcursus", "Schuldhulp", "Werkt al",
                           "Doet al vrijwilligerswerk"], options
    expect(exemption).to_contain_text("Schrijf geen medische gegevens op.")
    free_text = form.locator("textarea:visible, input[type=text]:visible, input:not([type]):visible,"
                             " [contenteditable]:visible")
    expect(free_text).to_have_count(0)

    # Missing and wrong input is refused with a Dutch message; nothing changes.
    save(form)
    error = detail.locator("[data-detail-error]")
    expect(error).to_have_text("Kies een reden (categorie) voor de vrijstelling.")
    category.select_option(label="Mantelzorg")
    save(form)
    expect(error).to_have_text("Vul een datum in waarop de vrijstelling opnieuw wordt bekeken.")
    exemption.get_by_label("Datum waarop we het opnieuw bekijken").fill((today - dt.timedelta(days=1)).isoformat())
    save(form)
    expect(error).to_have_text("De evaluatiedatum ligt in het verleden.")
    expect(detail.locator("[data-detail-state]")).to_have_text("Van u")

    review = today + dt.timedelta(days=90)
    exemption.get_by_label("Datum waarop we het opnieuw bekijken").fill(review.isoformat())
    save(form)
    expect(detail.locator("[data-detail-ok]")).to_have_text("Opgeslagen.")
    expect(error).to_be_hidden()
    expect(detail.locator("[data-detail-state]")).to_have_text("Vrijstelling · consultant")
    expect(form).to_be_hidden()
    outcome = detail.locator("[data-outcome-summary]")
    expect(outcome).to_contain_text("Mantelzorg")
    expect(outcome).to_have_text(f"Vrijstelling: Mantelzorg. Opnieuw bekijken op {dutch_date(review)}.")

    # B sees the new state live: in the open detail, in the list and in the counters.
    expect(detail_b.locator("[data-detail-state]")).to_have_text("Vrijstelling · consultant", timeout=10_000)
    expect(detail_b.locator("[data-outcome-summary]")).to_contain_text("Mantelzorg")
    show_tab(page_b, "all")
    expect(lead_item(page_b, lead_id).locator("[data-lead-state]")).to_have_text("Vrijstelling · consultant")
    expect(lead_item(page_b, lead_id).locator("[data-claim]")).to_have_count(0)

    stored = lead_detail_api(data["api"], lead_id)
    assert stored["state"] == "exemption"
    assert [(e["category"], e["review_date"]) for e in stored["exemptions"]] == [("care", review.isoformat())]


# --------------------------------------------------------------------------------------------
# 2. Follow-up and declined
# --------------------------------------------------------------------------------------------

def test_follow_up_then_final_outcome_and_declined(setup_leads, open_dashboard):
    today = server_today()
    data = setup_leads(2)
    mid = data["market"]
    follow_id, declined_id = (lead["id"] for lead in data["leads"])
    page = open_dashboard(mid, "consultant")

    detail = claim_and_open(page, follow_id)
    form = detail.locator("[data-outcome-form]")
    error = detail.locator("[data-detail-error]")
    choose_outcome(form, "Vervolgafspraak")
    expect(form.locator('[data-fields="follow_up"]')).to_be_visible()
    expect(form.locator('[data-fields="agreement"]')).to_be_hidden()
    save(form)
    expect(error).to_have_text("Vul de datum van de vervolgafspraak in.")
    expect(error).to_be_in_viewport()
    appointment = form.get_by_label("Datum van de vervolgafspraak")
    appointment.fill((today - dt.timedelta(days=2)).isoformat())
    save(form)
    expect(error).to_have_text("De vervolgafspraak ligt in het verleden.")
    on = today + dt.timedelta(days=7)
    appointment.fill(on.isoformat())
    save(form)
    expect(detail.locator("[data-detail-ok]")).to_have_text("Opgeslagen.")
    expect(detail.locator("[data-detail-state]")).to_have_text("Vervolgafspraak · consultant")
    expect(detail.locator("[data-outcome-summary]")).to_have_text(f"Vervolgafspraak op {dutch_date(on)}.")
    # The follow-up stays with this consultant, for the final outcome at the appointment.
    expect(form).to_be_visible()
    show_tab(page, "mine")
    expect(lead_item(page, follow_id).locator("[data-lead-state]")).to_have_text("Vervolgafspraak · consultant")

    # The other lead is declined by the organisation; a reason is required.
    show_tab(page, "new")
    detail = claim_and_open(page, declined_id)
    choose_outcome(form, "Afgewezen")
    declined = form.locator('[data-fields="declined"]')
    expect(declined).to_be_visible()
    declined.get_by_label("Wie heeft afgewezen?").select_option(label="Door de organisatie")
    save(form)
    expect(error).to_have_text("Vul een reden in.")
    expect(detail.locator("[data-detail-state]")).to_have_text("Van u")
    expect(declined).to_contain_text("Schrijf geen medische gegevens op.")
    declined.get_by_label("Reden", exact=True).fill("Geen plek op zaterdag")
    # Without a connection the consultant is told so in Dutch, and nothing is lost.
    page.context.set_offline(True)
    save(form)
    expect(error).to_have_text("Geen verbinding met de server. Probeer het opnieuw.")
    expect(detail.locator("[data-detail-state]")).to_have_text("Van u")
    page.context.set_offline(False)
    expect(page.locator("[data-market-dashboard]")).to_have_attribute("data-feed-status", "live", timeout=20_000)
    save(form)
    expect(detail.locator("[data-detail-ok]")).to_have_text("Opgeslagen.")
    expect(detail.locator("[data-detail-state]")).to_have_text("Afgewezen · consultant")
    expect(detail.locator("[data-outcome-summary]")).to_have_text(
        "Door de organisatie afgewezen. Reden: Geen plek op zaterdag")
    expect(form).to_be_hidden()

    # After a reload (the snapshot) both are still where they were; at the appointment the
    # follow-up gets its final outcome.
    page.reload()
    expect(page.locator("[data-market-dashboard]")).to_have_attribute("data-feed-status", "live", timeout=15_000)
    show_tab(page, "mine")
    expect(lead_item(page, declined_id).locator("[data-lead-state]")).to_have_text("Afgewezen · consultant")
    lead_item(page, follow_id).locator("[data-open]").click()
    expect(detail.locator("[data-outcome-summary]")).to_have_text(f"Vervolgafspraak op {dutch_date(on)}.")
    expect(form).to_be_visible()
    choose_outcome(form, "Afgewezen")
    declined.get_by_label("Wie heeft afgewezen?").select_option(label="Door de klant")
    declined.get_by_label("Reden", exact=True).fill("Gaat verhuizen")
    save(form)
    expect(detail.locator("[data-detail-state]")).to_have_text("Afgewezen · consultant")
    expect(detail.locator("[data-outcome-summary]")).to_have_text("Door de klant afgewezen. Reden: Gaat verhuizen")

    first = lead_detail_api(data["api"], follow_id)
    assert (first["state"], first["follow_up_on"], first["declined_by"]) == ("declined", on.isoformat(), "client")
    second = lead_detail_api(data["api"], declined_id)
    assert (second["state"], second["declined_by"], second["declined_reason"]) == (
        "declined", "organisation", "Geen plek op zaterdag")


# --------------------------------------------------------------------------------------------
# 3. Agreement above the hours limit, and over the activity's capacity
# --------------------------------------------------------------------------------------------

def fill_agreement(form, *, hours, end: dt.date):
    form.get_by_label("Uren per week").fill(str(hours))
    form.get_by_label("Einddatum of evaluatiedatum").fill(end.isoformat())


def test_agreement_above_hours_limit_and_over_capacity(setup_leads, open_dashboard):
    today = server_today()
    data = setup_leads(2, activities=[("Paarden verzorgen", 1)])
    activity = data["activities"][0]
    first_id, second_id = (lead["id"] for lead in data["leads"])
    page = open_dashboard(data["market"], "consultant")
    limit = hours_limit(page)
    above = int(limit) + 4  # typed the Dutch way, with a decimal comma: "24,5"
    end = today + dt.timedelta(days=120)

    detail = claim_and_open(page, first_id)
    form = detail.locator("[data-outcome-form]")
    error = detail.locator("[data-detail-error]")
    expect(form.get_by_label("Afspraak", exact=True)).to_be_checked()
    expect(form.get_by_label("Organisatie")).to_have_value(str(data["organisation"]))
    expect(form.get_by_label("Activiteit")).to_have_value(str(activity["id"]))
    expect(form.get_by_label("Startdatum")).to_have_value(page.evaluate(
        "() => JSON.parse(document.getElementById('lead-workflow-config').dataset.config).today"))
    reason_label = f"Reden voor meer dan {limit} uur per week"
    expect(form.get_by_label(reason_label)).to_be_hidden()
    fill_agreement(form, hours=f"{above},5", end=end)
    expect(form.get_by_label(reason_label)).to_be_visible()  # it appears while typing
    save(form)
    expect(error).to_have_text(f"Meer dan {limit} uur per week kan alleen met een reden.")
    expect(error).to_be_in_viewport()
    expect(form.get_by_label(reason_label)).to_be_focused()
    expect(detail.locator("[data-detail-state]")).to_have_text("Van u")
    form.get_by_label(reason_label).fill("Wil snel een vast ritme")
    save(form)
    expect(detail.locator("[data-detail-ok]")).to_have_text("Opgeslagen.")
    expect(detail.locator("[data-detail-state]")).to_have_text("Afspraak · consultant")
    expect(detail.locator("[data-outcome-summary]")).to_have_text(
        f"Afspraak: {activity['title']} ({data['organisation_name']}), {above},5 uur per week, "
        f"van {dutch_date(today)} tot {dutch_date(end)}.")
    [agreement] = lead_detail_api(data["api"], first_id)["agreements"]
    assert (agreement["hours_per_week"], agreement["hours_reason"]) == (above + 0.5, "Wil snel een vast ritme")

    # The activity has one place, now taken: the second agreement is refused until a reason is given.
    show_tab(page, "new")
    detail = claim_and_open(page, second_id)
    override_label = "Reden om boven de capaciteit af te spreken"
    expect(form.get_by_label(override_label)).to_be_hidden()
    fill_agreement(form, hours=6, end=end)
    save(form)
    expect(error).to_have_text("Deze activiteit zit vol (1 van 1 plaatsen). Geef een reden om toch af te spreken.")
    expect(error).to_be_in_viewport()
    expect(form.get_by_label(override_label)).to_be_visible()
    expect(form.get_by_label(override_label)).to_be_focused()
    expect(detail.locator("[data-detail-state]")).to_have_text("Van u")
    form.get_by_label(override_label).fill("Organisatie heeft tijdelijk een extra begeleider")
    # A busy consultant double-clicks: saved once, and no error afterwards.
    form.get_by_role("button", name="Uitkomst opslaan").dblclick()
    expect(detail.locator("[data-detail-ok]")).to_have_text("Opgeslagen.")
    expect(detail.locator("[data-detail-state]")).to_have_text("Afspraak · consultant")
    page.wait_for_load_state("networkidle")
    expect(error).to_be_hidden()
    [agreement] = lead_detail_api(data["api"], second_id)["agreements"]
    assert agreement["capacity_override_reason"] == "Organisatie heeft tijdelijk een extra begeleider"
    assert agreement["hours_per_week"] == 6


# --------------------------------------------------------------------------------------------
# 4. Changing an agreement keeps its versions; the client's copy is a real PDF
# --------------------------------------------------------------------------------------------

def pdf_text(body: bytes) -> str:
    from pypdf import PdfReader

    assert body.startswith(b"%PDF"), body[:40]
    reader = PdfReader(io.BytesIO(body))
    return "\n".join(p.extract_text() for p in reader.pages)


def open_client_copy(page) -> bytes:
    """Click the copy link: it opens in a new tab (Chromium's PDF viewer). The bytes are read again
    with that tab's session, as the viewer's page is not the PDF itself."""
    link = page.locator("[data-detail-copy]")
    href = link.get_attribute("href")
    with page.context.expect_page() as popup_info:
        link.click()
    popup = popup_info.value
    popup.wait_for_url(f"**{href}")
    response = page.context.request.get(popup.url)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    body = response.body()
    popup.close()
    return body


def test_change_agreement_keeps_versions_and_prints_client_copy(setup_leads, second_consultant, open_dashboard):
    today = server_today()
    data = setup_leads(1, activities=[("Dieren voeren", 10), ("Eieren rapen", 10)])
    lead_id = data["leads"][0]["id"]
    first_activity, second_activity = data["activities"]
    page = open_dashboard(data["market"], "consultant")
    page_b = open_dashboard(data["market"], second_consultant)
    end = today + dt.timedelta(days=90)

    detail = claim_and_open(page, lead_id)
    form = detail.locator("[data-outcome-form]")
    fill_agreement(form, hours=6, end=end)
    save(form)
    expect(detail.locator("[data-detail-ok]")).to_have_text("Opgeslagen.")
    versions = detail.locator("[data-versions-list] li")
    expect(versions).to_have_count(1)
    expect(versions.first).to_contain_text(f"Versie 1: {first_activity['title']}")
    # Consultant B keeps the lead open while A changes the agreement.
    show_tab(page_b, "all")
    lead_item(page_b, lead_id).locator("[data-open]").click()
    detail_b = page_b.locator("[data-lead-detail]")
    expect(detail_b.locator("[data-versions-list] li")).to_have_count(1)
    # B starts a change too (version 1 in its form).
    change_b = detail_b.locator("[data-agreement-change]")
    change_b.get_by_text("Afspraak wijzigen").click()
    expect(change_b.get_by_label("Uren per week")).to_have_value("6")

    v1_text = pdf_text(open_client_copy(page))
    assert first_activity["title"] in v1_text and "6 uur per week" in v1_text, v1_text

    change = detail.locator("[data-agreement-change]")
    expect(change).to_be_visible()
    change.get_by_text("Afspraak wijzigen").click()
    changes = change.locator("[data-agreement-form]")
    expect(changes.get_by_label("Uren per week")).to_have_value("6")
    expect(changes.get_by_label("Activiteit")).to_have_value(str(first_activity["id"]))
    expect(changes.get_by_label("Einddatum of evaluatiedatum")).to_have_value(end.isoformat())
    error = detail.locator("[data-detail-error]")
    # A date before the start is refused, and so is an emptied date (the API would keep the old one).
    changes.get_by_label("Einddatum of evaluatiedatum").fill((today - dt.timedelta(days=1)).isoformat())
    changes.get_by_role("button", name="Wijziging opslaan").click()
    expect(error).to_have_text("De einddatum ligt voor de startdatum.")
    expect(error).to_be_in_viewport()
    changes.get_by_label("Einddatum of evaluatiedatum").fill("")
    changes.get_by_role("button", name="Wijziging opslaan").click()
    expect(error).to_have_text("Vul een einddatum of evaluatiedatum in.")
    expect(versions).to_have_count(1)

    new_end = today + dt.timedelta(days=180)
    changes.get_by_label("Activiteit").select_option(str(second_activity["id"]))
    changes.get_by_label("Uren per week").fill("10")
    changes.get_by_label("Einddatum of evaluatiedatum").fill(new_end.isoformat())
    changes.get_by_role("button", name="Wijziging opslaan").click()
    expect(detail.locator("[data-detail-ok]")).to_have_text("Nieuwe versie opgeslagen (versie 2).")
    expect(error).to_be_hidden()
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_have_attribute("data-current", "true")
    expect(versions.nth(0)).to_contain_text(f"Versie 2: {second_activity['title']}")
    expect(versions.nth(0)).to_contain_text("10 uur per week")
    expect(versions.nth(1)).to_have_attribute("data-current", "false")
    expect(versions.nth(1)).to_contain_text("6 uur per week")
    expect(detail.locator("[data-outcome-summary]")).to_contain_text(
        f"{second_activity['title']} ({data['organisation_name']}), 10 uur per week")
    expect(changes.get_by_label("Uren per week")).to_have_value("10")

    # B's open detail shows the new version live, and B's copy link is the new version's.
    expect(detail_b.locator("[data-versions-list] li")).to_have_count(2, timeout=10_000)
    expect(detail_b.locator("[data-outcome-summary]")).to_contain_text("10 uur per week")
    expect(detail_b.locator("[data-detail-copy]")).to_have_attribute(
        "href", page.locator("[data-detail-copy]").get_attribute("href"))

    v2_text = pdf_text(open_client_copy(page))
    assert second_activity["title"] in v2_text and "10 uur per week" in v2_text, v2_text
    assert data["organisation_name"] in v2_text and "Afspraak over vrijwilligerswerk" in v2_text
    assert first_activity["title"] not in v2_text

    stored = lead_detail_api(data["api"], lead_id)["agreements"]
    assert [(a["version"], a["hours_per_week"], a["is_current"]) for a in stored] == [(1, 6, False), (2, 10, True)]
    assert stored[1]["previous_id"] == stored[0]["id"] and stored[1]["end_date"] == new_end.isoformat()
    assert stored[0]["activity_id"] == first_activity["id"] and stored[1]["activity_id"] == second_activity["id"]

    # B's form, open while A changed the agreement, kept what B was doing (version 1): saving it
    # is refused with a clear message, not written over version 2, and the form shows version 2.
    expect(change_b.get_by_label("Uren per week")).to_have_value("6")
    change_b.get_by_label("Uren per week").fill("8")
    change_b.get_by_role("button", name="Wijziging opslaan").click()
    expect(detail_b.locator("[data-detail-error]")).to_have_text("Er is al een nieuwere versie van deze afspraak.")
    expect(change_b.get_by_label("Uren per week")).to_have_value("10")
    expect(change_b.get_by_label("Activiteit")).to_have_value(str(second_activity["id"]))
    assert len(lead_detail_api(data["api"], lead_id)["agreements"]) == 2


# --------------------------------------------------------------------------------------------
# 5. Keyboard only, and axe-core with a lead's detail open
# --------------------------------------------------------------------------------------------

FOCUS_INFO = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    const labelled = (el.labels && el.labels.length > 0 && [...el.labels].some((l) => l.textContent.trim()))
        || !!el.getAttribute("aria-label") || !!el.getAttribute("aria-labelledby")
        || (["BUTTON", "A", "SUMMARY"].includes(el.tagName) && el.textContent.trim().length > 0);
    return {
        tag: el.tagName, id: el.id, name: el.name || "", type: el.type || "", text: el.textContent.trim().slice(0, 60),
        claim: el.dataset.claim || null, inDetail: !!el.closest("[data-lead-detail]"),
        outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
        visible: rect.width > 0 && rect.height > 0, labelled,
        focusVisible: el.matches(":focus-visible"), outlineStyle: style.outlineStyle, outlineWidth: style.outlineWidth,
    };
}"""

DETAIL_CONTROLS = """() => [...document.querySelectorAll(
    "[data-lead-detail] :is(button, a[href], input, select, textarea, summary)")]
    .filter((el) => !el.disabled && el.getClientRects().length > 0 && el.tabIndex >= 0)
    .map((el) => el.type === "radio" ? "radio:" + el.name : (el.id || el.textContent.trim()))"""


def tab_to(page, predicate, *, limit: int = 400, backwards: bool = False) -> list[dict]:
    """Press Tab until `predicate(focused)` holds; every stop on the way must show its focus."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        info = page.evaluate(FOCUS_INFO)
        if info is None:
            continue
        assert info["visible"] and info["outline"], f"focus not visible on {info}"
        assert info["labelled"], f"control without a label: {info}"
        seen.append(info)
        if predicate(info):
            return seen
    raise AssertionError(f"not reached with the keyboard; last stops: {seen[-10:]}")


def serious(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def test_keyboard_only_exemption_and_axe(setup_leads, open_dashboard):
    from tests.browser.conftest import axe_violations, format_violations

    today = server_today()

    data = setup_leads(1)
    lead_id = data["leads"][0]["id"]
    page = open_dashboard(data["market"], "consultant")
    expect(lead_item(page, lead_id)).to_have_count(1, timeout=10_000)

    # From the top of the page to the lead's claim button, then Enter.
    page.locator("body").focus()
    tab_to(page, lambda f: f["claim"] == str(lead_id))
    page.keyboard.press("Enter")
    detail = page.locator("[data-lead-detail]")
    expect(detail.locator("[data-detail-state]")).to_have_text("Van u")
    expect(detail.locator("[data-detail-title]")).to_be_focused()

    violations = axe_violations(page)
    assert not serious(violations), format_violations(serious(violations))

    # Every control of the open detail is reached with Tab, with visible focus and a label.
    expected = set(page.evaluate(DETAIL_CONTROLS))
    stops = tab_to(page, lambda f: not f["inDetail"])
    reached = {("radio:" + s["name"]) if s["type"] == "radio" else (s["id"] or s["text"]) for s in stops
               if s["inDetail"]}
    assert expected <= reached, f"not reachable with Tab: {expected - reached}"

    # Back to the outcome choice; the arrow keys pick "Vrijstelling".
    tab_to(page, lambda f: f["type"] == "radio", backwards=True)
    page.keyboard.press("ArrowDown")
    form = detail.locator("[data-outcome-form]")
    expect(form.get_by_label("Vrijstelling", exact=True)).to_be_checked()
    expect(form.get_by_label("Vrijstelling", exact=True)).to_be_focused()
    expect(form.locator('[data-fields="exemption"]')).to_be_visible()
    page.keyboard.press("Tab")
    category = form.get_by_label("Reden (categorie)")
    expect(category).to_be_focused()
    page.keyboard.type("G")  # typing selects the first option starting with G
    expect(category).to_have_value("health")
    page.keyboard.press("Tab")
    review_input = form.get_by_label("Datum waarop we het opnieuw bekijken")
    expect(review_input).to_be_focused()
    # Chromium orders a date field's parts by its own UI language (day-month-year in Dutch,
    # month/day/year here), not by the page: a day with day == month types the same in both.
    review = next(today + dt.timedelta(days=n) for n in range(1, 400)
                  if (today + dt.timedelta(days=n)).day == (today + dt.timedelta(days=n)).month)
    page.keyboard.type(f"{review.day:02d}{review.month:02d}{review.year}")
    expect(review_input).to_have_value(review.isoformat())
    tab_to(page, lambda f: f["text"] == "Uitkomst opslaan")
    page.keyboard.press("Enter")
    expect(detail.locator("[data-detail-ok]")).to_have_text("Opgeslagen.")
    expect(detail.locator("[data-detail-state]")).to_have_text("Vrijstelling · consultant")
    expect(detail.locator("[data-outcome-summary]")).to_have_text(
        f"Vrijstelling: Gezondheid. Opnieuw bekijken op {dutch_date(review)}.")
    # The form is gone; the keyboard stays in the lead's detail rather than falling back to the page.
    expect(detail.locator("[data-detail-title]")).to_be_focused()

    violations = axe_violations(page)
    assert not serious(violations), format_violations(serious(violations))
    stored = lead_detail_api(data["api"], lead_id)
    assert [(e["category"], e["review_date"]) for e in stored["exemptions"]] == [("health", review.isoformat())]


# --------------------------------------------------------------------------------------------
# The lead part of the page loads after the snapshot (a slow connection at the market)
# --------------------------------------------------------------------------------------------

def test_leads_show_when_the_lead_script_arrives_after_the_snapshot(setup_leads, context_factory, login):
    data = setup_leads(1)
    lead_id = data["leads"][0]["id"]
    page = context_factory(viewport=LAPTOP).new_page()
    login(page, "consultant", next_url="/")
    held = []
    page.route("**/static/events/dashboard_workflow.js", lambda route: held.append(route))
    page.goto(f"/dashboard/{data['market']}/", wait_until="commit")  # "load" waits for the held script
    # The snapshot is in and shown by the page's own panels; only then does the lead script arrive.
    expect(page.locator("[data-market-dashboard]")).to_have_attribute("data-feed-status", "live", timeout=15_000)
    expect(page.locator('[data-count="arrived"]')).not_to_have_text("–")
    assert len(held) == 1
    held[0].continue_()
    # Without any new feed entry, the inbox shows the lead.
    expect(lead_item(page, lead_id)).to_have_count(1)
    expect(page.locator('[data-lead-count="new"]')).not_to_have_text("–")
