"""WCAG 2.1 AA with axe-core on the pages others built that clients and visitors see or that
are used at the market: the scanner (/scan/<id>/), the kiosk (/kiosk/), plus the login, home and
accessibility statement pages, in Dutch and in Arabic (right to left), on phone and tablet sizes.
The client page itself is covered in test_client_page.py."""

from __future__ import annotations

import uuid

import pytest

from tests.browser.test_kiosk import demo_market, pairing_code, stand_at

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
TABLET_PORTRAIT = {"width": 800, "height": 1280}
TABLET_LANDSCAPE = {"width": 1280, "height": 800}


def no_horizontal_scroll(page) -> None:
    widths = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url}: horizontal scroll ({widths[0]} > {widths[1]})"


def check_language(page, lang: str) -> None:
    html = page.locator("html")
    assert html.get_attribute("lang") == lang
    assert html.get_attribute("dir") == ("rtl" if lang == "ar" else None)


@pytest.mark.parametrize("lang,locale", [("nl", "nl-NL"), ("ar", "ar")])
def test_scanner_page(context_factory, login, api_session, assert_accessible, lang, locale):
    market = demo_market(api_session("coordinator"))
    page = context_factory(viewport=PHONE, locale=locale, is_mobile=True, has_touch=True).new_page()
    login(page, "host", next_url=f"/scan/{market['id']}/")
    page.goto(f"/scan/{market['id']}/")
    page.locator("#code-input").wait_for(state="visible")
    check_language(page, lang)
    no_horizontal_scroll(page)
    assert_accessible(page)
    # A refused scan shows its result; still accessible.
    page.locator("#code-input").fill("ZZZZ-ZZZZ")
    page.locator("#code-submit").click()
    page.wait_for_function("() => document.querySelector('#result').dataset.state !== 'idle'", timeout=15_000)
    no_horizontal_scroll(page)
    assert_accessible(page)


@pytest.mark.parametrize("lang,locale,viewport", [("nl", "nl-NL", TABLET_PORTRAIT), ("ar", "ar", TABLET_LANDSCAPE),
                                                  ("tr", "tr-TR", PHONE)])
def test_kiosk_pairing_and_home_screens(context_factory, api_session, assert_accessible, lang, locale, viewport):
    coordinator = api_session("coordinator")
    market = demo_market(coordinator)
    stand = stand_at(coordinator, market["id"], 1)
    page = context_factory(viewport=viewport, locale=locale, has_touch=True).new_page()
    page.goto("/kiosk/")
    page.locator("#pair-code").wait_for(state="visible")
    check_language(page, lang)
    no_horizontal_scroll(page)
    assert_accessible(page)
    # A wrong code: the error is shown and announced.
    page.locator("#pair-code").fill("AAAA-AAAA")
    page.locator("#pair-submit").click()
    page.locator("#pair-error").wait_for(state="visible")
    assert_accessible(page)
    page.locator("#pair-code").fill(pairing_code(coordinator, market["id"], stand["id"]))
    page.locator("#pair-label").fill(f"a11y {uuid.uuid4().hex[:6]}")
    page.locator("#pair-submit").click()
    page.locator("#screen-home").wait_for(state="visible")
    no_horizontal_scroll(page)
    assert_accessible(page)


@pytest.mark.parametrize("path", ["/", "/login/", "/toegankelijkheid/"])
@pytest.mark.parametrize("locale", ["nl-NL", "ar"])
def test_public_pages(context_factory, assert_accessible, path, locale):
    page = context_factory(viewport=PHONE, locale=locale).new_page()
    response = page.goto(path)
    assert response.status == 200
    check_language(page, "ar" if locale == "ar" else "nl")
    no_horizontal_scroll(page)
    assert_accessible(page)


def error_page_html(lang: str, *, unavailable: bool) -> str:
    """backend.views.server_error's page, rendered in this process the way handler500 renders it
    (the live server runs with DEBUG=1, where Django shows its own debug page instead)."""
    from django.db.utils import OperationalError
    from django.test import RequestFactory

    from backend.views import server_error

    request = RequestFactory().get("/i/abc", {"lang": lang})
    try:
        raise OperationalError("down") if unavailable else RuntimeError("a bug")
    except Exception:  # noqa: BLE001 - the handler reads the exception being handled
        response = server_error(request)
    assert response.status_code == (503 if unavailable else 500)
    return response.content.decode()


@pytest.mark.parametrize("unavailable", [True, False])
@pytest.mark.parametrize("lang", ["nl", "ar"])
def test_error_pages(context_factory, assert_accessible, lang, unavailable):
    page = context_factory(viewport=PHONE, locale="nl-NL").new_page()
    page.goto("/healthz")  # same origin: the page's stylesheet and axe-core load from the server
    page.set_content(error_page_html(lang, unavailable=unavailable), wait_until="load")
    check_language(page, lang)
    assert page.evaluate("() => getComputedStyle(document.body).direction") == ("rtl" if lang == "ar" else "ltr")
    # base.css arrived (a card has its border)
    assert page.evaluate("() => getComputedStyle(document.querySelector('.card')).borderTopStyle") == "solid"
    assert page.get_by_role("heading", level=1).is_visible()
    no_horizontal_scroll(page)
    assert_accessible(page)
