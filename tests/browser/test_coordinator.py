"""The coordinator's journey (DESIGN.md §2) through the Django admin, in a real browser:
set up a district, a market with two time slots and a stand; import clients from CSV (with a
bad row); invite them; download one letter and the market's batch of letters; open the
market; read its report and the district's.

Everything is clicked as a coordinator would; the server is only asked (as the coordinator,
over the API) to double-check what the pages say. Names carry a per-test suffix because the
live server and its database are shared by the whole browser session.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

pytestmark = pytest.mark.browser

TZ = ZoneInfo("Europe/Amsterdam")
CODE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$")
VENUE = "Buurthuis De Ster"
ADDRESS = "Sterstraat 5, 3031 AB Rotterdam"
ORGANISATION = "Buurthuis De Brug"  # from seed_demo, with activities


def _suffix() -> str:
    return uuid.uuid4().hex[:6].upper()


def _market_day() -> dt.date:
    return dt.datetime.now(TZ).date() + dt.timedelta(days=7)


def _admin_page(context_factory):
    # A coordinator's desktop in the Netherlands: the admin's date widgets then agree with the server.
    context = context_factory(timezone_id="Europe/Amsterdam", accept_downloads=True,
                              viewport={"width": 1440, "height": 900})
    return context.new_page()


def _message(page):
    return page.locator("ul.messagelist li")


def _fill_datetime(page, prefix: str, day: dt.date, time: str) -> None:
    page.fill(f"#id_{prefix}_0", day.strftime("%d-%m-%Y"))
    page.fill(f"#id_{prefix}_1", time)


def _row(page, text: str):
    return page.locator("#result_list tbody tr", has_text=text)


def _run_action(page, row_texts: list[str], action: str):
    for text in row_texts:
        _row(page, text).locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    page.get_by_role("button", name="Uitvoeren").click()


def _download(page, row_texts: list[str], action: str):
    with page.expect_download() as info:
        _run_action(page, row_texts, action)
    download = info.value
    return download.suggested_filename, PdfReader(download.path())


def _pdf_text(reader: PdfReader) -> list[str]:
    return [page.extract_text() or "" for page in reader.pages]


def _arabic(text: str) -> str:
    """The letters print Arabic in shaped presentation forms; NFKC gives the plain letters back."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if "\u0600" <= ch <= "\u06ff")


def _create_district(page, name: str) -> None:
    page.goto("/admin/")
    page.locator("#content-main").get_by_role("link", name="Wijken", exact=True).click()
    page.get_by_role("link", name="Wijk toevoegen").click()
    page.fill("#id_name", name)
    page.get_by_role("button", name="Opslaan", exact=True).click()
    expect(_message(page)).to_contain_text(name)


def _create_market(page, *, district: str, name: str, day: dt.date, slots: list[tuple[str, str]],
                   organisation: str | None) -> None:
    page.goto("/admin/")
    page.locator("#content-main").get_by_role("link", name="Markten", exact=True).click()
    page.get_by_role("link", name="Markt toevoegen").click()
    page.select_option("#id_district", label=district)
    page.fill("#id_name", name)
    page.fill("#id_venue", VENUE)
    page.fill("#id_address", ADDRESS)
    _fill_datetime(page, "starts_at", day, "10:00")
    _fill_datetime(page, "ends_at", day, "16:00")
    page.fill("#id_what_to_bring", "Uw brief en een identiteitsbewijs.")
    for i, (start, end) in enumerate(slots):
        page.locator("#slots-group .add-row a").click()
        _fill_datetime(page, f"slots-{i}-starts_at", day, start)
        _fill_datetime(page, f"slots-{i}-ends_at", day, end)
    if organisation:
        page.locator("#stands-group .add-row a").click()
        page.locator("#stands-0 .select2-selection").click()  # the organisation autocomplete
        page.keyboard.type(organisation.split()[-1])
        page.locator(".select2-results__option", has_text=organisation).click()
        page.fill("#id_stands-0-location", "Tafel 1")
    page.get_by_role("button", name="Opslaan", exact=True).click()


def test_coordinator_sets_up_a_market_invites_prints_letters_and_reads_the_report(
        context_factory, login, live_server, api_session):
    sfx = _suffix()
    district, market = f"Wijk Oost {sfx}", f"Markt Oost {sfx}"
    day = _market_day()
    page = _admin_page(context_factory)
    login(page, "coordinator", next_url="/admin/")

    # 1. A district, its market with two time slots and a stand of an existing organisation.
    _create_district(page, district)
    _create_market(page, district=district, name=market, day=day, slots=[("10:00", "12:00"), ("13:00", "15:00")],
                   organisation=ORGANISATION)
    expect(_message(page)).to_contain_text(market)
    expect(_row(page, market)).to_contain_text(district)
    expect(_row(page, market)).to_contain_text("gepland")
    _row(page, market).get_by_role("link", name=market).click()
    expect(page.locator("#slots-group tbody tr.has_original")).to_have_count(2)
    expect(page.locator("#id_slots-0-starts_at_1")).to_have_value("10:00:00")
    expect(page.locator("#id_slots-1-ends_at_1")).to_have_value("15:00:00")
    expect(page.locator("#stands-group tbody tr.has_original")).to_have_count(1)
    expect(page.locator("#stands-group")).to_contain_text(ORGANISATION)

    # 2. Import clients from CSV: Ş/ë, an Arabic name, and a bad row that must not be stored.
    numbers = {"tr": f"K{sfx}01", "nl": f"K{sfx}02", "ar": f"K{sfx}03", "bad": f"K{sfx}04"}
    csv_text = ("client_number,given_name,family_name,language,email,phone\n"
                f"{numbers['tr']},Ayşe,Şahin,tr,ayse@example.org,0612345678\n"
                f"{numbers['nl']},Zoë,Brouwër,nl,,\n"
                f"{numbers['ar']},فاطمة,الزهراء,ar,,\n"
                f"{numbers['bad']},Jan,Fout,xx,geen-adres,\n")
    page.goto("/admin/")
    page.locator("#content-main").get_by_role("link", name="Cliënten", exact=True).click()
    page.get_by_role("link", name="Cliënten importeren (CSV)").click()
    page.select_option("#id_district", label=district)
    page.set_input_files("#id_file", files=[{"name": "clienten.csv", "mimeType": "text/csv",
                                            "buffer": csv_text.encode("utf-8")}])
    page.get_by_role("button", name="Importeren").click()
    expect(_message(page)).to_have_text(
        "Nieuw: 3. Bijgewerkt: 0. Ongewijzigd: 0. Regels met fouten: 1.")
    errors = page.locator("#content table tbody tr")
    expect(errors).to_have_count(2)  # the bad row has two problems, both shown
    expect(errors.nth(0).locator("td").first).to_have_text("5")  # the line as a spreadsheet numbers it
    expect(errors.nth(0)).to_contain_text("De taal 'xx' kennen we niet")
    expect(errors.nth(1)).to_contain_text("'geen-adres' is geen geldig e-mailadres")

    page.goto("/admin/events/client/")
    page.locator("#changelist-filter").get_by_role("link", name=district, exact=True).click()
    clients = page.locator("#result_list tbody tr")
    expect(clients).to_have_count(3)
    expect(_row(page, numbers["tr"])).to_contain_text("Şahin")
    expect(_row(page, numbers["nl"])).to_contain_text("Brouwër")
    expect(_row(page, numbers["ar"])).to_contain_text("الزهراء")
    expect(_row(page, numbers["ar"])).to_contain_text("العربية")
    expect(page.locator("#result_list")).not_to_contain_text(numbers["bad"])  # never half a row

    # 3. Invite them to the new market, in the second time slot.
    page.check("#action-toggle")
    page.select_option("select[name=action]", "invite_to_market")
    page.get_by_role("button", name="Uitvoeren").click()
    expect(page.locator("#content")).to_contain_text("3 cliënten gekozen.")
    market_option = page.locator("#id_market option", has_text=market)
    expect(market_option).to_have_text(f"{market} — {district}, {day.day} {_dutch_month(day)} {day.year}")
    page.select_option("#id_market", value=market_option.get_attribute("value"))
    slot_option = page.locator("#id_slot option", has_text=market).filter(has_text="13:00–15:00")
    expect(slot_option).to_have_count(1)
    page.select_option("#id_slot", value=slot_option.get_attribute("value"))
    page.get_by_role("button", name="Uitnodigen", exact=True).click()
    expect(_message(page)).to_contain_text(f"3 uitnodigingen voor {market}")

    page.goto("/admin/events/market/")
    _row(page, market).get_by_role("link", name="3", exact=True).click()  # the invitations column
    invitations = page.locator("#result_list tbody tr")
    expect(invitations).to_have_count(3)
    codes = {}
    for lang in ("tr", "nl", "ar"):
        row = _row(page, numbers[lang])
        expect(row).to_contain_text("13:00–15:00")
        expect(row).to_contain_text("uitgenodigd")
        codes[lang] = row.locator(".field-code_display").inner_text().strip()
        assert CODE.match(codes[lang]), codes[lang]
    assert len(set(codes.values())) == 3

    # What the server holds agrees with the pages.
    api = api_session("coordinator")
    market_id = next(m["id"] for m in api.get("/api/v1/markets").json() if m["name"] == market)
    listed = api.get(f"/api/v1/markets/{market_id}/invitations").json()
    assert sorted(i["code"] for i in listed) == sorted(codes.values())

    # 4. One letter (the Arabic client's): in Arabic, with the code and the place.
    filename, letter = _download(page, [numbers["ar"]], "download_letters")
    assert filename == f"uitnodiging-{codes['ar']}.pdf"
    assert len(letter.pages) == 1
    [text] = _pdf_text(letter)
    assert codes["ar"] in text and VENUE in text and ADDRESS in text
    assert "13:00" in text and "15:00" in text
    assert "Uitnodiging voor de vrijwilligersmarkt" not in text  # not the Dutch letter
    assert len(_arabic(text)) > 200, text[:500]
    assert "فاطمة" in _arabic(text) or "ةمطاف" in _arabic(text)  # the name, in either byte order
    assert letter.trailer["/Root"]["/Lang"] == "ar"

    # ... and the whole market's batch: one page per invitation, every code, the place.
    page.goto("/admin/events/market/")
    filename, batch = _download(page, [market], "download_letters")
    assert filename == f"brieven-markt-{market_id}.pdf"
    pages = _pdf_text(batch)
    assert len(pages) == len(codes) == 3
    for lang, code in codes.items():
        [page_text] = [t for t in pages if code in t]
        assert VENUE in page_text
        if lang == "ar":
            assert len(_arabic(page_text)) > 200
        else:
            assert not _arabic(page_text)
    assert any("Uitnodiging voor de vrijwilligersmarkt" in t and "Zoë Brouwër" in t for t in pages)
    assert any("Ayşe Şahin" in t for t in pages)

    # 5. Open the market, then read its report: the page of the market links to it.
    page.goto("/admin/events/market/")
    _run_action(page, [market], "open_markets")
    expect(_message(page)).to_have_text(f"{market} is open.")
    expect(_row(page, market).locator(".field-state")).to_have_text("open")
    _row(page, market).get_by_role("link", name=market).click()
    page.locator(".object-tools").get_by_role("link", name="Rapport", exact=True).click()
    expect(page.locator("h1")).to_have_text(f"Rapport: {market}")
    expect(page.locator("[data-market-state]")).to_have_text("open")
    expect(page.locator("main")).to_contain_text(VENUE)
    figures = _figures(page)
    assert figures["Uitgenodigd"] == "3"
    assert figures["Nog verwacht"] == "3"
    assert figures["Gekomen"] == "0" and figures["Niet gekomen"] == "0"

    # The district's report lists the new market (a week ahead, so later than today).
    page.get_by_role("link", name="Rapport van de wijk").click()
    expect(page.locator("h1")).to_contain_text(district)
    market_row = page.locator("table tbody tr", has_text=market)
    expect(market_row).to_have_count(1)
    expect(market_row.locator("td").nth(2)).to_have_text("3")
    assert _figures(page)["Uitgenodigd"] == "3"
    market_row.get_by_role("link", name=market).click()
    expect(page.locator("h1")).to_have_text(f"Rapport: {market}")


def test_coordinator_without_superuser_rights_sets_up_slots_and_stands(context_factory, login, live_server):
    """seed_demo's `coordinator` is a superuser; a municipal coordinator is a user with the
    coordinator role only. The market page must give them its time slots and stands too, and
    a slot outside the market's hours is refused with a plain message."""
    sfx = _suffix()
    username = f"coord_{sfx.lower()}"
    live_server.manage("shell", "-c", (
        "from django.contrib.auth import get_user_model\n"
        "from backend.auth import COORDINATOR, grant_role\n"
        f"u = get_user_model().objects.create_user({username!r}, password={live_server.password!r})\n"
        "grant_role(u, COORDINATOR)\n"))
    district, market = "Demo Noord", f"Markt Noord {sfx}"
    day = _market_day()
    page = _admin_page(context_factory)
    login(page, username, next_url="/admin/")

    _create_market(page, district=district, name=market, day=day, slots=[("10:00", "12:00"), ("15:00", "17:00")],
                   organisation="Voedselbank Noord")
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator("#slots-group")).to_contain_text("Een tijdvak moet binnen de tijden van de markt liggen.")
    page.fill("#id_slots-1-ends_at_1", "16:00")
    page.get_by_role("button", name="Opslaan", exact=True).click()
    expect(_message(page)).to_contain_text(market)

    _row(page, market).get_by_role("link", name=market).click()
    expect(page.locator("#slots-group tbody tr.has_original")).to_have_count(2)
    expect(page.locator("#id_slots-1-ends_at_1")).to_have_value("16:00:00")
    expect(page.locator("#stands-group")).to_contain_text("Voedselbank Noord")


def _figures(page) -> dict[str, str]:
    page.locator("table.figures").wait_for()
    return dict(page.eval_on_selector_all(
        "table.figures tr", "rows => rows.map(r => [r.querySelector('th').textContent.trim(),"
                            " r.querySelector('td').textContent.trim()])"))


def _dutch_month(day: dt.date) -> str:
    return ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
            "oktober", "november", "december"][day.month - 1]
