"""Writes for leads (DESIGN.md §9). Every change appends lead.created / lead.updated."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from backend.errors import Invalid
from backend.feed import feed_append
from events.models import Activity, Client, Lead, Market, Organisation, Stand

NOTE_MAX = 1000


def client_public(client: Client) -> dict:
    """The minimal profile hosts, mediators and organisation devices may see."""
    return {"display_name": client.display_name, "language": client.language}


def lead_feed_data(lead: Lead) -> dict:
    """The lead as the feed and the snapshot carry it (no welfare data)."""
    client = lead.client
    return {
        "id": lead.pk,
        "client_id": client.pk,
        "display_name": client.display_name,
        "language": client.language,
        "organisation_id": lead.organisation_id,
        "organisation": lead.organisation.name if lead.organisation_id else None,
        "activities": [{"id": a.pk, "title": a.title} for a in lead.activities.all()],
        "source": lead.source,
        "state": lead.state,
        "warmth": lead.warmth,
        "note": lead.note,
        "claimed_by": lead.claimed_by.get_username() if lead.claimed_by_id else None,
        "updated_at": lead.updated_at,
    }


def lead_publish(lead: Lead, *, created: bool) -> None:
    """Append the lead's feed entry. Call inside the transaction that changed it."""
    feed_append(market_id=lead.market_id, kind="lead.created" if created else "lead.updated",
                data=lead_feed_data(lead))


def lead_upsert(*, market: Market, client: Client, organisation: Organisation | None,
                activities: Iterable[Activity], source: str, stand: Stand | None = None,
                warmth: str | None = None, note: str | None = None, tags: Iterable[str] = ()) -> tuple[Lead, bool]:
    """Create the lead of (market, client, organisation), or update it: one lead per client per
    organisation per market (so per stand). Activities are added to those already there.
    Returns (lead, created)."""
    activities = list(activities)
    if any(a.organisation_id != (organisation.pk if organisation else None) for a in activities):
        raise Invalid("An activity belongs to another organisation.", code="activity_not_at_stand")
    if note is not None and len(note) > NOTE_MAX:
        raise Invalid(f"A note is at most {NOTE_MAX} characters.", code="note_too_long")
    if warmth is not None and warmth not in Lead.Warmth.values:
        raise Invalid("Warmth is cold, warm or hot.", code="invalid_warmth")
    for attempt in range(2):
        try:
            with transaction.atomic():
                lead = None
                if organisation is not None:
                    lead = (Lead.objects.select_for_update()
                            .filter(market=market, client=client, organisation=organisation).first())
                created = lead is None
                if created:
                    lead = Lead.objects.create(market=market, client=client, organisation=organisation,
                                               stand=stand, source=source, warmth=warmth, note=note or "",
                                               tags=list(tags))
                else:
                    if warmth is not None:
                        lead.warmth = warmth
                    if note is not None:
                        lead.note = note
                    if stand is not None and lead.stand_id is None:
                        lead.stand = stand
                    if tags:
                        lead.tags = sorted(set(lead.tags) | set(tags))
                    lead.save()
                if activities:
                    lead.activities.add(*activities)
                lead = (Lead.objects.select_related("client", "organisation", "claimed_by")
                        .prefetch_related("activities").get(pk=lead.pk))
                lead_publish(lead, created=created)
                return lead, created
        except IntegrityError:
            # Two tablets registered the same client at the same moment: the other one won the
            # insert, so this one becomes an update.
            if attempt == 1:
                raise
    raise AssertionError("unreachable")
