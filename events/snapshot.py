"""The market snapshot (DESIGN.md §5): the full state a dashboard starts from, and the feed
`head` it reflects. A client loads it, then follows the feed with `since=head`.

Everything is read in one transaction, so head and rows are one consistent picture: SQLite's
transaction already is one (our connections BEGIN IMMEDIATE, so it is even serialised with
writers, for the few milliseconds the reads take); on PostgreSQL the transaction is switched
to REPEATABLE READ first. A fixed number of queries,
whatever the size of the market (tests/events/test_feed_snapshot.py pins it).
"""

from __future__ import annotations

from django.db import connection, transaction

from backend.feed import feed_head
from events.lead_selectors import lead_feed_rows
from events.models import Client, ClientStatement, Invitation, Lead, Market

INVITATION_COUNTS = ("invited", "arrived", "excused", "no_show", "expected")
LEAD_STATES = tuple(Lead.State.values)


def invitation_counts(states: list[str]) -> dict[str, int]:
    """Counts as dashboards show them. `invited` leaves out revoked invitations; `expected` are
    the invitations still open (issued: neither arrived, excused nor marked no-show)."""
    S = Invitation.State
    return {
        "invited": sum(1 for s in states if s != S.REVOKED),
        "arrived": states.count(S.CHECKED_IN),
        "excused": states.count(S.EXCUSED),
        "no_show": states.count(S.NO_SHOW),
        "expected": states.count(S.ISSUED),
    }


def arrival_data(invitation: Invitation) -> dict:
    """An arrival as the snapshot carries it; the same fields as a `checkin.created` entry."""
    client = invitation.client
    return {
        "invitation_id": invitation.pk,
        "client_id": client.pk,
        "display_name": client.display_name,
        "language": client.language,
        "checked_in_at": invitation.checked_in_at,
        "walk_in": invitation.walk_in,
        "slot_id": invitation.slot_id,
    }


def _read(market_id: int) -> dict:
    # Head first: were isolation ever weaker, rows newer than head are harmless (dashboards
    # apply entries idempotently by id), rows older than head would not be.
    head = feed_head(market_id=market_id)
    market = Market.objects.only("id", "name", "state", "starts_at", "ends_at").get(pk=market_id)
    invitation_states = dict(Invitation.objects.filter(market_id=market_id).values_list("id", "state"))
    # Rows as values, no model instances: building ~7,000 instances was ~90 % of the snapshot.
    name = Client(given_name="", family_name="")  # display_name without a model per row
    arrivals = []
    for pk, client_id, given, family, language, checked_in_at, walk_in, slot_id in (
            Invitation.objects.filter(market_id=market_id, state=Invitation.State.CHECKED_IN)
            .order_by("checked_in_at", "pk")
            .values_list("id", "client_id", "client__given_name", "client__family_name", "client__language",
                         "checked_in_at", "walk_in", "slot_id")):
        name.given_name, name.family_name = given, family
        arrivals.append({"invitation_id": pk, "client_id": client_id, "display_name": name.display_name,
                         "language": language, "checked_in_at": checked_in_at, "walk_in": walk_in,
                         "slot_id": slot_id})
    leads = lead_feed_rows(market_id=market_id)
    statements = []
    for pk, invitation_id, client_id, given, family, kind, category, organisation, hours, tags in (
            ClientStatement.objects.filter(invitation__market_id=market_id, handled=False)
            .exclude(kind=ClientStatement.Kind.WISH).order_by("pk")
            .values_list("id", "invitation_id", "invitation__client_id", "invitation__client__given_name",
                         "invitation__client__family_name", "kind", "category", "organisation_name",
                         "hours_per_week", "tags")):
        name.given_name, name.family_name = given, family
        statements.append({"id": pk, "invitation_id": invitation_id, "client_id": client_id,
                           "display_name": name.display_name, "kind": kind, "category": category or None,
                           "organisation_name": organisation or None,
                           "hours_per_week": float(hours) if hours is not None else None, "tags": tags})
    counts: dict = invitation_counts(list(invitation_states.values()))
    lead_counts = dict.fromkeys(LEAD_STATES, 0)
    for lead in leads:
        lead_counts[lead["state"]] = lead_counts.get(lead["state"], 0) + 1
    counts["leads"] = lead_counts
    return {
        "market": {"id": market.pk, "name": market.name, "state": market.state,
                   "starts_at": market.starts_at, "ends_at": market.ends_at},
        "head": head,
        "counts": counts,
        "arrivals": arrivals,
        "leads": leads,
        # What clients said on their own page that a consultant follows up: current volunteering
        # (the formalise path) and constraints (an exemption conversation). Wishes are leads.
        "statements": statements,
        # Every invitation's state, so a dashboard can keep the counters exact from
        # invitation.updated / checkin.created entries alone (idempotent by invitation id).
        "invitation_states": {str(pk): state for pk, state in invitation_states.items()},
    }


def market_snapshot(*, market: Market) -> dict:
    """The snapshot of `market` (access is checked by the caller)."""
    if connection.in_atomic_block:
        # Already inside a transaction (a test, or a caller's atomic block): its isolation applies.
        with transaction.atomic():
            return _read(market.pk)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _read(market.pk)
