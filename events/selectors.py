"""Reads for the market domain, with the access rules of DESIGN.md §10."""

from __future__ import annotations

from django.db.models import QuerySet

from backend.auth import CONSULTANT, COORDINATOR, HOST, MEDIATOR, has_role, user_roles
from backend.errors import Forbidden, NotFound
from events.models import Invitation, Market


def markets_visible_to(user) -> QuerySet[Market]:
    """Coordinators, hosts and mediators see every market; consultants only their districts'."""
    roles = user_roles(user)
    qs = Market.objects.select_related("district").order_by("-starts_at")
    if roles & {COORDINATOR, HOST, MEDIATOR}:
        return qs
    if CONSULTANT in roles:
        return qs.filter(district__consultants=user)
    return qs.none()


def user_may_see_market(user, market: Market) -> bool:
    roles = user_roles(user)
    if roles & {COORDINATOR, HOST, MEDIATOR}:
        return True
    if CONSULTANT in roles:
        return market.district.consultants.filter(pk=user.pk).exists()
    return False


def market_get_for_user(*, user, market_id: int, roles: tuple[str, ...] = (COORDINATOR, CONSULTANT)) -> Market:
    """The market, if the user has one of `roles` and (for consultants) the district.

    404 for a market that does not exist; 403 for the wrong role or district.
    """
    market = Market.objects.select_related("district").filter(pk=market_id).first()
    if market is None:
        raise NotFound("This market does not exist.", code="market_not_found")
    if not has_role(user, *roles):
        raise Forbidden("Your role does not allow this.", code="wrong_role", extra={"needs": list(roles)})
    granted = user_roles(user) & set(roles)
    if granted & {COORDINATOR, HOST, MEDIATOR}:
        return market
    if not market.district.consultants.filter(pk=user.pk).exists():
        raise Forbidden("This market is not in your district.", code="wrong_district")
    return market


def invitations_for_market(*, market: Market) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(market=market)
        .select_related("client", "slot")
        .order_by("client__family_name", "client__given_name", "pk")
    )


def invitation_get_for_coordinator(*, user, invitation_id: int) -> Invitation:
    """An invitation by id for a coordinator: 404 if unknown, 403 for any other role."""
    from backend.auth import require_role

    invitation = (Invitation.objects.select_related("client", "market", "slot", "previous__market")
                  .filter(pk=invitation_id).first())
    if invitation is None:
        raise NotFound("This invitation does not exist.", code="invitation_not_found")
    require_role(user, COORDINATOR)
    return invitation


def stands_for_market(*, market: Market):
    from django.db.models import Prefetch

    from events.models import Activity, Stand

    return (Stand.objects.filter(market=market).select_related("organisation")
            .prefetch_related(Prefetch("organisation__activities",
                                       queryset=Activity.objects.filter(active=True).order_by("title")))
            .order_by("organisation__name"))
