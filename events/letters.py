"""Invitation letters as PDF (DESIGN.md §6), drawn straight on a reportlab canvas.

- One letter = one A4 page, in the client's language (`translation.override`; a language
  without a catalogue falls back to Dutch as a whole, so text and dates never mix); msgids are
  plain Dutch (B1), translations live in locale/.
- The QR code is embedded as a tiny 1-bit image (one pixel per module, drawn scaled without
  interpolation): crisp at any zoom, ~1 KB per page, and cheap to hold until the PDF is saved.
- A whole market's letters are written page by page into a spooled temporary file (memory
  up to 8 MB, then disk); invitations are read with `.iterator()`, so no page's Django objects
  are kept. Each finished page is compressed at once (LetterCanvas.showPage) and `save()`
  streams the formatted objects to the file (_StreamingPDFFile) instead of joining the whole
  PDF in memory; bench/qr_letters.py measures the peak (see bench/README.md).
- Fonts: DejaVu Sans (Latin incl. ş/ë, Arabic, Cyrillic) when installed (fonts-dejavu-core),
  otherwise reportlab's bundled Vera, otherwise Helvetica. Arabic is joined and put in visual
  order per line (arabic-reshaper + python-bidi); an Arabic letter is right-aligned.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import io
import re
import tempfile
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpResponse
from django.utils.http import content_disposition_header
from django.utils import formats, timezone, translation
from django.utils.translation import gettext
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from events import qr
from events.client_services import cancel_deadline
from events.codes import invitation_url, short_url
from events.models import Invitation

try:  # right-to-left support (pyproject dependencies); letters still render without them
    from arabic_reshaper import reshape as _reshape
    from bidi import get_display as _bidi_display
except ImportError:  # pragma: no cover
    _reshape = None
    _bidi_display = None

PAGE_W, PAGE_H = A4
MARGIN = 22 * mm
TEXT_W = PAGE_W - 2 * MARGIN
QR_SIZE = 42 * mm
BODY = 10.5
LEAD = 14.5
SPOOL_MAX_MEMORY = 8 * 1024 * 1024

FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
             Path("/usr/local/share/fonts")]


@lru_cache(maxsize=1)
def fonts() -> tuple[str, str, str]:
    """Register the letter fonts once; returns (regular, bold, mono) font names."""
    for folder in FONT_DIRS:
        regular, bold, mono = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf", folder / "DejaVuSansMono.ttf"
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont("VM-Sans", str(regular)))
            pdfmetrics.registerFont(TTFont("VM-Sans-Bold", str(bold)))
            if mono.exists():
                pdfmetrics.registerFont(TTFont("VM-Mono", str(mono)))
                return "VM-Sans", "VM-Sans-Bold", "VM-Mono"
            return "VM-Sans", "VM-Sans-Bold", "Courier"
    try:  # reportlab ships Vera: Latin-1 and more, no Arabic
        pdfmetrics.registerFont(TTFont("VM-Sans", "Vera.ttf"))
        pdfmetrics.registerFont(TTFont("VM-Sans-Bold", "VeraBd.ttf"))
        pdfmetrics.registerFont(TTFont("VM-Mono", "VeraMono.ttf"))
        return "VM-Sans", "VM-Sans-Bold", "VM-Mono"
    except Exception:  # pragma: no cover - reportlab without its fonts
        return "Helvetica", "Helvetica-Bold", "Courier"


_ = gettext


def letter_language(language: str | None) -> str:
    """The client's language if the letter exists in it, else Dutch (dates and text must match)."""
    if language in ("nl", "en"):
        return language
    if language:
        with translation.override(language):
            title = "Uitnodiging voor de vrijwilligersmarkt"
            if gettext(title) != title:
                return language
    return "nl"


def _date(value: dt.datetime | dt.date) -> str:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value)
    return formats.date_format(value, "l j F Y")


def _time(value: dt.datetime) -> str:
    return formats.time_format(timezone.localtime(value), "H:i")


def letter_texts(invitation: Invitation) -> dict:
    """Every piece of text of the letter, in the active language (also used by tests)."""
    client, market, slot = invitation.client, invitation.market, invitation.slot
    start = slot.starts_at if slot else market.starts_at
    end = slot.ends_at if slot else market.ends_at
    deadline = cancel_deadline(market)  # the market's start, as the client page and the server count
    phone = settings.VM_MUNICIPALITY_PHONE
    previous = invitation.previous if invitation.previous_id else None
    # A market created over the API without venue and address prints no "Waar" row.
    place = ", ".join(part for part in (market.venue, market.address) if part)
    # The market's own list is typed by the coordinator in Dutch: Dutch letters use it, other
    # languages get the standard (translated) list.
    bring = []
    if translation.get_language() == "nl":
        bring = [line.strip("-• ").strip() for line in (market.what_to_bring or "").splitlines() if line.strip()]
    if not bring:
        bring = [_("Deze brief (of de code op uw telefoon)"),
                 _("Een identiteitsbewijs: paspoort, ID-kaart of verblijfsdocument")]
    return {
        "municipality": settings.VM_MUNICIPALITY_NAME,
        "title": _("Nieuwe uitnodiging voor de vrijwilligersmarkt") if invitation.round > 1
        else _("Uitnodiging voor de vrijwilligersmarkt"),
        "letter_date": _("Datum van deze brief: %(date)s") % {"date": _date(timezone.localdate())},
        "recipient": f"{client.given_name} {client.family_name}".strip(),
        "address": client.address,
        "salutation": _("Beste %(name)s,") % {"name": f"{client.given_name} {client.family_name}".strip()},
        "intro": _("U moet naar de vrijwilligersmarkt in uw wijk komen. Daar praat u met een consulent en met "
                   "organisaties. Samen kijken we welk vrijwilligerswerk bij u past. U kunt ook vertellen wat u "
                   "al doet, of waarom vrijwilligerswerk nu moeilijk is."),
        "follow_up": (_("U kwam niet naar de markt van %(date)s. Daarom krijgt u deze nieuwe uitnodiging.")
                      % {"date": _date(previous.market.starts_at)}) if previous else "",
        "facts": [
            (_("Wanneer"), _date(start)),
            (_("Hoe laat"), _("van %(start)s tot %(end)s") % {"start": _time(start), "end": _time(end)}),
        ] + ([(_("Waar"), place)] if place else []),
        "scan": _("Scan de code met de camera van uw telefoon. U ziet dan uw afspraak. "
                  "U kunt daar ook uw taal kiezen."),
        "no_camera": _("Geen telefoon met camera? Ga naar dit adres:"),
        "url": invitation_url(invitation.token),  # in the QR code
        "short_url": short_url(invitation.code),  # printed, for typing
        "code_label": _("Uw code"),
        "code": invitation.formatted_code,
        "bring_letter": _("Neem deze brief mee naar de markt."),
        "bring_title": _("Wat neemt u mee?"),
        "bring": bring,
        "cancel_title": _("Kunt u niet komen?"),
        "cancel": _("Meld u dan af vóór %(deadline)s. Bel %(phone)s of scan de code en meld u af op uw pagina. "
                    "Zeg waarom u niet kunt komen. Dan krijgt u een nieuwe afspraak.")
        % {"deadline": _("%(date)s om %(time)s") % {"date": _date(deadline), "time": _time(deadline)},
           "phone": phone},
        "absent_title": _("Wat gebeurt er als u niet komt?"),
        "absent": _("Komt u niet en heeft u zich niet op tijd afgemeld? Dan krijgt u een nieuwe brief voor een "
                    "volgende markt. Komt u zonder goede reden niet, dan kan dat gevolgen hebben voor uw uitkering."),
        "questions": _("Heeft u vragen? Bel %(phone)s.") % {"phone": phone},
        "closing": _("Met vriendelijke groet,"),
        "reference": _("Kenmerk %(code)s · ronde %(round)s") % {"code": invitation.formatted_code,
                                                               "round": invitation.round},
    }


_RTL_CHARS = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def visual(text: str, rtl: bool = False) -> str:
    """Text in the order and letter forms a PDF needs (PDF draws glyphs left to right as given).

    Arabic letters are joined (arabic-reshaper) and the line reordered by the Unicode bidi
    algorithm (python-bidi); without those packages the text is drawn as is."""
    if _reshape is None or not _RTL_CHARS.search(text):
        return text
    return _bidi_display(_reshape(text), base_dir="R" if rtl else "L")


class _Pen:
    """A cursor moving down the page, wrapping paragraphs to the text width. In a right-to-left
    letter every line is aligned to the right edge of its column."""

    def __init__(self, canvas: Canvas, regular: str, bold: str, rtl: bool = False) -> None:
        self.c, self.regular, self.bold, self.rtl = canvas, regular, bold, rtl
        self.y = PAGE_H - MARGIN

    def line(self, text: str, *, size: float = BODY, bold: bool = False, x: float = MARGIN,
             width: float = TEXT_W, lead: float = LEAD, font: str | None = None):
        self.c.setFont(font or (self.bold if bold else self.regular), size)
        if self.rtl:
            self.c.drawRightString(x + width, self.y, visual(text, True))
        else:
            self.c.drawString(x, self.y, visual(text))
        self.y -= lead

    def para(self, text: str, *, size: float = BODY, bold: bool = False, x: float = MARGIN,
             width: float = TEXT_W, gap: float = 5):
        font = self.bold if bold else self.regular
        for part in simpleSplit(text, font, size, width):
            self.line(part, size=size, bold=bold, x=x, width=width, lead=size * 1.38)
        self.y -= gap


def draw_letter(canvas: Canvas, invitation: Invitation) -> None:
    """Draw one letter on the current page of `canvas` and finish the page."""
    regular, bold, mono = fonts()
    language = letter_language(invitation.client.language)
    with translation.override(language):
        t = letter_texts(invitation)
        rtl = translation.get_language_bidi()
    pen = _Pen(canvas, regular, bold, rtl=rtl)
    c = canvas

    pen.line(t["municipality"], size=15, bold=True, lead=20)
    pen.line(t["letter_date"], size=9, lead=22)
    pen.line(t["recipient"], bold=True)
    if t["address"]:
        pen.para(t["address"], gap=0)
    pen.y -= 14
    pen.para(t["title"], size=14, bold=True, gap=8)
    pen.para(t["salutation"], gap=3)
    if t["follow_up"]:
        pen.para(t["follow_up"], bold=True)
    pen.para(t["intro"], gap=8)

    # The facts, in a light box (label column on the reading side).
    box_top = pen.y + LEAD - 4
    label_w = 26 * mm
    value_w = TEXT_W - label_w - 8 * mm
    label_x = MARGIN + 4 * mm + (value_w if rtl else 0)
    value_x = MARGIN + 4 * mm + (0 if rtl else label_w)
    for label, value in t["facts"]:
        pen.line(label, bold=True, x=label_x, width=label_w, lead=0)
        pen.para(value, x=value_x, width=value_w, gap=2)
    c.setStrokeGray(0.55)
    c.setLineWidth(0.8)
    c.rect(MARGIN, pen.y + LEAD - 10, TEXT_W, box_top - (pen.y + LEAD - 10), stroke=1, fill=0)
    pen.y -= 14

    # The QR code with the URL and the short code next to it.
    qr_top = pen.y + LEAD - 4
    matrix = qr.matrix_for(t["url"])
    c.drawImage(ImageReader(qr.matrix_image(matrix)), MARGIN, qr_top - QR_SIZE, QR_SIZE, QR_SIZE)
    text_x = MARGIN + QR_SIZE + 6 * mm
    text_w = TEXT_W - QR_SIZE - 6 * mm
    pen.para(t["scan"], x=text_x, width=text_w, gap=4)
    pen.para(t["no_camera"], x=text_x, width=text_w, gap=0)
    pen.para(t["short_url"], x=text_x, width=text_w, gap=4)
    pen.line(t["code_label"], size=9, x=text_x, width=text_w, lead=19)
    pen.line(t["code"], size=20, x=text_x, width=text_w, lead=20, font=mono)
    pen.para(t["bring_letter"], x=text_x, width=text_w, bold=True, gap=0)
    pen.y = min(pen.y, qr_top - QR_SIZE - LEAD) - 6

    pen.para(t["bring_title"], size=11.5, bold=True, gap=1)
    bullet_x = MARGIN + (TEXT_W - 4 * mm if rtl else 2 * mm)
    for item in t["bring"]:
        pen.line("•", x=bullet_x, width=2 * mm, lead=0)
        pen.para(item, x=MARGIN + (0 if rtl else 7 * mm), width=TEXT_W - 7 * mm, gap=0)
    pen.y -= 6
    pen.para(t["cancel_title"], size=11.5, bold=True, gap=1)
    pen.para(t["cancel"], gap=6)
    pen.para(t["absent_title"], size=11.5, bold=True, gap=1)
    pen.para(t["absent"], gap=8)
    pen.para(t["questions"], gap=8)
    pen.para(t["closing"], gap=0)
    pen.para(t["municipality"], gap=0)

    c.setFont(regular, 7.5)
    c.setFillGray(0.35)
    c.drawString(MARGIN, 12 * mm, visual(t["reference"], rtl))
    c.setFillGray(0)
    c.showPage()


class _AlreadyFlated:
    """A FlateDecode filter whose content was compressed when the page was finished."""

    pdfname = "FlateDecode"

    def encode(self, data):
        return data


_stream_to: contextvars.ContextVar = contextvars.ContextVar("vm_pdf_stream_to", default=None)


class _StreamingPDFFile(pdfdoc.PDFFile):
    """reportlab's output collector, which keeps every formatted object and joins them at the
    end: for a 20,000-page batch that is the whole file two or three times in memory. While a
    LetterCanvas saves (`_stream_to` set, per thread/task), each object goes straight to the
    output file instead; everyone else gets reportlab's behaviour unchanged."""

    def __init__(self, pdfVersion=pdfdoc.PDF_VERSION_DEFAULT):
        target = _stream_to.get()
        self.strings = []
        self.write = target.write if target is not None else self.strings.append
        self.offset = 0
        self.add(pdfdoc.pdfdocEnc("%%PDF-%s.%s" % pdfVersion)
                 + b"\n%\223\214\213\236 ReportLab Generated PDF document (opensource)\n")


pdfdoc.PDFFile = _StreamingPDFFile  # format() looks the collector up by this module name


class LetterCanvas(Canvas):
    """reportlab keeps every finished page's content stream, uncompressed (and later
    ASCII85-encoded), until save(). Compressing each page as it is finished keeps a batch's
    memory at ~3 KB per page instead of ~7 KB, and skips ASCII85 (25 % larger files)."""

    def showPage(self):
        super().showPage()
        page = self._doc.Pages.pages[-1]
        if page.stream and not page.Contents:
            stream = pdfdoc.PDFStream()
            stream.content = pdfdoc.PDFZCompress.encode(page.stream)
            stream.filters = [_AlreadyFlated()]
            stream.__Comment__ = "page stream"
            page.Contents = stream
            page.stream = None

    def save(self):
        out = self._filename
        if not hasattr(out, "write") or (hasattr(out, "tell") and out.tell() != 0):
            super().save()
            return
        token = _stream_to.set(out)
        try:
            super().save()
        finally:
            _stream_to.reset(token)


def _canvas(out, title: str, lang: str) -> Canvas:
    # `lang` is the document language in the PDF catalogue (/Lang): screen readers pick their
    # voice from it. A batch mixes languages; it declares the site language (Dutch).
    c = LetterCanvas(out, pagesize=A4, pageCompression=1, invariant=0, lang=lang)
    c.setTitle(title)
    c.setAuthor(settings.VM_MUNICIPALITY_NAME)
    return c


def letters_select(qs):
    """The joins a letter needs, so a batch runs in one query per chunk."""
    return qs.select_related("client", "market", "slot", "previous__market")


def letter_pdf(invitation: Invitation) -> bytes:
    out = io.BytesIO()
    c = _canvas(out, f"{settings.VM_MUNICIPALITY_NAME} – {invitation.formatted_code}",
                letter_language(invitation.client.language))
    draw_letter(c, invitation)
    c.save()
    return out.getvalue()


def letter_response(invitation: Invitation, *, as_attachment: bool = False) -> HttpResponse:
    """One letter as a PDF response (the API shows it, the admin downloads it); the PDF declares
    the letter's own language, where a batch declares Dutch."""
    response = HttpResponse(letter_pdf(invitation), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment, f"uitnodiging-{invitation.formatted_code}.pdf")
    response["Cache-Control"] = "private, no-store"
    return response


def letters_pdf_file(invitations: Iterable[Invitation], *, title: str = "") -> tuple[tempfile.SpooledTemporaryFile, int]:
    """Write all letters into a spooled temporary file, page by page. Returns (file at 0, pages)."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_MEMORY)
    c = _canvas(out, title or settings.VM_MUNICIPALITY_NAME, settings.LANGUAGE_CODE)
    pages = 0
    for invitation in invitations:
        draw_letter(c, invitation)
        pages += 1
    if pages == 0:
        c.showPage()  # a valid, empty PDF
    c.save()
    out.seek(0)
    return out, pages


def market_letters_queryset(market):
    """The letters to print for a market: every invitation still `issued`, in a stable order."""
    qs = Invitation.objects.filter(market=market, state=Invitation.State.ISSUED, walk_in=False)
    return letters_select(qs).order_by("client__family_name", "client__given_name", "pk")


def iter_file(f, chunk: int = 256 * 1024) -> Iterator[bytes]:
    try:
        while block := f.read(chunk):
            yield block
    finally:
        f.close()


def market_letters_response(market) -> FileResponse:
    """The market's letters (every `issued` invitation) as one PDF download (API and admin)."""
    pdf, pages = letters_pdf_file(market_letters_queryset(market).iterator(chunk_size=500), title=market.name)
    response = FileResponse(pdf, content_type="application/pdf", as_attachment=True,
                            filename=f"brieven-markt-{market.pk}.pdf")
    response["Cache-Control"] = "private, no-store"
    response["X-Letter-Count"] = str(pages)
    return response


def invitations_letters_response(invitations, *, filename: str) -> FileResponse:
    pdf, pages = letters_pdf_file(invitations, title=settings.VM_MUNICIPALITY_NAME)
    response = FileResponse(pdf, content_type="application/pdf", as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    response["X-Letter-Count"] = str(pages)
    return response
