"""Roles (Django groups) and the session authentication used by the API."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from ninja.security import SessionAuth

from backend import rawsql
from backend.errors import WrongRole

COORDINATOR = "coordinator"
CONSULTANT = "consultant"
HOST = "host"
MEDIATOR = "mediator"
ROLES = (COORDINATOR, CONSULTANT, HOST, MEDIATOR)


def user_roles(user: AbstractBaseUser | AnonymousUser | None) -> frozenset[str]:
    """The user's roles, cached on the user object for the request."""
    if user is None or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_vm_roles", None)
    if cached is None:
        cached = frozenset(
            name for name in user.groups.values_list("name", flat=True) if name in ROLES
        )
        user._vm_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user).intersection(roles))


def require_role(user, *roles: str) -> None:
    if not has_role(user, *roles):
        raise WrongRole(roles)


def ensure_role_groups() -> dict[str, Group]:
    return {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}


def grant_role(user, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    if hasattr(user, "_vm_roles"):
        del user._vm_roles


@rawsql.statement
def _user_with_roles_sql() -> str:
    user_model = get_user_model()
    q = rawsql.q
    groups = user_model.groups.through._meta
    role_columns = ", ".join(
        f"EXISTS(SELECT 1 FROM {q(groups.db_table)} ug INNER JOIN {rawsql.table(Group)} g "
        f"ON g.{q('id')} = ug.{q('group_id')} WHERE ug.{q('user_id')} = u.{q('id')} AND g.{q('name')} = %s)"
        for _role in ROLES)
    return (f"SELECT {rawsql.select_list(user_model, 'u')}, {role_columns} "
            f"FROM {rawsql.table(user_model)} u WHERE u.{q('id')} = %s")


class RoleAwareBackend(ModelBackend):
    """Django's ModelBackend; loading the session's user also reads the user's roles, in one
    statement written once (backend.rawsql) instead of two ORM queries (user, then groups)
    compiled on every API request. Logging in, passwords and permissions are ModelBackend's."""

    def get_user(self, user_id):
        try:
            user_id = int(user_id)
        except (TypeError, ValueError):
            return None
        _n, row = rawsql.execute(_user_with_roles_sql(), [*ROLES, user_id])
        if row is None:
            return None
        user_model = get_user_model()
        n = rawsql.width(user_model)
        user = rawsql.from_row(user_model, row[:n])
        user._vm_roles = frozenset(role for role, flag in zip(ROLES, row[n:]) if flag)
        return user if self.user_can_authenticate(user) else None


class UserAuth(SessionAuth):
    """Session cookie auth; the CSRF token is checked on unsafe methods of a logged-in session.

    A request without a logged-in session gets 401 (not ninja's default 403 "CSRF check
    Failed"): no credentials is an authentication problem, DESIGN.md §7.
    """

    def _get_key(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return super()._get_key(request)  # raises 403 when the CSRF check fails
        return None

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


user_auth = UserAuth()
