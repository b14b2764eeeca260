"""What a client does on their own page `/i/<token>` (DESIGN.md §6, §9).

The token is the only key. Every action locks the invitation row first, so two posts of the
same form (a double tap, a reload) are serialised, and each action is idempotent: doing it
again changes nothing and appends no second feed entry. Every change appends its feed entry
(invitation.updated, lead.created / lead.updated, statement.created) in the same transaction.

Error messages are plain Dutch msgids: they are shown to the client in the page language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backend.errors import Conflict, Invalid
from backend.feed import feed_append
from events.codes import normalise_code
from events.lead_services import lead_publish, lead_upsert
from events.models import Activity, ClientStatement, Invitation, Lead, Market, TimeSlot
from events.services import invitation_publish

# The states in which an invitation takes a place in its time slot.
SLOT_TAKING_STATES = (Invitation.State.ISSUED, Invitation.State.CHECKED_IN)

# Reasons a client can give when they cancel (Invitation.ExcuseCategory values), in plain Dutch.
CANCEL_REASONS = [
    ("illness", gettext_lazy("Ik ben ziek")),
    ("care", gettext_lazy("Ik moet voor iemand zorgen")),
    ("work", gettext_lazy("Ik moet werken of ik heb een sollicitatie")),
    ("appointment", gettext_lazy("Ik heb een andere afspraak")),
    ("other", gettext_lazy("Een andere reden")),
]

# What makes volunteering hard now (ClientStatement.ConstraintCategory values). Categories
# only: the page never asks for medical or other free-text details.
CONSTRAINT_CATEGORIES = [
    ("care", gettext_lazy("Ik zorg voor iemand (mantelzorg)")),
    ("health", gettext_lazy("Mijn gezondheid")),
    ("language", gettext_lazy("Ik wil eerst Nederlands leren")),
    ("debt", gettext_lazy("Ik heb schulden")),
]

# Interest tags a client can choose without picking an organisation. The keys match the tags
# organisations put on their activities.
INTEREST_TAGS = [
    ("buiten", gettext_lazy("Buiten werken")),
    ("groen", gettext_lazy("Tuin en natuur")),
    ("contact", gettext_lazy("Met mensen praten")),
    ("zorg", gettext_lazy("Helpen van ouderen of zieken")),
    ("kinderen", gettext_lazy("Met kinderen")),
    ("buurt", gettext_lazy("Helpen in de buurt")),
    ("horeca", gettext_lazy("Koken of koffie schenken")),
    ("logistiek", gettext_lazy("Inpakken, sjouwen of rijden")),
    ("techniek", gettext_lazy("Klussen en techniek")),
    ("administratie", gettext_lazy("Computer en administratie")),
    ("creatief", gettext_lazy("Creatief bezig zijn")),
    ("dieren", gettext_lazy("Met dieren")),
]
INTEREST_TAG_KEYS = {key for key, _label in INTEREST_TAGS}

ORGANISATION_NAME_MAX = 200
HOURS_MAX = Decimal("40")


class ClientActionRefused(Conflict):
    """The action is not possible now (too late, slot full, market passed...)."""

    code = "client_action_refused"


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------

def client_invitation_get(*, token: str) -> Invitation | None:
    """The invitation of this token, or None when it is unknown or revoked."""
    if not token or len(token) > 64:
        return None
    invitation = (Invitation.objects.select_related("market", "slot", "client")
                  .filter(token=token).first())
    if invitation is None or invitation.state == Invitation.State.REVOKED:
        return None
    return invitation


def client_token_for_code(code: str) -> str | None:
    """The token of the invitation with this short code (typed: normalised first), or None when
    it is unknown or revoked."""
    code = normalise_code(code)
    if code is None:
        return None
    return (Invitation.objects.filter(code=code).exclude(state=Invitation.State.REVOKED)
            .values_list("token", flat=True).first())


def market_has_passed(market: Market, *, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return market.state == Market.State.CLOSED or market.ends_at <= now


def cancel_deadline(market: Market) -> dt.datetime:
    """Cancelling is possible until VM_CANCEL_DEADLINE_HOURS before the market starts."""
    return market.starts_at - dt.timedelta(hours=settings.VM_CANCEL_DEADLINE_HOURS)


def can_cancel(invitation: Invitation, *, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return invitation.state == Invitation.State.ISSUED and now < cancel_deadline(invitation.market)


@dataclass(frozen=True)
class SlotOption:
    slot: TimeSlot
    taken: int
    is_full: bool
    is_current: bool
    has_started: bool

    @property
    def free(self) -> int:
        return max(self.slot.capacity - self.taken, 0)


def slot_options(*, invitation: Invitation, now: dt.datetime | None = None) -> list[SlotOption]:
    """The market's time slots with how many places are taken (one query)."""
    now = now or timezone.now()
    slots = (TimeSlot.objects.filter(market_id=invitation.market_id)
             .annotate(taken=Count("invitations", filter=Q(invitations__state__in=SLOT_TAKING_STATES)))
             .order_by("starts_at", "pk"))
    options = []
    for slot in slots:
        current = slot.pk == invitation.slot_id
        # Our own place does not count against us.
        taken = slot.taken - (1 if current and invitation.state in SLOT_TAKING_STATES else 0)
        options.append(SlotOption(slot=slot, taken=taken, is_full=taken >= slot.capacity,
                                  is_current=current, has_started=slot.starts_at <= now))
    return options


def market_activities(*, market: Market) -> list[Activity]:
    """The active activities of the organisations that have a stand at this market."""
    return list(Activity.objects.filter(active=True, organisation__stands__market=market)
                .select_related("organisation").order_by("organisation__name", "title").distinct())


def client_wishes_current(*, invitation: Invitation) -> tuple[set[int], set[str]]:
    """Activity ids and tags the client already chose on their page (client-source leads)."""
    leads = (Lead.objects.filter(market_id=invitation.market_id, client_id=invitation.client_id,
                                 source=Lead.Source.CLIENT).prefetch_related("activities"))
    activity_ids: set[int] = set()
    tags: set[str] = set()
    for lead in leads:
        activity_ids.update(a.pk for a in lead.activities.all())
        tags.update(lead.tags or [])
    return activity_ids, tags


def client_statements(*, invitation: Invitation) -> list[ClientStatement]:
    return list(invitation.statements.order_by("created_at", "pk"))


# --------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------

def _lock(invitation: Invitation) -> Invitation:
    """Lock the invitation row and re-read it (with market and client) inside the transaction."""
    locked = (Invitation.objects.select_for_update(of=("self",)).select_related("market", "client", "slot")
              .filter(pk=invitation.pk).first())
    if locked is None or locked.state == Invitation.State.REVOKED:
        raise ClientActionRefused(_("Deze uitnodiging geldt niet meer."), code="revoked")
    if market_has_passed(locked.market):
        raise ClientActionRefused(_("De markt is al voorbij."), code="market_passed")
    return locked


def _publish_statement(statement: ClientStatement, invitation: Invitation) -> None:
    feed_append(market_id=invitation.market_id, kind="statement.created", data={
        "id": statement.pk,
        "invitation_id": invitation.pk,
        "client_id": invitation.client_id,
        "display_name": invitation.client.display_name,
        "kind": statement.kind,
        "category": statement.category or None,
        "organisation_name": statement.organisation_name or None,
        "hours_per_week": float(statement.hours_per_week) if statement.hours_per_week is not None else None,
        "tags": list(statement.tags or []),
    })


def client_confirm(*, invitation: Invitation) -> tuple[Invitation, bool]:
    """The client says they will come. Returns (invitation, changed)."""
    with transaction.atomic():
        inv = _lock(invitation)
        if inv.state == Invitation.State.EXCUSED:
            raise ClientActionRefused(
                _("U heeft zich al afgemeld. Wilt u toch komen? Bel dan de gemeente."), code="excused")
        if inv.state not in (Invitation.State.ISSUED, Invitation.State.CHECKED_IN):
            raise ClientActionRefused(_("Dit kan niet meer."), code="not_issued")
        if inv.confirmed_at is not None:
            return inv, False
        inv.confirmed_at = timezone.now()
        inv.save(update_fields=["confirmed_at"])
        invitation_publish(inv)
        return inv, True


def client_slot_change(*, invitation: Invitation, slot_id: int) -> tuple[Invitation, bool]:
    """Move the invitation to another time slot of the same market.

    A full slot is refused; the refusal carries the slots that still have room
    (`extra["alternatives"]`: slot ids)."""
    now = timezone.now()
    with transaction.atomic():
        inv = _lock(invitation)
        if inv.state != Invitation.State.ISSUED:
            raise ClientActionRefused(_("U kunt uw tijd nu niet meer veranderen."), code="not_issued")
        # Lock the slot row so two clients cannot take the last place at the same moment.
        slot = TimeSlot.objects.select_for_update().filter(pk=slot_id, market_id=inv.market_id).first()
        if slot is None:
            raise Invalid(_("Kies een tijd van deze markt."), code="invalid_slot")
        if inv.slot_id == slot.pk:
            return inv, False
        if slot.starts_at <= now:
            raise ClientActionRefused(_("Deze tijd is al begonnen. Kies een andere tijd."), code="slot_started")
        taken = Invitation.objects.filter(slot=slot, state__in=SLOT_TAKING_STATES).count()
        if taken >= slot.capacity:
            alternatives = [o.slot.pk for o in slot_options(invitation=inv, now=now)
                            if not o.is_full and not o.has_started and not o.is_current and o.slot.pk != slot.pk]
            raise ClientActionRefused(_("Deze tijd is vol. Kies een andere tijd."), code="slot_full",
                                      extra={"alternatives": alternatives})
        inv.slot = slot
        inv.save(update_fields=["slot"])
        invitation_publish(inv)
        return inv, True


def client_cancel(*, invitation: Invitation, category: str) -> tuple[Invitation, bool]:
    """Cancel in time with a reason category: the invitation becomes `excused` (never `no_show`).

    After the deadline (VM_CANCEL_DEADLINE_HOURS before the market starts) it is refused."""
    if category not in Invitation.ExcuseCategory.values:
        raise Invalid(_("Kies een reden."), code="invalid_reason")
    with transaction.atomic():
        inv = _lock(invitation)
        if inv.state == Invitation.State.EXCUSED:
            return inv, False
        if inv.state != Invitation.State.ISSUED:
            raise ClientActionRefused(_("Afmelden kan niet meer."), code="not_issued")
        if timezone.now() >= cancel_deadline(inv.market):
            raise ClientActionRefused(
                _("Afmelden via deze pagina kan niet meer. Bel de gemeente."), code="too_late",
                extra={"deadline": cancel_deadline(inv.market).isoformat()})
        inv.state = Invitation.State.EXCUSED
        inv.excused_at = timezone.now()
        inv.excuse_category = category
        inv.save(update_fields=["state", "excused_at", "excuse_category"])
        invitation_publish(inv)
        return inv, True


def client_wishes_save(*, invitation: Invitation, activity_ids: Iterable[int],
                       tags: Iterable[str]) -> list[tuple[Lead, bool]]:
    """The volunteer work the client would like: one lead (source `client`) per organisation of
    the chosen activities, carrying the chosen interest tags; tags alone make one lead without
    an organisation. Choosing the same again changes nothing. Returns [(lead, created)] for the
    leads that changed."""
    activity_ids = {int(a) for a in activity_ids}
    tags = sorted({t for t in tags if t in INTEREST_TAG_KEYS})
    if not activity_ids and not tags:
        raise Invalid(_("Kies minstens één ding."), code="nothing_chosen")
    with transaction.atomic():
        inv = _lock(invitation)
        allowed = {a.pk: a for a in market_activities(market=inv.market)}
        unknown = activity_ids - allowed.keys()
        if unknown:
            raise Invalid(_("Kies werk van deze markt."), code="invalid_activity")
        by_org: dict[int, list[Activity]] = {}
        for aid in sorted(activity_ids):
            by_org.setdefault(allowed[aid].organisation_id, []).append(allowed[aid])
        existing = {lead.organisation_id: lead for lead in
                    Lead.objects.select_for_update().filter(market_id=inv.market_id, client_id=inv.client_id)
                    .prefetch_related("activities")}
        changed: list[tuple[Lead, bool]] = []
        for org_id, activities in by_org.items():
            lead = existing.get(org_id)
            if lead is not None:
                have = {a.pk for a in lead.activities.all()}
                if {a.pk for a in activities} <= have and set(tags) <= set(lead.tags or []):
                    continue  # nothing new: a repeated post
            changed.append(lead_upsert(market=inv.market, client=inv.client,
                                       organisation=activities[0].organisation, activities=activities,
                                       source=Lead.Source.CLIENT, tags=tags))
        if tags and not by_org:
            loose = (Lead.objects.select_for_update()
                     .filter(market_id=inv.market_id, client_id=inv.client_id, organisation__isnull=True,
                             source=Lead.Source.CLIENT).order_by("pk").first())
            if loose is None:
                changed.append(lead_upsert(market=inv.market, client=inv.client, organisation=None,
                                           activities=[], source=Lead.Source.CLIENT, tags=tags))
            elif not set(tags) <= set(loose.tags or []):
                loose.tags = sorted(set(loose.tags or []) | set(tags))
                loose.save(update_fields=["tags", "updated_at"])
                loose = (Lead.objects.select_related("client", "organisation", "claimed_by")
                         .prefetch_related("activities").get(pk=loose.pk))
                lead_publish(loose, created=False)
                changed.append((loose, False))
        return changed


def _parse_hours(raw) -> Decimal:
    try:
        hours = Decimal(str(raw).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise Invalid(_("Vul het aantal uren per week in, bijvoorbeeld 4."), code="invalid_hours") from None
    if not hours.is_finite() or hours <= 0 or hours > HOURS_MAX:
        raise Invalid(_("Vul een aantal uren tussen 1 en 40 in."), code="invalid_hours")
    return hours.quantize(Decimal("0.1"))


def client_volunteering_report(*, invitation: Invitation, organisation_name: str,
                               hours_per_week) -> tuple[ClientStatement, bool]:
    """The client already volunteers: a statement for the consultant's formalise path
    (kind `volunteering`, unhandled until the consultant records it). The same organisation
    and hours again is a repeat, not a second statement. Returns (statement, created)."""
    name = " ".join((organisation_name or "").split())
    if not name:
        raise Invalid(_("Vul de naam van de organisatie in."), code="invalid_organisation")
    if len(name) > ORGANISATION_NAME_MAX:
        raise Invalid(_("De naam van de organisatie is te lang."), code="invalid_organisation")
    hours = _parse_hours(hours_per_week)
    with transaction.atomic():
        inv = _lock(invitation)
        same = (ClientStatement.objects.filter(invitation=inv, kind=ClientStatement.Kind.VOLUNTEERING,
                                               organisation_name__iexact=name, hours_per_week=hours)
                .order_by("pk").first())
        if same is not None:
            return same, False
        statement = ClientStatement.objects.create(invitation=inv, kind=ClientStatement.Kind.VOLUNTEERING,
                                                   organisation_name=name, hours_per_week=hours)
        _publish_statement(statement, inv)
        return statement, True


def client_constraints_report(*, invitation: Invitation,
                              categories: Iterable[str]) -> list[ClientStatement]:
    """Something makes volunteering hard now: one statement (kind `constraint`) per category,
    for an exemption conversation. Categories only. Returns the statements created now."""
    categories = sorted(set(categories))
    if not categories:
        raise Invalid(_("Kies minstens één ding."), code="nothing_chosen")
    if any(c not in ClientStatement.ConstraintCategory.values for c in categories):
        raise Invalid(_("Kies uit de lijst."), code="invalid_category")
    with transaction.atomic():
        inv = _lock(invitation)
        have = set(ClientStatement.objects.filter(invitation=inv, kind=ClientStatement.Kind.CONSTRAINT)
                   .values_list("category", flat=True))
        created = []
        for category in categories:
            if category in have:
                continue
            statement = ClientStatement.objects.create(invitation=inv, kind=ClientStatement.Kind.CONSTRAINT,
                                                       category=category)
            _publish_statement(statement, inv)
            created.append(statement)
        return created
