"""When someone's right to follow a market feed may have ended, their open feed sockets check it
at once (backend.feed.rights_changed) instead of at their next heartbeat (DESIGN.md §10: "a user
whose rights end loses the stream"; docs/feed.md).

What can end a consultant's or coordinator's right: a role taken away (a group removed), a
district taken away, the account deactivated or deleted, the session ended (logout). Adding a
role or a district never ends anything and sends nothing.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save

from backend.feed import rights_changed

REMOVALS = {"post_remove", "post_clear"}


def _m2m_removed(sender, instance, action, reverse, pk_set, **kwargs):
    """user.groups / district.consultants (and the reverse sides) lost members."""
    if action not in REMOVALS:
        return
    user_model = get_user_model()
    if isinstance(instance, user_model):  # user.groups.remove(...), user.districts.clear()
        rights_changed(user_ids=[instance.pk])
    else:  # group.user_set.remove(...), district.consultants.remove(...); clear: who is unknown
        rights_changed(user_ids=pk_set if action == "post_remove" else None)


def _user_saved(sender, instance, created, **kwargs):
    if not created and not instance.is_active:
        rights_changed(user_ids=[instance.pk])


def _user_deleted(sender, instance, **kwargs):
    rights_changed(user_ids=[instance.pk])


def _logged_out(sender, request, user, **kwargs):
    if user is not None and user.pk is not None:
        rights_changed(user_ids=[user.pk])


def connect() -> None:
    from events.models import District

    user_model = get_user_model()
    m2m_changed.connect(_m2m_removed, sender=user_model.groups.through, dispatch_uid="feed-rights-groups")
    m2m_changed.connect(_m2m_removed, sender=District.consultants.through, dispatch_uid="feed-rights-districts")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="feed-rights-user-saved")
    post_delete.connect(_user_deleted, sender=user_model, dispatch_uid="feed-rights-user-deleted")
    user_logged_out.connect(_logged_out, dispatch_uid="feed-rights-logout")
