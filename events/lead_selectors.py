"""Reads of the lead workflow (lists for the dashboard and the API, details, agreements)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from backend.errors import Invalid
from events.lead_services import lead_feed_data, note_feed_data
from events.models import Agreement, Exemption, Lead, Market


def leads_for_market(*, market: Market, state: str | None = None, claimed_by=None) -> QuerySet[Lead]:
    qs = (Lead.objects.filter(market=market).select_related("client", "organisation", "claimed_by")
          .prefetch_related("activities").order_by("-updated_at", "-pk"))
    if state:
        states = [s.strip() for s in state.split(",") if s.strip()]
        unknown = [s for s in states if s not in Lead.State.values]
        if unknown:
            raise Invalid(_("Deze status bestaat niet."), code="invalid_state",
                          extra={"allowed": list(Lead.State.values)})
        qs = qs.filter(state__in=states)
    if claimed_by is not None:
        qs = qs.filter(claimed_by=claimed_by)
    return qs


def lead_out(lead: Lead) -> dict:
    data = lead_feed_data(lead)
    data.update({"market": lead.market_id, "claimed_at": lead.claimed_at, "follow_up_on": lead.follow_up_on,
                 "declined_by": lead.declined_by, "created_at": lead.created_at})
    return data


def agreement_out(a: Agreement) -> dict:
    return {
        "id": a.pk, "client_id": a.client_id, "display_name": a.client.display_name, "lead_id": a.lead_id,
        "market_id": a.market_id, "organisation_id": a.organisation_id, "organisation": a.organisation.name,
        "activity_id": a.activity_id, "activity": a.activity.title if a.activity_id else None,
        "hours_per_week": float(a.hours_per_week), "hours_reason": a.hours_reason, "start_date": a.start_date,
        "end_date": a.end_date, "capacity_override_reason": a.capacity_override_reason, "formalised": a.formalised,
        "version": a.version, "previous_id": a.previous_id, "is_current": a.is_current,
        "created_by": a.created_by.get_username() if a.created_by_id else None, "created_at": a.created_at,
    }


def exemption_out(e: Exemption) -> dict:
    return {"id": e.pk, "client_id": e.client_id, "lead_id": e.lead_id, "category": e.category,
            "review_date": e.review_date, "created_at": e.created_at}


def lead_detail(lead: Lead) -> dict:
    data = lead_out(lead)
    data["declined_reason"] = lead.declined_reason
    data["notes"] = [note_feed_data(n) for n in lead.notes.select_related("author")]
    data["agreements"] = [agreement_out(a) for a in lead.agreements.select_related(
        "client", "organisation", "activity", "created_by").order_by("version")]
    data["exemptions"] = [exemption_out(e) for e in lead.exemptions.all()]
    return data


def lead_feed_rows(*, market_id: int) -> list[dict]:
    """Every lead of the market as `lead_feed_data` gives it, read with two value queries and no
    model instances: about ten times cheaper for a market with a thousand leads (bench/snapshot.py).
    tests/events/test_leads_dashboard.py keeps it equal to lead_feed_data."""
    from events.models import Client

    activities: dict[int, list[dict]] = {}
    through = (Lead.activities.through.objects.filter(lead__market_id=market_id)
               .order_by("activity__organisation__name", "activity__title", "activity_id"))  # Activity.Meta
    for lead_id, activity_id, title in through.values_list("lead_id", "activity_id", "activity__title"):
        activities.setdefault(lead_id, []).append({"id": activity_id, "title": title})
    rows = (Lead.objects.filter(market_id=market_id).order_by("pk")
            .values_list("id", "client_id", "client__given_name", "client__family_name", "client__language",
                         "organisation_id", "organisation__name", "source", "state", "warmth", "note",
                         "claimed_by__username", "updated_at"))
    name = Client(given_name="", family_name="")
    out = []
    for (pk, client_id, given, family, language, org_id, org_name, source, state, warmth, note, claimant,
         updated_at) in rows:
        name.given_name, name.family_name = given, family
        out.append({"id": pk, "client_id": client_id, "display_name": name.display_name, "language": language,
                    "organisation_id": org_id, "organisation": org_name, "activities": activities.get(pk, []),
                    "source": source, "state": state, "warmth": warmth, "note": note, "claimed_by": claimant,
                    "updated_at": updated_at})
    return out
