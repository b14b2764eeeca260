"""The client's copy of an agreement (DESIGN.md §9) as a one-page PDF, in the client's language.

Texts are plain Dutch (B1) msgids rendered under translation.override(client.language); the
i18n catalogue supplies the other languages. Fonts come from events.letters (DejaVu when
installed). The copy never shows internal notes or capacity overrides, only what the client
agreed to.
"""

from __future__ import annotations

import io

from django.conf import settings
from django.utils import formats, translation
from django.utils.translation import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from events.letters import fonts
from events.models import Agreement

PAGE_W, PAGE_H = A4
MARGIN = 22 * mm
TEXT_W = PAGE_W - 2 * MARGIN


def _hours(value) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return formats.number_format(float(text)) if "." in text else text


def agreement_texts(agreement: Agreement) -> dict:
    """All texts of the copy, in the active language (testable without parsing the PDF)."""
    client = agreement.client
    texts = {
        "title": _("Afspraak over vrijwilligerswerk"),
        "intro": _("Dit is uw eigen kopie van de afspraak die u met uw consulent heeft gemaakt. Bewaar deze brief."),
        "name_label": _("Naam"),
        "name": f"{client.given_name} {client.family_name}".strip(),
        "organisation_label": _("Organisatie"),
        "organisation": agreement.organisation.name,
        "activity_label": _("Wat u gaat doen"),
        "activity": agreement.activity.title if agreement.activity_id else _("Uw huidige vrijwilligerswerk"),
        "hours_label": _("Uren per week"),
        "hours": _("%(hours)s uur per week") % {"hours": _hours(agreement.hours_per_week)},
        "start_label": _("Startdatum"),
        "start": formats.date_format(agreement.start_date, "j F Y"),
        "end_label": _("Einddatum of evaluatie"),
        "end": formats.date_format(agreement.end_date, "j F Y") if agreement.end_date else "—",
        "version_label": _("Versie"),
        "version": str(agreement.version),
        "help": _("Wilt u iets veranderen, of lukt het niet? Bel uw consulent via %(phone)s.")
        % {"phone": settings.VM_MUNICIPALITY_PHONE},
        "rights": _("U doet dit werk naar vermogen. Het werk mag geen betaald werk vervangen."),
        "sender": settings.VM_MUNICIPALITY_NAME,
    }
    if agreement.formalised:
        texts["formalised"] = _("U deed dit vrijwilligerswerk al. Met deze afspraak telt het mee.")
    return texts


def agreement_pdf(agreement: Agreement) -> bytes:
    language = agreement.client.language or "nl"
    with translation.override(language):
        texts = agreement_texts(agreement)
        rtl = translation.get_language_bidi()
    regular, bold, _mono = fonts()
    out = io.BytesIO()
    c = Canvas(out, pagesize=A4, pageCompression=1)
    c.setTitle(texts["title"])
    c.setAuthor(texts["sender"])
    c.setSubject(f"{texts['name']} — {texts['organisation']}")

    def line(y: float, text: str, *, size: float = 11, font: str = regular) -> float:
        c.setFont(font, size)
        for part in simpleSplit(text, font, size, TEXT_W):
            if rtl:
                c.drawRightString(PAGE_W - MARGIN, y, part)
            else:
                c.drawString(MARGIN, y, part)
            y -= size * 1.45
        return y

    y = PAGE_H - MARGIN
    y = line(y, texts["sender"], size=10, font=bold) - 10
    y = line(y, texts["title"], size=18, font=bold) - 6
    y = line(y, texts["intro"]) - 8
    if "formalised" in texts:
        y = line(y, texts["formalised"]) - 8
    for key in ("name", "organisation", "activity", "hours", "start", "end", "version"):
        y = line(y, texts[f"{key}_label"], size=9, font=bold)
        y = line(y, texts[key], size=12) - 6
    y -= 6
    y = line(y, texts["rights"]) - 4
    line(y, texts["help"])
    c.showPage()
    c.save()
    return out.getvalue()
