"""The kiosk page on a tablet-sized browser: pair with a code, scan a checked-in visitor from a
fake camera, register interest; a revoked tablet stops; a registration made offline is sent later."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import demo_market

pytestmark = pytest.mark.browser

TABLET_PORTRAIT = {"width": 800, "height": 1280}
TABLET_LANDSCAPE = {"width": 1280, "height": 800}


# ---- helpers (data through the API, never the ORM: see docs/frontend.md) ----------------------

def stand_at(coordinator, market_id: int, index: int) -> dict:
    stands = coordinator.get(f"/api/v1/markets/{market_id}/stands").json()
    return stands[index % len(stands)]


def pairing_code(coordinator, market_id: int, stand_id: int) -> str:
    r = coordinator.post(f"/api/v1/markets/{market_id}/stands/{stand_id}/pairing-code")
    assert r.status_code == 200, r.text
    return r.json()["code"]


def checked_in_visitor(coordinator, host, market_id: int) -> dict:
    """An invitation of this market, checked in at the entrance by the host (POST checkin/redeem)."""
    invitations = coordinator.get(f"/api/v1/markets/{market_id}/invitations").json()
    issued = [i for i in invitations if i["state"] == "issued"]
    if issued:
        invitation = issued[0]
        r = host.post("/api/v1/checkin/redeem",
                      json={"market": market_id, "token": invitation["token"], "nonce": uuid.uuid4().hex})
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        return invitation
    checked_in = [i for i in invitations if i["state"] == "checked_in"]
    assert checked_in, "no invitation left to check in"
    return checked_in[-1]


def pair_page(page, code: str, label: str) -> None:
    page.goto("/kiosk/")
    page.locator("#pair-code").fill(code)
    page.locator("#pair-label").fill(label)
    page.get_by_role("button", name="Koppelen").click()
    page.locator("#screen-home").wait_for(state="visible")


def device_id(coordinator, market_id: int, label: str) -> int:
    devices = coordinator.get(f"/api/v1/markets/{market_id}/devices").json()
    return next(d["id"] for d in devices if d["label"] == label)


# ---- tests -----------------------------------------------------------------------------------

def test_tablet_pairs_scans_a_visitor_and_registers_two_activities(
        live_server, api_session, fake_camera_browser, qr_y4m, tmp_path, context_factory, login):
    coordinator, host = api_session("coordinator"), api_session("host")
    market = demo_market(coordinator)
    stand = stand_at(coordinator, market["id"], 0)
    assert len(stand["activities"]) >= 2
    visitor = checked_in_visitor(coordinator, host, market["id"])
    code = pairing_code(coordinator, market["id"], stand["id"])

    # The consultant's dashboard is open before the registration: the lead must arrive live.
    dashboard = context_factory().new_page()
    login(dashboard, "consultant", next_url=f"/dashboard/{market['id']}/")
    expect(dashboard.locator("[data-market-dashboard]")).to_have_attribute("data-feed-status", "live",
                                                                           timeout=15_000)

    video = qr_y4m(f"{live_server.url}/i/{visitor['token']}", tmp_path / "visitor.y4m")
    context = fake_camera_browser(video).new_context(base_url=live_server.url, viewport=TABLET_PORTRAIT,
                                                     locale="nl-NL")
    context.grant_permissions(["camera"])
    page = context.new_page()
    label = f"Tablet {uuid.uuid4().hex[:6]}"
    pair_page(page, code, label)
    assert page.evaluate("() => localStorage.getItem('vm.kiosk.token')")
    assert page.locator("#home-title").inner_text() == stand["organisation"]
    assert page.locator("#activity-list li").count() == len(stand["activities"])
    assert re.search(r"bezet: \d+ van \d+ plaatsen", page.locator("#activity-list li").first.inner_text())

    # Touch targets of at least 44 px.
    for selector in ("#scan-start", "#code-form button"):
        box = page.locator(selector).bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, selector

    page.get_by_role("button", name="Bezoeker scannen").click()
    page.locator("#screen-visitor").wait_for(state="visible", timeout=20_000)
    name = page.locator("#visitor-name").inner_text()
    assert name and name != "Bezoeker"
    assert page.locator("#visitor-language").inner_text().startswith("Taal:")
    # Only the display name and language: no client number on the screen.
    assert visitor["client_number"] not in page.locator("body").inner_text()

    toggles = page.locator("#visitor-activities button")
    toggles.nth(0).click()
    toggles.nth(1).click()
    assert toggles.nth(0).get_attribute("aria-pressed") == "true"
    assert toggles.nth(1).get_attribute("aria-pressed") == "true"
    assert min(toggles.nth(0).bounding_box()["height"], toggles.nth(1).bounding_box()["height"]) >= 44
    page.get_by_role("button", name="Warm", exact=True).click()
    page.locator("#visitor-note").fill("<b>Kookt graag</b>")
    page.get_by_role("button", name="Aanmelden").click()
    page.locator("#screen-done").wait_for(state="visible")
    assert page.locator("#done-title").inner_text() == "Aangemeld"
    done = page.locator("#done-text").inner_text()
    assert name in done
    for activity in stand["activities"][:2]:
        assert activity["title"] in done

    leads = coordinator.get(f"/api/v1/markets/{market['id']}/leads").json()
    leads = leads.get("leads", leads) if isinstance(leads, dict) else leads
    mine = [lead for lead in leads if lead.get("organisation_id") == stand["organisation_id"]
            and lead.get("display_name") == name]
    assert mine, leads
    assert mine[0]["note"] == "<b>Kookt graag</b>"  # kept as text
    assert mine[0]["warmth"] == "warm" and mine[0]["source"] == "kiosk"
    live = dashboard.locator(f'[data-leads] li[data-lead="{mine[0]["id"]}"]')
    expect(live).to_be_visible(timeout=15_000)
    expect(live).to_contain_text(name)

    page.get_by_role("button", name="Volgende bezoeker").click()
    page.locator("#screen-home").wait_for(state="visible")
    page.set_viewport_size(TABLET_LANDSCAPE)  # landscape: the same page, two columns
    assert page.locator("#scan-start").is_visible()


def test_revoked_tablet_stops_with_a_clear_message(live_server, api_session, context_factory):
    coordinator = api_session("coordinator")
    market = demo_market(coordinator)
    stand = stand_at(coordinator, market["id"], 1)
    page = context_factory(viewport=TABLET_LANDSCAPE).new_page()
    label = f"Tablet {uuid.uuid4().hex[:6]}"
    pair_page(page, pairing_code(coordinator, market["id"], stand["id"]), label)

    r = coordinator.post(f"/api/v1/devices/{device_id(coordinator, market['id'], label)}/revoke")
    assert r.status_code == 200 and r.json()["revoked"] is True

    page.locator("#visitor-code").fill("ABCD-EFGH")
    page.locator("#code-form button").click()
    page.locator("#screen-stopped").wait_for(state="visible")
    assert "afgemeld door de coördinator" in page.locator("#stopped-message").inner_text()
    assert page.locator("#screen-home").is_hidden()
    assert page.evaluate("() => localStorage.getItem('vm.kiosk.token')") is None
    page.reload()
    page.locator("#screen-pair").wait_for(state="visible")  # the token is forgotten


def test_registration_made_offline_is_sent_later(live_server, api_session, context_factory, assert_accessible):
    coordinator, host = api_session("coordinator"), api_session("host")
    market = demo_market(coordinator)
    stand = stand_at(coordinator, market["id"], 2)
    visitor = checked_in_visitor(coordinator, host, market["id"])
    context = context_factory(viewport=TABLET_PORTRAIT)
    page = context.new_page()
    pair_page(page, pairing_code(coordinator, market["id"], stand["id"]), f"Tablet {uuid.uuid4().hex[:6]}")
    assert_accessible(page)

    context.set_offline(True)
    page.locator("#visitor-code").fill(visitor["code"])
    page.locator("#code-form button").click()
    page.locator("#screen-visitor").wait_for(state="visible")
    assert page.locator("#visitor-offline").is_visible()
    page.locator("#visitor-activities button").first.click()
    page.get_by_role("button", name="Heet").click()
    page.get_by_role("button", name="Aanmelden").click()
    page.locator("#screen-done").wait_for(state="visible")
    assert page.locator("#done-title").inner_text() == "Bewaard, nog niet verstuurd"
    assert len(page.evaluate("() => JSON.parse(localStorage.getItem('vm.kiosk.queue'))")) == 1
    page.get_by_role("button", name="Volgende bezoeker").click()
    assert page.locator("#queue-box").is_visible()

    context.set_offline(False)
    page.locator("#queue-log li").first.wait_for(timeout=20_000)
    assert "Verstuurd" in page.locator("#queue-log li").first.inner_text()
    assert page.evaluate("() => JSON.parse(localStorage.getItem('vm.kiosk.queue'))") == []
    assert page.locator("#queue-box").is_hidden()
    leads = coordinator.get(f"/api/v1/markets/{market['id']}/leads").json()
    leads = leads.get("leads", leads) if isinstance(leads, dict) else leads
    assert any(lead.get("organisation_id") == stand["organisation_id"] and lead.get("warmth") == "hot"
               for lead in leads), leads
