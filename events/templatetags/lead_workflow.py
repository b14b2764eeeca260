"""{% lead_workflow_config market as cfg %}: what the dashboard's lead workflow needs in the
browser (user, roles, the market's organisations and activities, labels, later markets for the
follow-up summons), passed to JS with json_script. Texts are plain Dutch msgids."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from backend.auth import CONSULTANT, COORDINATOR, user_roles
from events.lead_labels import DECLINED_BY_LABELS, EXEMPTION_LABELS, LEAD_STATE_LABELS
from events.models import Market, Stand

register = template.Library()


def _texts() -> dict:
    return {
        "tab_new": _("Nieuw"), "tab_mine": _("Mijn leads"), "tab_all": _("Alle"),
        "claim": _("Neem deze lead"), "release": _("Geef terug"), "open": _("Bekijk"),
        "taken_by": _("Genomen door %(name)s"), "yours": _("Van u"), "no_leads": _("Geen leads in deze lijst."),
        "claimed_ok": _("U heeft deze lead genomen."), "saved": _("Opgeslagen."),
        "note_saved": _("Notitie opgeslagen."), "no_notes": _("Nog geen notities."),
        "client_copy": _("Kopie voor de klant (PDF)"), "error": _("Er ging iets mis. Probeer het opnieuw."),
        "hours_reason_needed": _("Meer dan %(limit)s uur per week: vul een reden in."),
        "arrivals_summary": _("%(n)s aankomsten"), "arrivals_peak": _("%(n)s aankomsten, de meeste om %(time)s"),
        "search_count": _("%(shown)s van %(total)s"),
        "closed_summary": _("Markt gesloten: %(no_shows)s niet gekomen. %(created)s nieuwe oproepen verstuurd."),
        "closed_only": _("Markt gesloten: %(no_shows)s niet gekomen."),
        "choose_market": _("Kies de markt voor de nieuwe oproepen."),
        "via": _("via %(source)s"), "warmth": _("interesse: %(warmth)s"),
        "source_kiosk": _("stand"), "source_client": _("klant zelf"), "source_consultant": _("consulent"),
        "warmth_cold": _("laag"), "warmth_warm": _("gemiddeld"), "warmth_hot": _("hoog"),
        "select_lead": _("Kies een lead in de lijst."),
        "network_error": _("Geen verbinding met de server. Probeer het opnieuw."),
        "summary_agreement": _("Afspraak: %(what)s, %(hours)s uur per week, van %(start)s tot %(end)s."),
        "summary_exemption": _("Vrijstelling: %(category)s. Opnieuw bekijken op %(date)s."),
        "summary_follow_up": _("Vervolgafspraak op %(date)s."),
        "summary_declined": _("%(by)s afgewezen. Reden: %(reason)s"),
        "version_line": _("Versie %(version)s: %(what)s, %(hours)s uur per week, tot %(end)s (%(author)s)"),
        "version_current": _("geldt nu"),
        "version_saved": _("Nieuwe versie opgeslagen (versie %(version)s)."),
        "start_required": _("Vul een startdatum in."), "end_required": _("Vul een einddatum of evaluatiedatum in."),
    }


@register.simple_tag(takes_context=True)
def lead_workflow_config(context, market: Market) -> dict:
    request = context["request"]
    user = request.user
    roles = user_roles(user)
    in_district = CONSULTANT in roles and user.districts.filter(pk=market.district_id).exists()
    stands = (Stand.objects.filter(market=market).select_related("organisation")
              .prefetch_related("organisation__activities").order_by("organisation__name"))
    organisations = [{"id": s.organisation_id, "name": s.organisation.name,
                      "activities": [{"id": a.pk, "title": a.title, "capacity": a.capacity}
                                     for a in s.organisation.activities.all() if a.active]} for s in stands]
    later = []
    if COORDINATOR in roles:
        later = [{"id": m.pk, "name": m.name, "date": timezone.localtime(m.starts_at).date().isoformat()}
                 for m in Market.objects.filter(district_id=market.district_id, starts_at__gt=market.starts_at)
                 .exclude(state=Market.State.CLOSED).order_by("starts_at")]
    return {
        "market": market.pk,
        "username": user.get_username(),
        "roles": sorted(roles),
        "can_work": in_district,
        "is_coordinator": COORDINATOR in roles,
        "hours_limit": settings.VM_MAX_HOURS_PER_WEEK,
        "today": timezone.localdate().isoformat(),
        "organisations": organisations,
        "states": {k: str(v) for k, v in LEAD_STATE_LABELS.items()},
        "categories": [{"value": k, "label": str(v)} for k, v in EXEMPTION_LABELS.items()],
        "declined_by": [{"value": k, "label": str(v)} for k, v in DECLINED_BY_LABELS.items()],
        "later_markets": later,
        "report_url": f"/reports/market/{market.pk}/",
        "i18n": _texts(),
    }


@register.filter
def as_json(value) -> str:
    """JSON for a data- attribute (the template's autoescape makes it attribute-safe)."""
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
