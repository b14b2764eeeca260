"""The client's own page in a real browser: Dutch and Arabic (RTL) on a 360 px phone, 200% text,
keyboard use, read aloud, axe-core, and the consultant's feed receiving the client's actions."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import pytest

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}

# Creates a market three days ahead in the demo district (so cancelling is still in time),
# with two slots (the second one full), the demo organisations at stands, and `n` fresh
# invitations; prints their tokens as JSON.
SETUP = r"""
import datetime as dt, json, secrets
from django.utils import timezone
from events import services
from events.models import Client, District, Invitation, Market, Organisation, Stand
district = District.objects.get(name="Demo Noord")
start = (timezone.now() + dt.timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
market = services.market_create(district=district, name="Browsermarkt " + secrets.token_hex(3),
    venue="Wijkcentrum Het Anker", address="Ankerplein 1, 3031 AA Rotterdam", starts_at=start,
    ends_at=start + dt.timedelta(hours=4), what_to_bring="Uw brief en een pen.")
a = services.timeslot_create(market=market, starts_at=start, ends_at=start + dt.timedelta(hours=2), capacity=50)
b = services.timeslot_create(market=market, starts_at=start + dt.timedelta(hours=2), ends_at=market.ends_at, capacity=1)
for org in Organisation.objects.all():
    Stand.objects.get_or_create(market=market, organisation=org)
out = {"market": market.pk, "tokens": {}, "numbers": {}}
for lang in LANGS:
    c = Client.objects.create(client_number="BR" + secrets.token_hex(5), given_name="Noor", family_name="Haddad",
                              language=lang, district=district, address="Privéweg 7", phone="0611111111")
    inv = services.invitation_issue_bulk(market=market, clients=[c], slot=a)[0]
    out["tokens"][lang] = inv.token
    out["numbers"][lang] = c.client_number
filler = Client.objects.create(client_number="BR" + secrets.token_hex(5), given_name="Vol", family_name="Bezet",
                               language="nl", district=district)
services.invitation_issue_bulk(market=market, clients=[filler], slot=b)
print(json.dumps(out))
"""


@pytest.fixture
def fresh(live_server):
    def make(*langs: str) -> dict:
        out = live_server.manage("shell", "-c", SETUP.replace("LANGS", repr(list(langs))))
        return json.loads(out.strip().splitlines()[-1])

    return make


def no_horizontal_scroll(page) -> None:
    widths = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll: scrollWidth {widths[0]} > innerWidth {widths[1]}"


def small_targets(page) -> list[str]:
    """Interactive elements smaller than 44x44 CSS px (inline links inside text excepted)."""
    return page.evaluate("""() => {
        const bad = [];
        for (const el of document.querySelectorAll('button, a[href], summary, input, select, textarea')) {
            const r = el.getBoundingClientRect();
            if (r.width === 0 && r.height === 0) continue;  // not rendered (closed <details>)
            if (el.closest('p') && el.tagName === 'A') continue;  // inline link in a sentence
            if (el.type === 'radio' || el.type === 'checkbox') {
                const row = el.closest('.choice').getBoundingClientRect();
                if (row.height < 44) bad.push(el.id + ' row ' + row.height);
                continue;
            }
            if (r.height < 44 || r.width < 44) bad.push((el.id || el.textContent.trim()).slice(0, 40) + ' ' + r.width + 'x' + r.height);
        }
        return bad;
    }""")


def open_all_details(page) -> None:
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")


def test_dutch_page_on_a_360px_phone(context_factory, fresh, assert_accessible):
    data = fresh("nl")
    page = context_factory(viewport=PHONE, locale="nl-NL", is_mobile=True, has_touch=True).new_page()
    response = page.goto(f"/i/{data['tokens']['nl']}")
    assert response.status == 200
    html = page.locator("html")
    assert html.get_attribute("lang") == "nl" and html.get_attribute("dir") is None
    assert page.get_by_role("button", name="Voorlezen").is_visible()
    assert page.locator("text=Wijkcentrum Het Anker").is_visible()
    map_link = page.get_by_role("link", name=re.compile("Bekijk op de kaart"))
    assert map_link.get_attribute("href").startswith("https://www.openstreetmap.org/search?query=Ankerplein")
    content = page.content()
    # The whole client number: a prefix alone can turn up by chance in a random token or code.
    for secret in ("Privéweg", "0611111111", "Haddad", data["numbers"]["nl"]):
        assert secret not in content.replace("BROWSER", "")
    no_horizontal_scroll(page)
    assert_accessible(page)
    open_all_details(page)
    no_horizontal_scroll(page)
    assert_accessible(page)
    assert small_targets(page) == []


def test_arabic_page_is_right_to_left_on_a_360px_phone(context_factory, fresh, assert_accessible):
    data = fresh("ar")
    page = context_factory(viewport=PHONE, locale="ar", is_mobile=True, has_touch=True).new_page()
    page.goto(f"/i/{data['tokens']['ar']}")
    html = page.locator("html")
    assert html.get_attribute("lang") == "ar" and html.get_attribute("dir") == "rtl"
    assert page.evaluate("() => getComputedStyle(document.body).direction") == "rtl"
    # The text is Arabic, not the Dutch source.
    assert "Voorlezen" not in page.locator("#speak-button").inner_text()
    assert re.search(r"[\u0600-\u06FF]", page.locator("h1").inner_text())
    # The icon of a fact sits on the right in RTL.
    icon, value = page.evaluate("""() => {
        const li = document.querySelector('.fact');
        return [li.querySelector('svg').getBoundingClientRect().left, li.querySelector('div').getBoundingClientRect().left];
    }""")
    assert icon > value
    no_horizontal_scroll(page)
    open_all_details(page)
    no_horizontal_scroll(page)
    assert_accessible(page)


def test_language_choice_is_remembered(context_factory, fresh):
    data = fresh("nl")
    page = context_factory(viewport=PHONE).new_page()
    page.goto(f"/i/{data['tokens']['nl']}")
    page.get_by_role("link", name="Türkçe").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "tr"
    page.goto(f"/i/{data['tokens']['nl']}")
    assert page.locator("html").get_attribute("lang") == "tr"
    assert page.locator('.lang-switch a[aria-current="true"]').inner_text() == "Türkçe"


@pytest.mark.parametrize("width,font", [(320, "100%"), (640, "200%"), (1280, "200%")])
def test_reflow_and_200_percent_text(context_factory, fresh, width, font):
    data = fresh("pt")
    page = context_factory(viewport={"width": width, "height": 800}).new_page()
    page.goto(f"/i/{data['tokens']['pt']}")
    page.evaluate(f"() => document.documentElement.style.fontSize = '{font}'")
    open_all_details(page)
    no_horizontal_scroll(page)


def test_keyboard_only_confirm_with_visible_focus(context_factory, fresh):
    data = fresh("nl")
    page = context_factory(viewport=PHONE).new_page()
    page.goto(f"/i/{data['tokens']['nl']}")
    # The first Tab reaches the skip link, which is visible when focused.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    seen = 0
    for _ in range(40):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => {
            const el = document.activeElement, s = getComputedStyle(el);
            return {text: el.textContent.trim(), outline: s.outlineStyle, width: parseFloat(s.outlineWidth),
                    shadow: s.boxShadow};
        }""")
        assert info["outline"] != "none" and info["width"] >= 2 or info["shadow"] != "none", info
        seen += 1
        if info["text"] == "Ja, ik kom":
            break
    else:
        raise AssertionError("the confirm button is not reachable with Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("text=U heeft gezegd dat u komt").is_visible()
    assert page.locator(".alert-ok[role=status]").is_visible()


def test_read_aloud_uses_the_page_language(context_factory, fresh):
    data = fresh("ar")
    context = context_factory(viewport=PHONE)
    context.add_init_script("""
        window.__spoken = [];
        class FakeUtterance { constructor(text) { this.text = text; this.lang = ''; this._l = {}; }
          addEventListener(n, f) { this._l[n] = f; } }
        window.SpeechSynthesisUtterance = FakeUtterance;
        Object.defineProperty(window, 'speechSynthesis', {value: {
          speaking: false, pending: false, getVoices: () => [],
          speak(u) { window.__spoken.push({text: u.text, lang: u.lang}); this.speaking = true; },
          cancel() { this.speaking = false; }}});
    """)
    page = context.new_page()
    page.goto(f"/i/{data['tokens']['ar']}")
    button = page.locator("#speak-button")
    button.click()
    spoken = page.evaluate("() => window.__spoken")
    assert len(spoken) == 1 and spoken[0]["lang"] == "ar"
    assert "Wijkcentrum Het Anker" in spoken[0]["text"]
    assert button.get_attribute("aria-pressed") == "true"
    button.click()  # a second press stops
    assert button.get_attribute("aria-pressed") == "false"


def test_full_slot_shows_alternatives_and_cancel_works_without_js(context_factory, fresh, assert_accessible):
    data = fresh("nl")
    page = context_factory(viewport=PHONE, java_script_enabled=False).new_page()
    token = data["tokens"]["nl"]
    page.goto(f"/i/{token}")
    page.locator("summary", has_text="Afmelden").click()
    page.locator("label", has_text="Ik heb een andere afspraak").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Ik kom niet").click()
    assert page.locator("text=U bent afgemeld").first.is_visible()
    page.goto(f"/i/{token}")
    assert "Reden: Ik heb een andere afspraak" in page.content()


def test_the_short_address_typed_from_the_letter_opens_the_page(context_factory, fresh):
    """A client without a camera types the letter's short address (`/c/XXXX-XXXX`), sloppily."""
    data = fresh("nl")
    page = context_factory(viewport=PHONE, locale="nl-NL", is_mobile=True).new_page()
    page.goto(f"/i/{data['tokens']['nl']}")
    code = page.locator("strong.code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", code)
    response = page.goto(f"/c/{code.replace('-', '').lower()}")
    assert response.status == 200
    assert page.url.endswith(f"/i/{data['tokens']['nl']}")
    assert page.locator("strong.code").inner_text().strip() == code


def test_unknown_token_page(context_factory, assert_accessible):
    page = context_factory(viewport=PHONE).new_page()
    response = page.goto("/i/definitely-not-a-valid-token-000")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Deze link werkt niet"
    assert page.locator('a[href^="tel:"]').count() >= 1
    no_horizontal_scroll(page)
    assert_accessible(page)


def test_accessibility_statement_page(context_factory, fresh, assert_accessible):
    data = fresh("nl")
    page = context_factory(viewport=PHONE).new_page()
    page.goto(f"/i/{data['tokens']['nl']}")
    with page.expect_navigation():
        page.get_by_role("link", name="Toegankelijkheid van deze pagina").click()
    assert page.url.endswith("/toegankelijkheid/")
    assert "WCAG 2.1" in page.content()
    no_horizontal_scroll(page)
    assert_accessible(page)


class FeedListener(threading.Thread):
    """Follows the consultant's websocket feed in its own thread and event loop."""

    def __init__(self, url: str, cookie: str, origin: str, want: int, timeout: float = 30):
        super().__init__(daemon=True)
        self.url, self.cookie, self.origin, self.want, self.timeout = url, cookie, origin, want, timeout
        self.ready = threading.Event()
        self.hello: dict | None = None
        self.entries: list[dict] = []
        self.error: BaseException | None = None

    def run(self):
        try:
            asyncio.run(self._listen())
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.ready.set()

    async def _listen(self):
        import websockets

        headers = {"Cookie": self.cookie, "Origin": self.origin}
        async with websockets.connect(self.url, additional_headers=headers) as ws:
            self.hello = json.loads(await asyncio.wait_for(ws.recv(), self.timeout))
            self.ready.set()
            while len(self.entries) < self.want:
                message = json.loads(await asyncio.wait_for(ws.recv(), self.timeout))
                if message["type"] == "entry":
                    self.entries.append(message)


def test_consultant_feed_receives_the_clients_actions_live(context_factory, fresh, api_session, live_server):
    data = fresh("nl")
    market, token = data["market"], data["tokens"]["nl"]
    consultant = api_session("consultant")
    cookie = "; ".join(f"{k}={v}" for k, v in consultant.cookies.items())
    ws_url = live_server.url.replace("http://", "ws://") + f"/ws/markets/{market}/feed/"
    listener = FeedListener(ws_url, cookie, live_server.url, want=3)
    listener.start()
    assert listener.ready.wait(30) and listener.error is None, listener.error
    assert listener.hello["type"] == "hello" and listener.hello["market"] == market
    head = listener.hello["head"]

    page = context_factory(viewport=PHONE).new_page()
    page.goto(f"/i/{token}")
    page.locator("summary", has_text="Welk vrijwilligerswerk").click()
    page.locator("form[action$='/wishes'] .choice label").first.click()
    page.locator("label", has_text="Tuin en natuur").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Mijn wensen doorgeven").click()
    page.locator("summary", has_text="Is vrijwilligerswerk nu moeilijk").click()
    page.locator("label", has_text="Ik heb schulden").click()
    with page.expect_navigation():
        page.locator("form[action$='/constraints'] button").click()
    page.locator("summary", has_text="Afmelden").click()
    page.locator("label", has_text="Ik ben ziek").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Ik kom niet").click()

    listener.join(40)
    assert listener.error is None, listener.error
    entries = listener.entries
    kinds = [e["kind"] for e in entries]
    assert kinds == ["lead.created", "statement.created", "invitation.updated"]
    assert entries[0]["data"]["source"] == "client" and entries[0]["data"]["activities"]
    assert entries[0]["data"]["client_id"] and "client_number" not in entries[0]["data"]
    assert entries[1]["data"]["kind"] == "constraint" and entries[1]["data"]["category"] == "debt"
    assert entries[2]["data"]["state"] == "excused" and entries[2]["data"]["excuse_category"] == "illness"
    assert [e["seq"] for e in entries] == list(range(head + 1, head + 4))


def test_consultant_dashboard_page_shows_the_wish_and_the_cancel_live(context_factory, fresh, login):
    data = fresh("tr")
    market, token = data["market"], data["tokens"]["tr"]
    dashboard = context_factory(viewport={"width": 1280, "height": 900}).new_page()
    login(dashboard, "consultant", next_url=f"/dashboard/{market}/")
    dashboard.goto(f"/dashboard/{market}/")
    dashboard.wait_for_selector('[data-feed-status][data-status="live"]', timeout=20_000)
    assert dashboard.locator('[data-count="excused"]').inner_text() == "0"
    assert dashboard.locator("[data-leads] li").count() == 0

    client = context_factory(viewport=PHONE, locale="tr-TR").new_page()
    client.goto(f"/i/{token}?lang=nl")
    client.locator("summary", has_text="Welk vrijwilligerswerk").click()
    client.locator("form[action$='/wishes'] .choice label").first.click()
    with client.expect_navigation():
        client.get_by_role("button", name="Mijn wensen doorgeven").click()
    client.locator("summary", has_text="Afmelden").click()
    client.locator("label", has_text="Ik moet voor iemand zorgen").click()
    with client.expect_navigation():
        client.get_by_role("button", name="Ik kom niet").click()

    # Live, without a reload of the dashboard.
    dashboard.wait_for_function(
        "() => document.querySelector('[data-count=\"excused\"]').textContent.trim() === '1'", timeout=15_000)
    dashboard.wait_for_function("() => document.querySelectorAll('[data-leads] li').length === 1", timeout=15_000)
    assert "Noor H." in dashboard.locator("[data-leads] li").first.inner_text()
