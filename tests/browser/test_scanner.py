"""The scanner page in a real Chromium: camera scan from a fake camera, offline queue, walk-in."""

from __future__ import annotations

import json
import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

MAKE_INVITATIONS = """
import json, uuid
from events.management.commands.seed_demo import DEMO_MARKET
from events.models import Client, Market
from events.services import invitation_issue_bulk
market = Market.objects.get(name=DEMO_MARKET)
out = []
for i in range({count}):
    c = Client.objects.create(client_number="BT" + uuid.uuid4().hex[:10].upper(), given_name="{given}",
                              family_name="Tester{tag}" + str(i), language="nl", district=market.district)
    inv = invitation_issue_bulk(market=market, clients=[c])[0]
    out.append({{"market": market.pk, "id": inv.pk, "token": inv.token, "code": inv.formatted_code,
                "display_name": c.display_name}})
print("JSON" + json.dumps(out))
"""

CHECK = """
import json
from backend.models import FeedEntry
from checkin.models import Scan
from events.models import Invitation
ids = {ids}
print("JSON" + json.dumps({{str(i): {{
    "state": Invitation.objects.get(pk=i).state,
    "scans": Scan.objects.filter(invitation_id=i).count(),
    "ok_scans": Scan.objects.filter(invitation_id=i, status="ok").count(),
    "entries": sum(1 for e in FeedEntry.objects.filter(kind="checkin.created") if e.data["invitation_id"] == i),
}} for i in ids}}))
"""


def _json(output: str):
    line = [ln for ln in output.splitlines() if ln.startswith("JSON")][-1]
    return json.loads(line[4:])


def make_invitations(live_server, count: int, given: str = "Browser") -> list[dict]:
    tag = uuid.uuid4().hex[:6]
    return _json(live_server.manage("shell", "-c", MAKE_INVITATIONS.format(count=count, given=given, tag=tag)))


def check(live_server, ids: list[int]) -> dict:
    return _json(live_server.manage("shell", "-c", CHECK.format(ids=list(ids))))


def test_camera_scan_checks_in(live_server, fake_camera_browser, qr_y4m, tmp_path, login, api_session,
                               context_factory):
    [inv] = make_invitations(live_server, 1, given="Camera")
    # a consultant follows the market's dashboard in a second browser context, opened before the scan
    dashboard = context_factory().new_page()
    login(dashboard, "consultant", next_url=f"/dashboard/{inv['market']}/")
    dashboard.wait_for_selector("[data-feed-status][data-status='live']", timeout=20_000)
    expect(dashboard.locator("[data-arrivals]").first).not_to_contain_text(inv["display_name"])
    video = qr_y4m(f"{live_server.url}/i/{inv['token']}", tmp_path / "qr.y4m")
    context = fake_camera_browser(video).new_context(base_url=live_server.url, viewport=PHONE, locale="nl-NL")
    try:
        page = context.new_page()
        login(page, "host", next_url=f"/scan/{inv['market']}/")
        assert page.url.endswith(f"/scan/{inv['market']}/")
        result = page.locator("#result")
        expect(result).to_have_attribute("data-state", "ok", timeout=20_000)
        expect(page.locator("#result-name")).to_have_text(inv["display_name"])
        expect(page.locator("#result-title")).to_have_text("Aangemeld")
        expect(page.locator("#count-session")).to_have_text("1")
        # the same letter stays in front of the camera: no second scan, the result stays green
        page.wait_for_timeout(2500)
        expect(result).to_have_attribute("data-state", "ok")
        # the arrival reached the dashboard live, without a reload
        expect(dashboard.locator("[data-arrivals]").first).to_contain_text(inv["display_name"], timeout=10_000)
    finally:
        context.close()
    state = check(live_server, [inv["id"]])[str(inv["id"])]
    assert state == {"state": "checked_in", "scans": 1, "ok_scans": 1, "entries": 1}
    # and the coordinator's list agrees
    coordinator = api_session("coordinator")
    listed = coordinator.get(f"/api/v1/markets/{inv['market']}/invitations").json()
    assert [i["state"] for i in listed if i["id"] == inv["id"]] == ["checked_in"]


def test_offline_queue_uploads_once_each(live_server, context_factory, login):
    a, b = make_invitations(live_server, 2, given="Offline")
    context = context_factory(viewport=PHONE)
    page = context.new_page()
    login(page, "host", next_url=f"/scan/{a['market']}/")
    page.wait_for_selector("html[data-scanner-ready='1']")
    context.set_offline(True)
    for inv in (a, b):
        page.fill("#code-input", inv["code"].replace("-", "").lower())
        page.click("#code-submit")
        expect(page.locator("#result")).to_have_attribute("data-state", "wait")
    expect(page.locator("#scan-log li[data-state='wait']")).to_have_count(2)
    expect(page.locator("#queue-summary")).to_contain_text("2")
    assert check(live_server, [a["id"], b["id"]])[str(a["id"])]["scans"] == 0
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # as a real device does on reconnect
    expect(page.locator("#scan-log li[data-state='ok']")).to_have_count(2, timeout=20_000)
    expect(page.locator("#scan-log")).to_contain_text(a["display_name"])
    expect(page.locator("#scan-log")).to_contain_text(b["display_name"])
    expect(page.locator("#queue-summary")).to_have_text("")
    # a second round of uploads (periodic retry, another online event) changes nothing
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_timeout(1000)
    states = check(live_server, [a["id"], b["id"]])
    for inv in (a, b):
        assert states[str(inv["id"])] == {"state": "checked_in", "scans": 1, "ok_scans": 1, "entries": 1}
    assert page.evaluate(f"JSON.parse(localStorage.getItem('vm.scanner.queue.{a['market']}'))") == []


def test_manual_code_result_and_repeat(live_server, context_factory, login):
    [inv] = make_invitations(live_server, 1, given="Typed")
    page = context_factory(viewport=PHONE).new_page()
    login(page, "host", next_url=f"/scan/{inv['market']}/")
    page.wait_for_selector("html[data-scanner-ready='1']")
    page.fill("#code-input", inv["code"])
    page.press("#code-input", "Enter")
    expect(page.locator("#result")).to_have_attribute("data-state", "ok")
    page.fill("#code-input", inv["code"])
    page.click("#code-submit")
    expect(page.locator("#result")).to_have_attribute("data-state", "warn")
    expect(page.locator("#result-title")).to_have_text("Al aangemeld")
    page.fill("#code-input", "ZZZZ-ZZZZ")
    page.click("#code-submit")
    expect(page.locator("#result")).to_have_attribute("data-state", "error")
    expect(page.locator("#result-title")).to_have_text("Onbekende code")


def test_typed_code_result_is_on_screen_on_a_small_phone(live_server, context_factory, login):
    """The code field is below the camera: on a 360x640 phone (or any phone with its keyboard
    open) the coloured result must still come into view after Enter."""
    [inv] = make_invitations(live_server, 1, given="Klein")
    page = context_factory(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True,
                           reduced_motion="reduce").new_page()
    login(page, "host", next_url=f"/scan/{inv['market']}/")
    page.wait_for_selector("html[data-scanner-ready='1']")
    page.locator("#code-input").scroll_into_view_if_needed()
    page.fill("#code-input", inv["code"])
    page.press("#code-input", "Enter")
    expect(page.locator("#result")).to_have_attribute("data-state", "ok")
    box = page.locator("#result").bounding_box()
    assert box["y"] >= 0 and box["y"] < 640, box
    assert page.evaluate("document.activeElement.id") == "code-input"  # ready for the next code


def test_walk_in_search_warns_a_host_about_namesakes(live_server, context_factory, login):
    """Hosts see no client number, so two "Tweeling T." look the same: the list says so."""
    twins = make_invitations(live_server, 2, given="Tweeling" + uuid.uuid4().hex[:4])
    [single] = make_invitations(live_server, 1, given="Enkel" + uuid.uuid4().hex[:4])
    page = context_factory(viewport=PHONE).new_page()
    login(page, "host", next_url=f"/scan/{twins[0]['market']}/")
    page.wait_for_selector("html[data-scanner-ready='1']")
    page.fill("#walkin-q", twins[0]["display_name"].split()[0])
    page.click("#walkin-search-form button[type=submit]")
    expect(page.locator("#walkin-results li")).to_have_count(2)
    expect(page.locator("#walkin-results .walkin-namesake")).to_have_count(2)
    expect(page.locator("#walkin-results .walkin-namesake").first).to_contain_text("meer mensen met deze naam")
    page.fill("#walkin-q", single["display_name"].split()[0])
    page.click("#walkin-search-form button[type=submit]")
    expect(page.locator("#walkin-results li")).to_have_count(1)
    expect(page.locator("#walkin-results .walkin-namesake")).to_have_count(0)


def test_walk_in_new_person(live_server, context_factory, login):
    page = context_factory(viewport=PHONE).new_page()
    [inv] = make_invitations(live_server, 1, given="Zoek")
    login(page, "host", next_url=f"/scan/{inv['market']}/")
    page.wait_for_selector("html[data-scanner-ready='1']")
    # find a summoned client without a letter by name
    page.fill("#walkin-q", inv["display_name"].split()[0] + " " + "Tester")
    page.click("#walkin-search-form button[type=submit]")
    button = page.locator("#walkin-results button").first
    expect(button).to_contain_text(inv["display_name"])
    button.click()
    expect(page.locator("#result")).to_have_attribute("data-state", "ok")
    # a new person
    family = "Nieuw" + uuid.uuid4().hex[:5]
    page.click(".walkin-new summary")
    page.fill("#walkin-given", "Şükrü")
    page.fill("#walkin-family", family)
    page.click("#walkin-new-form button[type=submit]")
    expect(page.locator("#result")).to_have_attribute("data-state", "ok")
    expect(page.locator("#result-name")).to_have_text(f"Şükrü {family[0]}.")


def test_scanner_market_choice_and_accessibility(live_server, context_factory, login, assert_accessible):
    page = context_factory(viewport=PHONE).new_page()
    login(page, "host", next_url="/scan/")
    link = page.locator("a.market-choice").first
    expect(link).to_be_visible()
    assert_accessible(page)
    link.click()
    page.wait_for_selector("html[data-scanner-ready='1']")
    assert_accessible(page)
    box = page.locator("#code-submit").bounding_box()
    assert box["height"] >= 44
