"""Reads for the kiosk."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from events.models import Activity, Agreement, Lead
from kiosk.models import Device


def _count(qs, field: str):
    return Coalesce(Subquery(qs.values(field).annotate(n=Count("pk")).values("n")[:1],
                             output_field=IntegerField()), 0)


def stand_activities_with_use(*, stand) -> list[Activity]:
    """The stand's organisation's active activities, each with `lead_count` (leads at this
    market naming it) and `agreement_count` (current agreements for it that have not ended, any
    market: capacity is how many volunteers the activity holds at once)."""
    leads = Lead.activities.through.objects.filter(activity_id=OuterRef("pk"), lead__market_id=stand.market_id)
    agreements = Agreement.objects.filter(activity_id=OuterRef("pk"), is_current=True).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=timezone.localdate()))
    return list(
        Activity.objects.filter(organisation_id=stand.organisation_id, active=True)
        .annotate(lead_count=_count(leads, "activity_id"), agreement_count=_count(agreements, "activity_id"))
        .order_by("title", "pk")
    )


def devices_for_market(*, market) -> list[Device]:
    return list(Device.objects.filter(stand__market=market).select_related("stand__organisation")
                .order_by("stand__organisation__name", "created_at"))

