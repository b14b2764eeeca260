"""Coordinators work in the Django admin, which requires `is_staff`.

`is_staff` follows the coordinator role: adding a user to the coordinator group (backend.auth
grant_role, the admin's user page, seed_demo) makes them staff; removing the role takes staff
away again (superusers keep it). What a coordinator may do inside the admin is decided by role
in events.admin, not by Django model permissions.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed

from backend.auth import COORDINATOR


def _sync_staff(user) -> None:
    wants = user.is_superuser or user.groups.filter(name=COORDINATOR).exists()
    if user.is_staff != wants:
        type(user).objects.filter(pk=user.pk).update(is_staff=wants)
        user.is_staff = wants


def _groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    User = get_user_model()
    if not reverse:  # user.groups.add(...)
        _sync_staff(instance)
        return
    # group.user_set.add(...): only the coordinator group matters
    if isinstance(instance, Group) and instance.name == COORDINATOR:
        users = User.objects.filter(pk__in=pk_set) if pk_set else User.objects.filter(groups=instance)
        for user in users:
            _sync_staff(user)


def connect() -> None:
    m2m_changed.connect(_groups_changed, sender=get_user_model().groups.through,
                        dispatch_uid="events-coordinator-is-staff")
