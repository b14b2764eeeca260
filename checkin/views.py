"""The scanner page for hosts (DESIGN.md §7): pick a market, then scan (mobile first)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _

from backend.auth import CONSULTANT, COORDINATOR, HOST, MEDIATOR, has_role
from backend.errors import Forbidden, NotFound
from checkin.selectors import market_checkin_count
from events.models import Market
from events.selectors import market_get_for_user, markets_visible_to

SCAN_ROLES = (HOST, MEDIATOR, CONSULTANT, COORDINATOR)
WALK_IN_ROLES = (HOST, CONSULTANT, COORDINATOR)


def scanner_strings() -> dict[str, str]:
    """Every text the scanner script shows, translated for the request (msgids plain Dutch)."""
    return {
        "ok": _("Aangemeld"),
        "already_checked_in": _("Al aangemeld"),
        "unknown": _("Onbekende code"),
        "revoked": _("Uitnodiging ingetrokken"),
        "wrong_market": _("Andere markt"),
        "not_open": _("Markt niet open"),
        "excused": _("Afgemeld"),
        "error": _("Fout"),
        "waiting": _("Wacht op verzenden"),
        "waiting_long": _("Geen internet. De scan is bewaard en wordt verzonden zodra er weer internet is."),
        "sending": _("Bezig met verzenden…"),
        "sent": _("Verzonden"),
        "rate_limited": _("Te veel onbekende codes. Wacht %(seconds)s seconden."),
        "logged_out": _("U bent uitgelogd. Log opnieuw in."),
        "camera_off": _("De camera is uit."),
        "camera_on": _("Richt de camera op de QR-code."),
        "camera_start": _("Camera aan"),
        "camera_stop": _("Camera uit"),
        "camera_denied": _("De camera werkt niet of u gaf geen toestemming. Typ de code in."),
        "code_invalid": _("Typ de 8 tekens van de code, bijvoorbeeld ABCD-1234."),
        "offline": _("Geen internet"),
        "online": _("Online"),
        "queue_count": _("Wachten op verzenden: %(count)s"),  # label style: no plural forms needed
        "namesake": _("Er zijn meer mensen met deze naam. Vraag een consulent om de juiste persoon te kiezen."),
        "no_results": _("Niemand gevonden. Vul hieronder de gegevens in om de persoon toe te voegen."),
        "register": _("Aanmelden"),
        "invited": _("uitgenodigd"),
        "checked_in": _("al aangemeld"),
        "walk_in_offline": _("Inloop aanmelden kan alleen met internet."),
        "scan_qr": _("QR-code"),
        "typed_code": _("Code"),
        "walk_in": _("Inloop"),
        # peer mediators: a scan finds the client's leads to add a note to (DESIGN.md §2)
        "note": _("Notitie"),
        "look_up": _("Opzoeken"),
        "note_offline": _("Een notitie kan alleen met internet."),
        "note_pick": _("Kies eerst de aanmelding waar uw notitie over gaat."),
        "note_empty": _("Schrijf eerst uw notitie."),
        "note_saved": _("Notitie opgeslagen. De consulent ziet hem meteen."),
        "no_organisation": _("Zonder organisatie"),
    }


@login_required
def market_list(request):
    if not has_role(request.user, *SCAN_ROLES):
        raise PermissionDenied
    markets = [m for m in markets_visible_to(request.user) if m.state != Market.State.CLOSED]
    markets.sort(key=lambda m: (m.state != Market.State.OPEN, m.starts_at))
    return render(request, "checkin/market_list.html", {"markets": markets})


@login_required
def scanner(request, market_id: int):
    try:
        market = market_get_for_user(user=request.user, market_id=market_id, roles=SCAN_ROLES)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from exc
    counts = market_checkin_count(market=market)
    config = {
        "market": market.pk,
        "urls": {
            "redeem": "/api/v1/checkin/redeem",
            "sync": "/api/v1/checkin/sync",
            "count": f"/api/v1/checkin/markets/{market.pk}/count",
            "clients": f"/api/v1/markets/{market.pk}/clients",
            "walk_ins": f"/api/v1/markets/{market.pk}/walk-ins",
            "login": f"/login/?next=/scan/{market.pk}/",
            "note_lookup": f"/api/v1/markets/{market.pk}/leads/lookup",
            "notes": "/api/v1/leads/{lead}/notes",
        },
        "strings": scanner_strings(),
        "checked_in": counts["checked_in"],
        "invited": counts["invited"],
        "can_note": has_role(request.user, MEDIATOR),
    }
    return render(request, "checkin/scanner.html", {
        "market": market, "config": config, "counts": counts,
        "can_walk_in": has_role(request.user, *WALK_IN_ROLES),
        "can_note": config["can_note"],
    })
