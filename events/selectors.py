"""Reads for the market domain, with the access rules of DESIGN.md §10."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from backend import rawsql
from backend.auth import CONSULTANT, COORDINATOR, HOST, MEDIATOR, user_roles
from backend.errors import Forbidden, NotFound, WrongRole
from events.codes import normalise_code, parse_token
from events.models import Client, Invitation, Market


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


_ACCESS_SQL: dict[tuple, tuple[str, list[str]]] = {}
def _access_sql(wide: tuple[str, ...], consultant: bool, roles_known: bool):
    """SQL (built once per shape) for the market row, its district and the user's access
    facts as EXISTS columns: one statement, and no ORM query compilation per request (that
    compilation was most of the CPU of this lookup on the redeem path)."""
    key = (wide, consultant, roles_known)
    if key not in _ACCESS_SQL:
        from django.contrib.auth import get_user_model

        from events.models import District

        q = connection.ops.quote_name
        market_cols = [f.column for f in Market._meta.concrete_fields]
        district_cols = [f.column for f in District._meta.concrete_fields]
        groups = get_user_model().groups.through._meta
        membership = District.consultants.through._meta
        ug, grp = q(groups.db_table), q(Group._meta.db_table)
        exists_role = (f"EXISTS(SELECT 1 FROM {ug} ug JOIN {grp} g ON g.{q('id')} = ug.{q('group_id')} "
                       f"WHERE ug.{q('user_id')} = %s AND g.{q('name')} IN ({{names}}))")
        columns = [f"m.{q(c)}" for c in market_cols] + [f"d.{q(c)}" for c in district_cols]
        params: list[str] = []  # which request value goes into each placeholder, in order
        if not roles_known:
            if wide:
                columns.append(exists_role.format(names=", ".join(["%s"] * len(wide))))
                params += ["user", *(f"name:{n}" for n in wide)]
            else:
                columns.append("0")
            if consultant:
                columns.append(exists_role.format(names="%s"))
                params += ["user", f"name:{CONSULTANT}"]
            else:
                columns.append("0")
        if consultant:
            columns.append(f"EXISTS(SELECT 1 FROM {q(membership.db_table)} dc WHERE dc.{q('district_id')} = "
                           f"m.{q('district_id')} AND dc.{q('user_id')} = %s)")
            params.append("user")
        else:
            columns.append("0")
        sql = (f"SELECT {', '.join(columns)} FROM {q(Market._meta.db_table)} m "
               f"INNER JOIN {q(District._meta.db_table)} d ON d.{q('id')} = m.{q('district_id')} "
               f"WHERE m.{q('id')} = %s")
        params.append("market")
        _ACCESS_SQL[key] = (sql, params)
    return _ACCESS_SQL[key]


def market_get_for_user(*, user, market_id: int, roles: tuple[str, ...] = (COORDINATOR, CONSULTANT)) -> Market:
    """The market (district loaded), if the user has one of `roles` and (for consultants) the
    district.

    404 for a market that does not exist; 403 for the wrong role or district.

    One query: the market row with its district and the access facts (the user's roles,
    district membership) as EXISTS columns; the user's roles are only read there when the
    request has not loaded them already.
    """
    from events.models import District

    wanted = set(roles)
    wide = tuple(sorted(wanted & {COORDINATOR, HOST, MEDIATOR}))
    authenticated = user is not None and user.is_authenticated and getattr(user, "pk", None) is not None
    cached = getattr(user, "_vm_roles", None) if authenticated else frozenset()
    consultant = authenticated and CONSULTANT in wanted
    sql, slots = _access_sql(wide if authenticated else (), consultant,
                                                         cached is not None)
    values = {"user": getattr(user, "pk", None), "market": market_id}
    params = [values[s] if s in values else s.partition(":")[2] for s in slots]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise NotFound(_("Deze markt bestaat niet."), code="market_not_found")
    n_market, n_district = len(Market._meta.concrete_fields), len(District._meta.concrete_fields)
    market = rawsql.from_row(Market, row[:n_market], connection.alias)
    district = rawsql.from_row(District, row[n_market:n_market + n_district], connection.alias)
    Market.district.field.set_cached_value(market, district)
    flags = row[n_market + n_district:]
    if cached is not None:
        granted = (user_roles(user) if authenticated else frozenset()) & wanted
        is_wide, is_consultant = bool(granted & set(wide)), CONSULTANT in granted
    else:
        is_wide, is_consultant = bool(flags[0]), bool(flags[1])
    in_district = bool(flags[-1])
    if not is_wide and not is_consultant:
        raise WrongRole(roles)
    if is_wide:
        return market
    if not in_district:
        raise Forbidden(_("Deze markt hoort niet bij uw stadsdeel."), code="wrong_district")
    return market


@rawsql.statement
def _invitation_sql() -> dict[tuple[str, bool], str]:
    def one(column: str, lock: bool) -> str:
        q = rawsql.q
        locking = " FOR UPDATE OF i" if lock and connection.features.has_select_for_update_of else ""
        return (f"SELECT {rawsql.select_list(Invitation, 'i')}, {rawsql.select_list(Client, 'c')} "
                f"FROM {rawsql.table(Invitation)} i INNER JOIN {rawsql.table(Client)} c "
                f"ON c.{q('id')} = i.{q('client_id')} WHERE i.{q(column)} = %s{locking}")

    return {(column, lock): one(column, lock) for column in ("token", "code") for lock in (False, True)}


def invitation_by_token_or_code(*, token: str | None = None, code: str | None = None,
                                lock: bool = False) -> Invitation | None:
    """The invitation with this (parsed) token or (normalised) code, its client loaded, in one
    statement written once (backend.rawsql): the lookup of every scan and every kiosk
    registration. `lock=True` locks the invitation row (PostgreSQL; SQLite transactions are
    serialised anyway) inside the caller's transaction. The market loads lazily when asked."""
    column, value = ("token", token) if token is not None else ("code", code)
    _count, row = rawsql.execute(_invitation_sql()[column, lock], [value])
    if row is None:
        return None
    n = rawsql.width(Invitation)
    invitation = rawsql.from_row(Invitation, row[:n])
    Invitation.client.field.set_cached_value(invitation, rawsql.from_row(Client, row[n:]))
    return invitation


def invitation_scanned(*, token: str | None = None, code: str | None = None) -> Invitation | None:
    """The invitation a scan names (kiosk, mediator lookup): a token or the full QR URL, or a code
    typed forgivingly (spaces, dashes, O for 0); None when it names none."""
    if token:
        token = parse_token(token)
        return invitation_by_token_or_code(token=token) if token else None
    code = normalise_code(code or "")
    return invitation_by_token_or_code(code=code) if code else None


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
        raise NotFound(_("Deze uitnodiging bestaat niet."), code="invitation_not_found")
    require_role(user, COORDINATOR)
    return invitation


def stands_for_market(*, market: Market):
    from django.db.models import Prefetch

    from events.models import Activity, Stand

    return (Stand.objects.filter(market=market).select_related("organisation")
            .prefetch_related(Prefetch("organisation__activities",
                                       queryset=Activity.objects.filter(active=True).order_by("title")))
            .order_by("organisation__name"))
