"""All writes of the market domain. Each runs in one transaction; dashboard-visible changes
append their feed entry in that same transaction (backend.feed.feed_append)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backend import rawsql
from backend.audit import audit_record
from backend.errors import Conflict, Invalid, NotFound
from backend.feed import feed_append, feed_init
from events.codes import new_code, new_token
from events.models import Client, District, Invitation, Market, TimeSlot


def local_time(value: dt.datetime) -> dt.datetime:
    """A time without an offset is the municipality's local time (settings.TIME_ZONE)."""
    return timezone.make_aware(value, timezone.get_default_timezone()) if timezone.is_naive(value) else value


def market_create(*, district: District, name: str, venue: str, address: str,
                  starts_at: dt.datetime, ends_at: dt.datetime, what_to_bring: str = "") -> Market:
    starts_at, ends_at = local_time(starts_at), local_time(ends_at)
    market_times_check(starts_at=starts_at, ends_at=ends_at)
    with transaction.atomic():
        market = Market.objects.create(district=district, name=name, venue=venue, address=address,
                                       starts_at=starts_at, ends_at=ends_at, what_to_bring=what_to_bring)
        feed_init(market_id=market.pk)
    return market


def market_times_check(*, starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    """A market ends after it starts (the API's market_create and the admin's form)."""
    if ends_at <= starts_at:
        raise Invalid(_("Het einde van de markt moet na het begin liggen."), code="ends_before_start")


def timeslot_times_check(*, market: Market, starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    """A slot ends after it starts, within the market's hours: the letter prints the slot's times
    (the API's timeslot_create and the admin's forms)."""
    if ends_at <= starts_at:
        raise Invalid(_("Het einde van een tijdvak moet na het begin liggen."), code="ends_before_start")
    if starts_at < market.starts_at or ends_at > market.ends_at:
        raise Invalid(_("Een tijdvak moet binnen de tijden van de markt liggen."), code="slot_outside_market")


def timeslot_create(*, market: Market, starts_at: dt.datetime, ends_at: dt.datetime, capacity: int = 50) -> TimeSlot:
    starts_at, ends_at = local_time(starts_at), local_time(ends_at)
    timeslot_times_check(market=market, starts_at=starts_at, ends_at=ends_at)
    return TimeSlot.objects.create(market=market, starts_at=starts_at, ends_at=ends_at, capacity=capacity)


def _lock_market(market_id: int) -> Market:
    market = Market.objects.select_for_update().filter(pk=market_id).first()
    if market is None:
        raise NotFound(_("Deze markt bestaat niet."), code="market_not_found")
    return market


def market_open(*, market: Market) -> Market:
    with transaction.atomic():
        market = _lock_market(market.pk)
        if market.state == Market.State.OPEN:
            return market
        if market.state == Market.State.CLOSED:
            raise Conflict(_("Deze markt is gesloten. U kunt de markt niet opnieuw openen."), code="market_closed")
        market.state = Market.State.OPEN
        market.opened_at = timezone.now()
        market.save(update_fields=["state", "opened_at"])
        feed_append(market_id=market.pk, kind="market.opened",
                    data={"market_id": market.pk, "state": market.state, "at": market.opened_at})
    return market


def market_close(*, market: Market) -> tuple[Market, int]:
    """Close the market; every invitation still `issued` becomes `no_show`. Returns (market, no-shows)."""
    with transaction.atomic():
        market = _lock_market(market.pk)
        if market.state == Market.State.CLOSED:
            return market, 0
        now = timezone.now()
        no_shows = Invitation.objects.filter(market=market, state=Invitation.State.ISSUED).update(
            state=Invitation.State.NO_SHOW)
        market.state = Market.State.CLOSED
        market.closed_at = now
        market.save(update_fields=["state", "closed_at"])
        audit_record(action="update", object_type="invitation", object_id=f"market:{market.pk}",
                     detail={"bulk": "no_show", "count": no_shows})
        feed_append(market_id=market.pk, kind="market.closed",
                    data={"market_id": market.pk, "state": market.state, "at": now, "no_shows": no_shows})
    return market, no_shows


def _fresh_codes(count: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        needed = count - len(codes)
        batch = {new_code() for _ in range(needed)} - codes
        taken = set(Invitation.objects.filter(code__in=batch).values_list("code", flat=True)) if batch else set()
        codes |= batch - taken
    return list(codes)


def invitation_issue_bulk(*, market: Market, clients: Iterable[Client | int], slot: TimeSlot | None = None,
                          previous: dict[int, Invitation] | None = None, walk_in: bool = False) -> list[Invitation]:
    """Issue one invitation per client for the market. A client who already has one is skipped
    (a repeat is a no-op). Returns the invitations created now."""
    client_ids = list(dict.fromkeys(c.pk if isinstance(c, Client) else int(c) for c in clients))
    if slot is not None and slot.market_id != market.pk:
        raise Invalid(_("Dit tijdvak hoort bij een andere markt."), code="slot_wrong_market")
    for attempt in range(3):
        try:
            with transaction.atomic():
                locked = _lock_market(market.pk)
                if locked.state == Market.State.CLOSED:
                    raise Conflict(_("Deze markt is gesloten. U kunt geen uitnodigingen meer maken."),
                                   code="market_closed")
                found = dict(Client.objects.filter(pk__in=client_ids).values_list("pk", "district_id"))
                missing = [cid for cid in client_ids if cid not in found]
                if missing:
                    raise NotFound(_("Een of meer klanten bestaan niet."), code="client_not_found",
                                   extra={"clients": missing[:50]})
                other = [cid for cid in client_ids if found[cid] != locked.district_id]
                if other:
                    raise Invalid(_("Deze klanten horen bij een andere wijk."), code="client_wrong_district",
                                  extra={"clients": other[:50]})
                existing = set(Invitation.objects.filter(market=locked, client_id__in=client_ids)
                               .values_list("client_id", flat=True))
                todo = [cid for cid in client_ids if cid not in existing]
                if not todo:
                    return []
                codes = _fresh_codes(len(todo))
                previous = previous or {}
                rows = [
                    Invitation(client_id=cid, market=locked, slot=slot, token=new_token(), code=code,
                               walk_in=walk_in,
                               previous=previous.get(cid),
                               round=(previous[cid].round + 1) if cid in previous else 1)
                    for cid, code in zip(todo, codes)
                ]
                created = Invitation.objects.bulk_create(rows, batch_size=2000)
                audit_record(action="create", object_type="invitation", object_id=f"market:{locked.pk}",
                             detail={"bulk": "issue", "count": len(created), "walk_in": walk_in})
                if not walk_in:
                    total = Invitation.objects.filter(market=locked).count()
                    feed_append(market_id=locked.pk, kind="invitations.issued",
                                data={"count": len(created), "total": total})
                return created
        except IntegrityError:
            # A concurrent issue for the same client, or a code collision: try again; the
            # repeat skips what now exists.
            if attempt == 2:
                raise
    return []


def invitation_follow_up(*, market: Market, later: Market, slot: TimeSlot | None = None) -> list[Invitation]:
    """Follow-up summons (DESIGN.md §6): for every no-show of the closed `market`, an invitation
    to the `later` market with round = previous round + 1 and a link to the missed one.

    A no-show that already has a follow-up, or whose client already has an invitation for the
    later market, is skipped: a repeat is a no-op. Returns the invitations created now."""
    if later.pk == market.pk:
        raise Invalid(_("Kies een andere, latere markt voor de nieuwe oproep."), code="follow_up_same_market")
    market = Market.objects.get(pk=market.pk)
    later = Market.objects.get(pk=later.pk)
    if market.state != Market.State.CLOSED:
        raise Conflict(_("Sluit eerst de markt. Pas dan weet u wie niet is gekomen."), code="market_not_closed")
    if later.district_id != market.district_id:
        raise Invalid(_("De markt voor de nieuwe oproep moet in dezelfde wijk zijn."), code="follow_up_other_district")
    if later.state == Market.State.CLOSED:
        raise Conflict(_("De markt voor de nieuwe oproep is al gesloten."), code="market_closed")
    if later.starts_at <= market.starts_at:
        raise Invalid(_("De markt voor de nieuwe oproep moet later beginnen dan deze markt."),
                      code="follow_up_not_later")
    no_shows = list(Invitation.objects.filter(market=market, state=Invitation.State.NO_SHOW,
                                              follow_up__isnull=True).only("pk", "client_id", "round"))
    if not no_shows:
        return []
    return invitation_issue_bulk(market=later, clients=[inv.client_id for inv in no_shows], slot=slot,
                                 previous={inv.client_id: inv for inv in no_shows})


@rawsql.statement
def _check_in_sql() -> str:
    q = rawsql.q
    return (f"UPDATE {rawsql.table(Invitation)} SET {q('state')} = %s, {q('checked_in_at')} = %s, "
            f"{q('checked_in_by_id')} = %s WHERE {q('id')} = %s AND {q('state')} = %s")


def invitation_revoke(*, invitation_ids: Iterable[int]) -> tuple[list[Invitation], int]:
    """Revoke `issued` invitations (a letter sent to the wrong person, a client who moved away):
    the token, the code and the client page stop working, and the scanner and the kiosk answer
    `revoked`. An outcome — checked in, excused, no-show — is history and stays; those and
    invitations already revoked are skipped. Returns (revoked, skipped)."""
    ids = list(dict.fromkeys(int(pk) for pk in invitation_ids))
    with transaction.atomic():
        rows = list(Invitation.objects.select_for_update(of=("self",)).select_related("client")
                    .filter(pk__in=ids).order_by("pk"))
        revoked = [invitation for invitation in rows if invitation.state == Invitation.State.ISSUED]
        Invitation.objects.filter(pk__in=[i.pk for i in revoked]).update(state=Invitation.State.REVOKED)
        for invitation in revoked:
            invitation.state = Invitation.State.REVOKED
            audit_record(action="revoke", object_type="invitation", object_id=invitation.pk,
                         detail={"market": invitation.market_id})
            invitation_publish(invitation)
    return revoked, len(ids) - len(revoked)


def invitation_publish(invitation: Invitation) -> None:
    """Append `invitation.updated` (its state, slot, confirmation) in the caller's transaction;
    `invitation.client` should be loaded."""
    feed_append(market_id=invitation.market_id, kind="invitation.updated", data={
        "invitation_id": invitation.pk,
        "client_id": invitation.client_id,
        "display_name": invitation.client.display_name,
        "state": invitation.state,
        "slot_id": invitation.slot_id,
        "confirmed": invitation.confirmed_at is not None,
        "excuse_category": invitation.excuse_category or None,
    })


def invitation_check_in(*, invitation: Invitation, at: dt.datetime, by=None, method: str = "qr") -> Invitation:
    """Mark an invitation checked in and append `checkin.created`, in the caller's transaction.

    The caller (checkin.services.checkin_redeem) has locked the invitation row and decided that
    the check-in is allowed; `invitation.client` should be loaded (select_related) so that this
    costs one UPDATE plus the feed append."""
    if timezone.is_naive(at):
        raise Invalid(_("Geef bij de tijd van aanmelden ook de tijdzone."), code="naive_datetime")
    with transaction.atomic(savepoint=False):  # no extra SAVEPOINT round trips on the hot path
        by_id = getattr(by, "pk", None)
        updated, _row = rawsql.execute(_check_in_sql(), [Invitation.State.CHECKED_IN.value,
                                                        rawsql.prep(Invitation, "checked_in_at", at), by_id,
                                                        invitation.pk, Invitation.State.ISSUED.value])
        if updated != 1:
            raise Conflict(_("Aanmelden met deze uitnodiging kan niet (meer)."), code="invitation_not_issued")
        invitation.state = Invitation.State.CHECKED_IN
        invitation.checked_in_at = at
        invitation.checked_in_by = by
        client = invitation.client
        feed_append(market_id=invitation.market_id, kind="checkin.created",
                    data={"invitation_id": invitation.pk, "client_id": client.pk,
                          "display_name": client.display_name, "language": client.language,
                          "checked_in_at": at, "slot_id": invitation.slot_id,
                          "walk_in": invitation.walk_in, "method": method})
    return invitation


def market_create_with_slots(*, district: District, name: str, venue: str, address: str,
                             starts_at: dt.datetime, ends_at: dt.datetime, what_to_bring: str = "",
                             slots: Iterable[tuple[dt.datetime, dt.datetime, int]] = ()) -> Market:
    """A market and its time slots, all or nothing."""
    with transaction.atomic():
        market = market_create(district=district, name=name, venue=venue, address=address,
                               starts_at=starts_at, ends_at=ends_at, what_to_bring=what_to_bring)
        for slot_start, slot_end, capacity in slots:
            timeslot_create(market=market, starts_at=slot_start, ends_at=slot_end, capacity=capacity)
    return market
