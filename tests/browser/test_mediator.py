"""The peer mediator's journey in a real Chromium (DESIGN.md §2: "like a host, plus adding notes
to leads; no access to client records"): on the scanner page a mediator switches a scan to
"note", types a client's code, sees the client's open leads and writes a note that the
consultant reads; switched back, a scan checks in as for a host."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_scanner import PHONE, make_invitations

pytestmark = pytest.mark.browser


def kiosk_lead(live_server, coordinator, market_id: int, token: str) -> tuple[int, str]:
    """A paired tablet at the market's first stand registers interest in the (checked-in)
    visitor; returns the lead id and the stand's organisation name."""
    stand = coordinator.get(f"/api/v1/markets/{market_id}/stands").json()[0]
    code = coordinator.post(f"/api/v1/markets/{market_id}/stands/{stand['id']}/pairing-code").json()["code"]
    with httpx.Client(base_url=live_server.url, timeout=30) as tablet:
        paired = tablet.post("/api/v1/kiosk/pair", json={"code": code, "label": f"Bemiddeling {uuid.uuid4().hex[:4]}"})
        assert paired.status_code == 200, paired.text
        tablet.headers["Authorization"] = f"Device {paired.json()['token']}"
        r = tablet.post("/api/v1/kiosk/interests", json={"token": token, "activities": [stand["activities"][0]["id"]],
                                                         "warmth": "warm", "nonce": uuid.uuid4().hex})
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    return r.json()["lead"]["id"], stand["organisation"]


def type_code(page, code: str) -> None:
    page.fill("#code-input", code)
    page.press("#code-input", "Enter")


def test_mediator_adds_a_note_to_a_lead_found_by_the_letters_code(live_server, api_session, context_factory, login,
                                                                   assert_accessible):
    coordinator, host, consultant = api_session("coordinator"), api_session("host"), api_session("consultant")
    visitor, newcomer, arrival = make_invitations(live_server, 3, given="Bemiddeld")
    market_id = visitor["market"]
    r = host.post("/api/v1/checkin/redeem", json={"market": market_id, "token": visitor["token"],
                                                  "nonce": uuid.uuid4().hex})
    assert r.json()["status"] == "ok", r.text
    lead_id, organisation = kiosk_lead(live_server, coordinator, market_id, visitor["token"])

    page = context_factory(viewport=PHONE).new_page()
    login(page, "mediator", next_url=f"/scan/{market_id}/")
    page.wait_for_selector("html[data-scanner-ready='1']")
    expect(page.locator("#walkin-q")).to_have_count(0)  # a mediator registers no walk-ins

    page.get_by_label("Notitie bij een aanmelding").check()
    expect(page.locator("#code-submit")).to_have_text("Opzoeken")
    type_code(page, visitor["code"])
    expect(page.locator("#result")).to_have_attribute("data-state", "info")
    expect(page.locator("#result-name")).to_have_text(visitor["display_name"])
    choice = page.locator("#note-lead-choices label")
    expect(choice).to_have_count(1)
    expect(choice).to_contain_text(organisation)
    expect(choice.locator("input")).to_be_checked()
    assert_accessible(page)

    page.get_by_label("Uw notitie").fill("Wil graag, maar heeft op dinsdag geen opvang voor de kinderen.")
    page.get_by_role("button", name="Notitie opslaan").click()
    expect(page.locator("#note-status")).to_have_text("Notitie opgeslagen. De consulent ziet hem meteen.")
    expect(page.get_by_label("Uw notitie")).to_have_value("")

    detail = consultant.get(f"/api/v1/leads/{lead_id}").json()
    assert [(n["author"], n["text"]) for n in detail["notes"]] == [
        ("mediator", "Wil graag, maar heeft op dinsdag geen opvang voor de kinderen.")]

    # A client without leads: a plain message, and no form to type into.
    type_code(page, newcomer["code"])
    expect(page.locator("#result-message")).to_contain_text("nog geen aanmelding")
    expect(page.locator("#notes")).to_be_hidden()

    # An empty note is not sent.
    type_code(page, visitor["code"])
    expect(page.locator("#notes")).to_be_visible()
    page.get_by_role("button", name="Notitie opslaan").click()
    expect(page.locator("#note-status")).to_have_text("Schrijf eerst uw notitie.")
    assert len(consultant.get(f"/api/v1/leads/{lead_id}").json()["notes"]) == 1

    # Back to the door: the same field checks a client in, as for a host.
    page.get_by_label("Aanmelden bij de ingang").check()
    expect(page.locator("#notes")).to_be_hidden()
    type_code(page, arrival["code"])
    expect(page.locator("#result")).to_have_attribute("data-state", "ok")
    expect(page.locator("#result-title")).to_have_text("Aangemeld")


def test_camera_reads_the_letter_again_after_switching_to_notes(live_server, api_session, fake_camera_browser,
                                                                 qr_y4m, tmp_path, login):
    """The camera is on from the start, so the letter in front of it is first read as a check-in
    (the client is already in: amber); switching to notes reads the same letter again."""
    coordinator, host = api_session("coordinator"), api_session("host")
    [visitor] = make_invitations(live_server, 1, given="Cameranotitie")
    r = host.post("/api/v1/checkin/redeem", json={"market": visitor["market"], "token": visitor["token"],
                                                  "nonce": uuid.uuid4().hex})
    assert r.json()["status"] == "ok", r.text
    _lead_id, organisation = kiosk_lead(live_server, coordinator, visitor["market"], visitor["token"])
    video = qr_y4m(f"{live_server.url}/i/{visitor['token']}", tmp_path / "qr.y4m")
    context = fake_camera_browser(video).new_context(base_url=live_server.url, viewport=PHONE, locale="nl-NL")
    try:
        page = context.new_page()
        login(page, "mediator", next_url=f"/scan/{visitor['market']}/")
        expect(page.locator("#result")).to_have_attribute("data-state", "warn", timeout=20_000)
        page.get_by_label("Notitie bij een aanmelding").check()
        expect(page.locator("#result")).to_have_attribute("data-state", "info", timeout=20_000)
        expect(page.locator("#note-lead-choices label")).to_contain_text(organisation)
    finally:
        context.close()


def test_hosts_get_no_note_mode(live_server, context_factory, login):
    [inv] = make_invitations(live_server, 1, given="Gastheer")
    page = context_factory(viewport=PHONE).new_page()
    login(page, "host", next_url=f"/scan/{inv['market']}/")
    page.wait_for_selector("html[data-scanner-ready='1']")
    expect(page.locator("#scan-mode")).to_have_count(0)
    expect(page.locator("#notes")).to_have_count(0)


NEW_MEDIATOR = """
from django.contrib.auth import get_user_model
from backend.auth import grant_role
user, _ = get_user_model().objects.get_or_create(username={username!r})
user.set_password({password!r})
user.save()
grant_role(user, "mediator")
print("OK")
"""


def test_too_many_unknown_codes_are_said_in_words(live_server, api_session, context_factory, login):
    """30 unknown codes a minute, then 429: the page says how long to wait (its own mediator, so
    the limit reaches no other test)."""
    username = f"mediator_{uuid.uuid4().hex[:6]}"
    live_server.manage("shell", "-c", NEW_MEDIATOR.format(username=username, password=live_server.password))
    [inv] = make_invitations(live_server, 1, given="Limiet")
    api = api_session(username)
    for _ in range(30):
        r = api.post(f"/api/v1/markets/{inv['market']}/leads/lookup", json={"code": "ZZZZ-ZZZZ"})
        assert r.json()["reason"] == "unknown"
    page = context_factory(viewport=PHONE).new_page()
    login(page, username, next_url=f"/scan/{inv['market']}/")
    page.wait_for_selector("html[data-scanner-ready='1']")
    page.get_by_label("Notitie bij een aanmelding").check()
    type_code(page, inv["code"])
    expect(page.locator("#result")).to_have_attribute("data-state", "error")
    expect(page.locator("#result-message")).to_contain_text("Te veel onbekende codes. Wacht")
    expect(page.locator("#notes")).to_be_hidden()
