import io
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from django.test import Client as DjangoClient
from PIL import Image, ImageDraw
from pypdf import PdfReader

from events import letters, qr, services
from events.codes import invitation_url, new_token, short_url
from events.models import Invitation
from tests import factories as f
from tests.conftest import logged_in

needs_pdftoppm = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def svg_to_image(svg: str, scale: int = 8) -> Image.Image:
    """Rasterise our SVG (a rect + one path of `Mx yhNv1h-Nz` runs) to check it scans."""
    root = ET.fromstring(svg.encode())
    ns = {"s": "http://www.w3.org/2000/svg"}
    size = int(root.get("viewBox").split()[2])
    img = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(img)
    for run in root.find("s:path", ns).get("d").split("z"):
        if run:
            x, rest = run[1:].split(" ")
            y, n = rest.split("h")[0], rest.split("h")[1].split("v")[0]
            x, y, n = int(x), int(y), int(n)
            draw.rectangle([x * scale, y * scale, (x + n) * scale - 1, (y + 1) * scale - 1], fill=0)
    return img


def test_png_round_trip(settings):
    token = new_token()
    image = Image.open(io.BytesIO(qr.invitation_png(token)))
    assert image.format == "PNG"
    assert decode(image) == [invitation_url(token)]


def test_png_round_trip_long_production_url(settings):
    settings.PUBLIC_BASE_URL = "https://vrijwilligersmarkt.gemeente-rotterdam.example.nl"
    token = new_token()
    assert decode(Image.open(io.BytesIO(qr.invitation_png(token)))) == [
        f"https://vrijwilligersmarkt.gemeente-rotterdam.example.nl/i/{token}"]


def test_version_is_computed_once_per_length():
    qr.version_for_length.cache_clear()
    for _ in range(5):
        qr.matrix_for(invitation_url(new_token()))
    info = qr.version_for_length.cache_info()
    assert (info.misses, info.hits) == (1, 4)


def test_svg_is_valid_xml_and_scans():
    token = new_token()
    svg = qr.invitation_svg(token)
    root = ET.fromstring(svg.encode())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert decode(svg_to_image(svg)) == [invitation_url(token)]


def test_qr_endpoints_cache_headers_and_304(market, coordinator):
    inv = f.invitation(market)
    c = logged_in(coordinator)
    r = c.get(f"/api/v1/invitations/{inv.pk}/qr.png")
    assert r.status_code == 200 and r["Content-Type"] == "image/png"
    assert r["Cache-Control"].startswith("private") and "max-age=" in r["Cache-Control"]
    assert decode(Image.open(io.BytesIO(r.content))) == [invitation_url(inv.token)]
    again = c.get(f"/api/v1/invitations/{inv.pk}/qr.png", HTTP_IF_NONE_MATCH=r["ETag"])
    assert again.status_code == 304 and again.content == b""
    s = c.get(f"/api/v1/invitations/{inv.pk}/qr.svg")
    assert s.status_code == 200 and s["Content-Type"].startswith("image/svg+xml")
    assert s["ETag"] != r["ETag"]
    ET.fromstring(s.content)
    # 304 only after the role check
    assert DjangoClient().get(f"/api/v1/invitations/{inv.pk}/qr.png", HTTP_IF_NONE_MATCH=r["ETag"]).status_code == 401


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _embedded_qr(data: bytes, page: int = 0) -> list[str]:
    image = PdfReader(io.BytesIO(data)).pages[page].images[0].image
    image = image.convert("L").resize((image.width * 8, image.height * 8), Image.Resampling.NEAREST)
    return decode(image)


def test_letter_contains_qr_code_url_and_the_facts(market, settings):
    client = f.client(market.district, given="Ayşe", family="Şahin")
    inv = f.invitation(market, client)
    data = letters.letter_pdf(inv)
    text = _pdf_text(data)
    assert inv.formatted_code in text
    assert short_url(inv.code) in text  # for typing; the QR holds the long URL (below)
    assert invitation_url(inv.token) not in text
    for piece in ["Ayşe Şahin", settings.VM_MUNICIPALITY_NAME, market.venue, settings.VM_MUNICIPALITY_PHONE,
                  "Kunt u niet komen?", "uitkering"]:
        assert piece in text
    assert _embedded_qr(data) == [invitation_url(inv.token)]
    assert len(PdfReader(io.BytesIO(data)).pages) == 1


@needs_pdftoppm
def test_rendered_letter_scans(market, tmp_path):
    inv = f.invitation(market)
    (tmp_path / "l.pdf").write_bytes(letters.letter_pdf(inv))
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(tmp_path / "l.pdf"), str(tmp_path / "l")],
                   check=True, timeout=60)
    assert decode(Image.open(tmp_path / "l.png")) == [invitation_url(inv.token)]


def test_letter_in_english_and_fallback_to_dutch(market):
    en = f.invitation(market, f.client(market.district, given="Maria", family="Silva", language="en"))
    text = _pdf_text(letters.letter_pdf(en))
    assert "Invitation to the volunteer market" in text and "Can you not come?" in text
    ar = f.invitation(market, f.client(market.district, given="محمد", family="العلي", language="ar"))
    data = letters.letter_pdf(ar)  # Arabic renders with the Unicode font (and QR still scans)
    assert ar.formatted_code in _pdf_text(data)
    assert _embedded_qr(data) == [invitation_url(ar.token)]
    # a language without a catalogue falls back to Dutch, so dates and text never mix
    assert letters.letter_language("xx") == "nl" and letters.letter_language("en") == "en"
    # the PDF declares the letter's language (screen readers choose their voice from it)
    assert PdfReader(io.BytesIO(letters.letter_pdf(en))).trailer["/Root"]["/Lang"] == "en"
    assert PdfReader(io.BytesIO(data)).trailer["/Root"]["/Lang"] == letters.letter_language("ar")


def test_letter_cancel_deadline_is_the_one_the_page_and_server_use(district):
    """A later time slot does not move the deadline: the letter names the same moment the client
    page shows and `cancel_deadline` enforces (market start − VM_CANCEL_DEADLINE_HOURS)."""
    import datetime as dt

    from events.client_services import cancel_deadline

    market = f.market(district, state="planned", starts_in_hours=24 * 7)
    slot = services.timeslot_create(market=market, starts_at=market.starts_at + dt.timedelta(hours=3),
                                    ends_at=market.starts_at + dt.timedelta(hours=4))
    inv = f.invitation(market)
    Invitation.objects.filter(pk=inv.pk).update(slot=slot)
    inv = letters.letters_select(Invitation.objects.filter(pk=inv.pk)).get()
    deadline = cancel_deadline(market)
    texts = letters.letter_texts(inv)
    assert f"{letters._date(deadline)} om {letters._time(deadline)}" in texts["cancel"]
    slot_based = slot.starts_at - (market.starts_at - deadline)
    assert letters._time(slot_based) != letters._time(deadline)
    assert f"om {letters._time(slot_based)}" not in texts["cancel"]


def test_follow_up_letter_says_why(district):
    first = f.market(district, state="open")
    f.invitation(first)
    services.market_close(market=first)
    later = f.market(district, state="planned", starts_in_hours=24 * 7)
    [inv] = services.invitation_follow_up(market=first, later=later)
    inv = letters.letters_select(Invitation.objects.filter(pk=inv.pk)).get()
    text = _pdf_text(letters.letter_pdf(inv))
    assert "Nieuwe uitnodiging" in text and "U kwam niet naar de markt" in text and "ronde 2" in text


def test_market_letters_pdf_one_page_per_issued_invitation(market, coordinator, consultant, django_assert_max_num_queries):
    invs = [f.invitation(market) for _ in range(7)]
    Invitation.objects.filter(pk=invs[0].pk).update(state=Invitation.State.CHECKED_IN)
    c = logged_in(coordinator)
    with django_assert_max_num_queries(12):
        r = c.get(f"/api/v1/markets/{market.pk}/letters.pdf")
        data = b"".join(r.streaming_content)
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert "attachment" in r["Content-Disposition"] and r["Cache-Control"] == "private, no-store"
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 6 == int(r["X-Letter-Count"])
    assert reader.trailer["/Root"]["/Lang"] == "nl" and reader.metadata.title  # a batch mixes languages
    text = _pdf_text(data)
    assert all(i.formatted_code in text for i in invs[1:]) and invs[0].formatted_code not in text
    assert _embedded_qr(data, page=5)[0].startswith(invitation_url(""))
    assert logged_in(consultant).get(f"/api/v1/markets/{market.pk}/letters.pdf").status_code == 403


def test_letter_endpoint(market, coordinator, host):
    inv = f.invitation(market)
    r = logged_in(coordinator).get(f"/api/v1/invitations/{inv.pk}/letter.pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert inv.formatted_code in _pdf_text(r.content)
    assert logged_in(host).get(f"/api/v1/invitations/{inv.pk}/letter.pdf").status_code == 403


def test_arabic_is_joined_and_in_visual_order():
    shaped = letters.visual("محمد", rtl=True)
    assert shaped != "محمد" and all("\ufe70" <= ch <= "\ufefc" for ch in shaped)
    assert letters.visual("Jan de Vries") == "Jan de Vries"
    mixed = letters.visual("Beste محمد,")
    assert mixed.startswith("Beste ")
