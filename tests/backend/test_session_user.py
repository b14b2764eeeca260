"""The per-request session and user reads in SQL (backend.sessions, backend.auth.RoleAwareBackend)
answer exactly what Django's own session store and ModelBackend answer."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from backend.auth import CONSULTANT, HOST, RoleAwareBackend, user_roles
from backend.sessions import SessionStore
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_user_with_roles_in_one_statement_equals_model_backend(django_assert_num_queries):
    user = f.user("both", CONSULTANT, HOST)
    with django_assert_num_queries(1):
        loaded = RoleAwareBackend().get_user(user.pk)
        assert user_roles(loaded) == {CONSULTANT, HOST}  # no groups query: read with the user
    reference = ModelBackend().get_user(user.pk)
    for field in type(user)._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(reference, field.attname), field.attname


def test_unknown_inactive_or_malformed_user_is_nobody():
    user = f.user("gone", HOST)
    user.is_active = False
    user.save()
    backend = RoleAwareBackend()
    assert backend.get_user(user.pk) is None
    assert backend.get_user(999_999) is None
    assert backend.get_user("not-a-number") is None
    assert RoleAwareBackend().get_user(str(f.user("plain").pk)).username == "plain"  # ids from sessions are strings


def test_session_read_equals_djangos_and_expired_or_unknown_is_empty():
    store = SessionStore()
    store["k"] = "v"
    store.create()
    assert SessionStore(store.session_key).load() == DjangoSessionStore(store.session_key).load() == {"k": "v"}
    Session.objects.filter(session_key=store.session_key).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    expired = SessionStore(store.session_key)
    assert expired.load() == {} and expired.session_key is None
    assert SessionStore("x" * 32).load() == {}
