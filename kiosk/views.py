"""The kiosk page /kiosk/ (DESIGN.md §8). Anonymous: the tablet authenticates its API calls
with its device token (kept in localStorage), never with a session."""

from __future__ import annotations

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from events.models import LANGUAGE_CHOICES


def kiosk_strings() -> dict[str, str]:
    """Every text kiosk.js shows, keyed by its Dutch msgid (passed with json_script)."""
    return {
        "Koppelen…": _("Koppelen…"),
        "Deze koppelcode kennen we niet. Controleer de code of vraag een nieuwe.":
            _("Deze koppelcode kennen we niet. Controleer de code of vraag een nieuwe."),
        "Te veel pogingen. Wacht %(s)s seconden en probeer het opnieuw.":
            _("Te veel pogingen. Wacht %(s)s seconden en probeer het opnieuw."),
        "Geen verbinding. Probeer het zo opnieuw.": _("Geen verbinding. Probeer het zo opnieuw."),
        "Er ging iets mis. Probeer het opnieuw.": _("Er ging iets mis. Probeer het opnieuw."),
        "Deze tablet is afgemeld door de coördinator. U kunt hier niets meer registreren. "
        "Vraag de coördinator om een nieuwe koppelcode.":
            _("Deze tablet is afgemeld door de coördinator. U kunt hier niets meer registreren. "
              "Vraag de coördinator om een nieuwe koppelcode."),
        # Label style ("Aanmeldingen: 1"), so one message fits every count without plural forms.
        "Aanmeldingen: %(leads)s · bezet: %(agreements)s van %(capacity)s plaatsen · begeleiding voor: %(guidance)s":
            _("Aanmeldingen: %(leads)s · bezet: %(agreements)s van %(capacity)s plaatsen · "
              "begeleiding voor: %(guidance)s"),
        "Vol": _("Vol"),
        "Stand: %(location)s": _("Stand: %(location)s"),
        "Camera starten…": _("Camera starten…"),
        "Houd de QR-code van de brief voor de camera.": _("Houd de QR-code van de brief voor de camera."),
        "De camera werkt niet. Typ de code van de brief.": _("De camera werkt niet. Typ de code van de brief."),
        "Bezoeker zoeken…": _("Bezoeker zoeken…"),
        "Geen verbinding: naam niet bekend. De aanmelding wordt bewaard en later verstuurd.":
            _("Geen verbinding: naam niet bekend. De aanmelding wordt bewaard en later verstuurd."),
        "Bezoeker": _("Bezoeker"),
        "Taal: %(language)s": _("Taal: %(language)s"),
        "Kies minstens één activiteit.": _("Kies minstens één activiteit."),
        "Kies koud, warm of heet.": _("Kies koud, warm of heet."),
        "Een notitie is hoogstens 1000 tekens.": _("Een notitie is hoogstens 1000 tekens."),
        "Versturen…": _("Versturen…"),
        "Aangemeld": _("Aangemeld"),
        "%(name)s is aangemeld voor: %(activities)s.": _("%(name)s is aangemeld voor: %(activities)s."),
        "De aanmelding van %(name)s is bijgewerkt: %(activities)s.":
            _("De aanmelding van %(name)s is bijgewerkt: %(activities)s."),
        "Bewaard, nog niet verstuurd": _("Bewaard, nog niet verstuurd"),
        "Er is nu geen verbinding. De aanmelding is bewaard op deze tablet en wordt vanzelf verstuurd.":
            _("Er is nu geen verbinding. De aanmelding is bewaard op deze tablet en wordt vanzelf verstuurd."),
        "Niet aangemeld": _("Niet aangemeld"),
        "Deze bezoeker is nog niet binnen gemeld. Stuur de bezoeker eerst naar de ingang.":
            _("Deze bezoeker is nog niet binnen gemeld. Stuur de bezoeker eerst naar de ingang."),
        "Deze code of QR-code kennen we niet. Controleer de code.":
            _("Deze code of QR-code kennen we niet. Controleer de code."),
        "Deze uitnodiging is ingetrokken. Stuur de bezoeker naar de ingang.":
            _("Deze uitnodiging is ingetrokken. Stuur de bezoeker naar de ingang."),
        "Deze uitnodiging is voor een andere markt.": _("Deze uitnodiging is voor een andere markt."),
        "Een gekozen activiteit hoort niet bij deze stand. De lijst is ververst; kies opnieuw.":
            _("Een gekozen activiteit hoort niet bij deze stand. De lijst is ververst; kies opnieuw."),
        "Wacht op verbinding: %(n)s aanmelding(en)": _("Wacht op verbinding: %(n)s aanmelding(en)"),
        "Online": _("Online"),
        "Offline": _("Offline"),
        "Verstuurd: %(name)s": _("Verstuurd: %(name)s"),
        "Niet gelukt voor %(name)s: %(message)s": _("Niet gelukt voor %(name)s: %(message)s"),
    }


@require_GET
def kiosk_page(request):
    context = {
        "kiosk_strings": kiosk_strings(),
        "kiosk_languages": dict(LANGUAGE_CHOICES),
    }
    return render(request, "kiosk/kiosk.html", context)
