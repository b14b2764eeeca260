"""Reads for the entrance: the client search for walk-ins and the running count."""

from __future__ import annotations

from django.db.models import Count, Q

from backend.auth import CONSULTANT, COORDINATOR, has_role
from events.models import Client, Invitation, Market

SEARCH_MIN = 2
SEARCH_LIMIT = 20


def clients_search(*, market: Market, q: str, user) -> list[dict]:
    """Clients of the market's district by client number (exact) or name (contains).

    Hosts get only the display name, language and an id to register the walk-in with; the
    client number is added for consultants and coordinators. Never contact details."""
    q = (q or "").strip()
    if len(q) < SEARCH_MIN:
        return []
    terms = q.split()
    name_filter = Q()
    for term in terms[:4]:
        name_filter &= Q(given_name__icontains=term) | Q(family_name__icontains=term)
    qs = (Client.objects.filter(district_id=market.district_id, pseudonymised_at__isnull=True)
          .filter(Q(client_number__iexact=q) | name_filter)
          .order_by("family_name", "given_name", "pk")
          .only("pk", "given_name", "family_name", "language", "client_number")[:SEARCH_LIMIT])
    clients = list(qs)
    states = dict(Invitation.objects.filter(market=market, client__in=[c.pk for c in clients])
                  .values_list("client_id", "state"))
    show_number = has_role(user, CONSULTANT, COORDINATOR)
    hits = []
    for c in clients:
        hit = {"id": c.pk, "display_name": c.display_name, "language": c.language,
               "invitation_state": states.get(c.pk)}
        if show_number:
            hit["client_number"] = c.client_number
        hits.append(hit)
    return hits


def market_checkin_count(*, market: Market) -> dict:
    counts = Invitation.objects.filter(market=market).aggregate(
        invited=Count("pk"), checked_in=Count("pk", filter=Q(state=Invitation.State.CHECKED_IN)))
    return {"market": market.pk, "checked_in": counts["checked_in"], "invited": counts["invited"]}
