"""The consultant dashboard's lead workflow in real Chromium (issue 5, docs/leads.md).

1. Two consultants have the dashboard open; the host checks a client in and a paired kiosk
   registers interest; both dashboards show the arrival and the lead. One consultant claims;
   the other, whose view is a moment behind, gets the lost claim (409) shown with who has it;
   the winner records an agreement, the other dashboard shows it live; the report page counts it.
2. The dashboard's socket is cut (browser offline) while entries are written; on reconnect it
   replays from its last seq (no snapshot reload) and shows every arrival and lead exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import demo_market

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 900}

SECOND_CONSULTANT = """
from django.contrib.auth import get_user_model
from backend.auth import grant_role
from events.management.commands.seed_demo import DEMO_DISTRICT
from events.models import District
user, _ = get_user_model().objects.get_or_create(username="consultant2")
user.set_password({password!r})
user.save()
grant_role(user, "consultant")
District.objects.get(name=DEMO_DISTRICT).consultants.add(user)
print("OK")
"""

MAKE_INVITATIONS = """
import json, uuid
from events.management.commands.seed_demo import DEMO_MARKET
from events.models import Client, Market
from events.services import invitation_issue_bulk
market = Market.objects.get(pk={market}) if {market} else Market.objects.get(name=DEMO_MARKET)
out = []
for i in range({count}):
    c = Client.objects.create(client_number="DL" + uuid.uuid4().hex[:10].upper(), given_name="{given}" + str(i),
                              family_name="Dashboard{tag}", language="nl", district=market.district)
    inv = invitation_issue_bulk(market=market, clients=[c])[0]
    out.append({{"market": market.pk, "id": inv.pk, "client": c.pk, "token": inv.token,
                "display_name": c.display_name}})
print("JSON" + json.dumps(out))
"""


def _json(output: str):
    return json.loads([ln for ln in output.splitlines() if ln.startswith("JSON")][-1][4:])


def make_invitations(live_server, count: int, given: str, market: int = 0) -> list[dict]:
    tag = uuid.uuid4().hex[:6]
    return _json(live_server.manage("shell", "-c", MAKE_INVITATIONS.format(count=count, given=given, tag=tag,
                                                                           market=market)))


def redeem(host, market_id: int, token: str) -> None:
    r = host.post("/api/v1/checkin/redeem", json={"market": market_id, "token": token, "nonce": uuid.uuid4().hex})
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text


def paired_kiosk(api_session, coordinator, market_id: int, stand: dict):
    code = coordinator.post(f"/api/v1/markets/{market_id}/stands/{stand['id']}/pairing-code").json()["code"]
    anon = api_session.__self__ if hasattr(api_session, "__self__") else None  # noqa: F841
    import httpx

    kiosk = httpx.Client(base_url=str(coordinator.base_url), timeout=30)
    r = kiosk.post("/api/v1/kiosk/pair", json={"code": code, "label": f"Dashboardtest {uuid.uuid4().hex[:4]}"})
    assert r.status_code == 200, r.text
    kiosk.headers["Authorization"] = f"Device {r.json()['token']}"
    return kiosk


def open_dashboard(context_factory, login, market_id: int, username: str):
    page = context_factory(viewport=LAPTOP).new_page()
    login(page, username, next_url=f"/dashboard/{market_id}/")
    expect(page.locator("[data-market-dashboard]")).to_have_attribute("data-feed-status", "live", timeout=15_000)
    return page


def lead_item(page, lead_id: int):
    return page.locator(f'[data-leads] li[data-lead="{lead_id}"]')


def show_tab(page, tab: str):
    page.locator(f'[data-tab="{tab}"]').click()
    expect(page.locator(f'[data-tab="{tab}"]')).to_have_attribute("aria-selected", "true")


def test_two_consultants_claim_agreement_and_report(live_server, api_session, context_factory, login,
                                                    assert_accessible):
    live_server.manage("shell", "-c", SECOND_CONSULTANT.format(password=live_server.password))
    coordinator, host = api_session("coordinator"), api_session("host")
    market = demo_market(coordinator)
    mid = market["id"]
    stand = coordinator.get(f"/api/v1/markets/{mid}/stands").json()[0]
    activity = stand["activities"][0]
    visitor = make_invitations(live_server, 1, "Zeynep")[0]

    page_a = open_dashboard(context_factory, login, mid, "consultant")
    page_b = open_dashboard(context_factory, login, mid, "consultant2")

    # The host checks the client in: both dashboards show the arrival, once.
    redeem(host, mid, visitor["token"])
    for page in (page_a, page_b):
        row = page.locator(f'[data-arrivals] tr[data-invitation="{visitor["id"]}"]')
        expect(row).to_have_count(1, timeout=10_000)
        expect(row).to_contain_text(visitor["display_name"])
        expect(page.locator("[data-timeline] svg rect").first).to_be_visible()

    # The arrivals list is searchable.
    page_a.locator("[data-arrivals-search-input]").fill(visitor["display_name"][:6])
    expect(page_a.locator(f'[data-arrivals] tr[data-invitation="{visitor["id"]}"]')).to_be_visible()
    page_a.locator("[data-arrivals-search-input]").fill("zzzz-niemand")
    expect(page_a.locator(f'[data-arrivals] tr[data-invitation="{visitor["id"]}"]')).to_be_hidden()
    page_a.locator("[data-arrivals-search-input]").fill("")

    # A paired kiosk registers interest: both dashboards show the new lead.
    kiosk = paired_kiosk(api_session, coordinator, mid, stand)
    r = kiosk.post("/api/v1/kiosk/interests", json={"token": visitor["token"], "activities": [activity["id"]],
                                                     "warmth": "hot", "note": "Wil graag", "nonce": uuid.uuid4().hex})
    kiosk.close()
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    lead_id = r.json()["lead"]["id"]
    for page in (page_a, page_b):
        expect(lead_item(page, lead_id)).to_have_count(1, timeout=10_000)
        expect(lead_item(page, lead_id).locator("[data-claim]")).to_be_visible()

    # Consultant B's view is a moment behind (its entries are held back) when both claim.
    page_b.evaluate("""() => {
        const feed = globalThis.vmDashboard.feed;
        globalThis.__held = [];
        globalThis.__apply = feed.onEntry;
        feed.onEntry = (entry) => globalThis.__held.push(entry);
    }""")
    lead_item(page_a, lead_id).locator("[data-claim]").click()
    expect(page_a.locator("[data-lead-detail]")).to_be_visible()
    expect(page_a.locator("[data-detail-state]")).to_have_text("Van u")
    lead_item(page_b, lead_id).locator("[data-claim]").click()
    # The lost claim says who has the lead; it leaves the "new" tab, and "all" shows the holder.
    expect(page_b.locator("[data-inbox-message]")).to_have_text("Deze lead is al genomen door consultant.",
                                                                 timeout=10_000)
    expect(lead_item(page_b, lead_id)).to_have_count(0)
    show_tab(page_b, "all")
    expect(lead_item(page_b, lead_id).locator("[data-claim-error]")).to_contain_text("consultant")
    expect(lead_item(page_b, lead_id).locator("[data-lead-state]")).to_have_text("Genomen door consultant")
    page_b.evaluate("""() => {
        const feed = globalThis.vmDashboard.feed;
        feed.onEntry = globalThis.__apply;
        for (const entry of globalThis.__held) feed.onEntry(entry);
    }""")
    show_tab(page_b, "all")
    expect(lead_item(page_b, lead_id).locator("[data-lead-state]")).to_have_text("Genomen door consultant")
    expect(lead_item(page_b, lead_id).locator("[data-claim]")).to_have_count(0)
    show_tab(page_b, "new")
    expect(lead_item(page_b, lead_id)).to_have_count(0)

    # A adds a note and records an agreement through the outcome form.
    page_a.locator("#f-note").fill("Kan maandag en woensdag")
    page_a.get_by_role("button", name="Notitie toevoegen").click()
    expect(page_a.locator("[data-notes]")).to_contain_text("Kan maandag en woensdag")
    form = page_a.locator("[data-outcome-form]")
    expect(form).to_be_visible()
    form.locator("#f-hours").fill("24")
    start = dt.date.today()
    form.locator("#f-start").fill(start.isoformat())
    form.locator("#f-end").fill((start + dt.timedelta(days=180)).isoformat())
    form.get_by_role("button", name="Uitkomst opslaan").click()
    expect(page_a.locator("[data-detail-error]")).to_contain_text("reden")  # above 20 hours
    form.locator("#f-hours-reason").fill("Wil snel ritme opbouwen")
    form.get_by_role("button", name="Uitkomst opslaan").click()
    expect(page_a.locator("[data-detail-ok]")).to_have_text("Opgeslagen.")
    expect(page_a.locator("[data-detail-copy]")).to_be_visible()
    copy_url = page_a.locator("[data-detail-copy]").get_attribute("href")

    # B sees the outcome live, without a reload.
    show_tab(page_b, "all")
    expect(lead_item(page_b, lead_id).locator("[data-lead-state]")).to_have_text("Afspraak · consultant",
                                                                                  timeout=10_000)
    consultant_api = api_session("consultant")
    pdf = consultant_api.get(copy_url)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    assert_accessible(page_a)

    # The report page counts the agreement and offers the CSV.
    report = context_factory(viewport=LAPTOP).new_page()
    login(report, "coordinator", next_url=f"/reports/market/{mid}/")
    expect(report.locator("h1")).to_contain_text("Rapport")
    figures = report.locator("table.figures")
    expect(figures.locator("tr", has_text="Afspraken").first).to_be_visible()
    api_report = coordinator.get(f"/api/v1/markets/{mid}/report").json()["figures"]
    assert api_report["agreements"] >= 1 and api_report["hours_agreed"] >= 24
    row = figures.locator("tr").filter(has=report.locator("th", has_text="Afspraken")).first
    expect(row.locator("td")).to_have_text(str(api_report["agreements"]))
    assert report.locator("svg.chart").count() >= 4
    with report.expect_download() as download:
        report.get_by_role("link", name="Download als CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    assert_accessible(report)


def test_socket_cut_then_each_entry_shows_exactly_once(live_server, api_session, context_factory, login):
    coordinator, host = api_session("coordinator"), api_session("host")
    consultant = api_session("consultant")
    market = demo_market(coordinator)
    mid = market["id"]
    stand = coordinator.get(f"/api/v1/markets/{mid}/stands").json()[-1]
    visitors = make_invitations(live_server, 4, "Offline")
    page = open_dashboard(context_factory, login, mid, "consultant")
    snapshot_loads = []
    page.on("request", lambda req: snapshot_loads.append(req.url) if "/snapshot" in req.url else None)
    arrived_before = int(page.locator('[data-count="arrived"]').inner_text())

    redeem(host, mid, visitors[0]["token"])
    expect(page.locator(f'[data-arrivals] tr[data-invitation="{visitors[0]["id"]}"]')).to_have_count(1)

    page.context.set_offline(True)
    expect(page.locator("[data-market-dashboard]")).not_to_have_attribute("data-feed-status", "live", timeout=10_000)
    status_text = page.locator("p.feed-status").inner_text()
    assert status_text in ("geen verbinding", "opnieuw verbinden…"), status_text
    # Written while the dashboard is cut off: three arrivals and two consultant leads.
    for v in visitors[1:]:
        redeem(host, mid, v["token"])
    lead_ids = []
    for v in visitors[1:3]:
        r = consultant.post(f"/api/v1/markets/{mid}/leads",
                            json={"client": v["client"], "organisation": stand["organisation_id"],
                                  "note": "tijdens storing"})
        assert r.status_code == 201, r.text
        lead_ids.append(r.json()["id"])
    page.wait_for_timeout(500)
    assert page.locator(f'[data-arrivals] tr[data-invitation="{visitors[3]["id"]}"]').count() == 0

    page.context.set_offline(False)
    expect(page.locator("[data-market-dashboard]")).to_have_attribute("data-feed-status", "live", timeout=20_000)
    for v in visitors:
        expect(page.locator(f'[data-arrivals] tr[data-invitation="{v["id"]}"]')).to_have_count(1, timeout=10_000)
    show_tab(page, "all")
    for lead_id in lead_ids:
        expect(lead_item(page, lead_id)).to_have_count(1)
    expect(page.locator('[data-count="arrived"]')).to_have_text(str(arrived_before + 4))
    assert page.locator("[data-timeline]").get_attribute("data-total") == str(arrived_before + 4)
    # Caught up by replaying from its last seq, not by reloading the snapshot.
    assert snapshot_loads == [], snapshot_loads
    # Reconnecting a second time replays nothing twice.
    page.context.set_offline(True)
    page.context.set_offline(False)
    expect(page.locator("[data-market-dashboard]")).to_have_attribute("data-feed-status", "live", timeout=20_000)
    page.wait_for_timeout(500)
    assert page.locator(f'[data-arrivals] tr[data-invitation="{visitors[3]["id"]}"]').count() == 1
    expect(page.locator('[data-count="arrived"]')).to_have_text(str(arrived_before + 4))


def test_coordinator_closes_and_summons_no_shows_in_one_action(live_server, api_session, context_factory, login):
    coordinator, host = api_session("coordinator"), api_session("host")
    district = demo_market(coordinator)["district"]
    now = dt.datetime.now(dt.timezone.utc)
    tag = uuid.uuid4().hex[:4]

    def create(name, starts):
        r = coordinator.post("/api/v1/markets", json={
            "district": district, "name": name, "venue": "Wijkcentrum", "address": "Straat 1",
            "starts_at": starts.isoformat(), "ends_at": (starts + dt.timedelta(hours=4)).isoformat()})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    today_id = create(f"Sluittest {tag}", now - dt.timedelta(hours=1))
    later_id = create(f"Sluittest later {tag}", now + dt.timedelta(days=14))
    assert coordinator.post(f"/api/v1/markets/{today_id}/open").status_code == 200
    visitors = make_invitations(live_server, 3, "Sluit", market=today_id)
    redeem(host, today_id, visitors[0]["token"])

    page = open_dashboard(context_factory, login, today_id, "coordinator")
    expect(page.locator('[data-count="expected"]')).to_have_text("2")
    page.locator("[data-later-select]").select_option(str(later_id))
    page.get_by_role("button", name="Sluit de markt en stuur nieuwe oproepen").click()
    expect(page.locator("[data-close-result]")).to_have_text(
        "Markt gesloten: 2 niet gekomen. 2 nieuwe oproepen verstuurd.", timeout=15_000)
    # The dashboard shows no-shows apart from excused, live from market.closed.
    expect(page.locator('[data-count="no_show"]')).to_have_text("2")
    expect(page.locator('[data-count="excused"]')).to_have_text("0")
    expect(page.locator('[data-count="expected"]')).to_have_text("0")
    later = coordinator.get(f"/api/v1/markets/{later_id}/invitations").json()
    assert sorted(i["client"] for i in later) == sorted(v["client"] for v in visitors[1:])
    assert {i["round"] for i in later} == {2}
