"""Which changes re-check feed sockets (events/feed_rights.py): only those that can end a right.
A login saves the user (last_login) and must not send a message to every process."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client as DjangoClient

from backend.auth import CONSULTANT, COORDINATOR
from events import feed_rights
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(feed_rights, "rights_changed", lambda *, user_ids=None: calls.append(
        None if user_ids is None else sorted(user_ids)))
    return calls


def test_what_gives_or_keeps_rights_sends_nothing(sent, district, settings):
    user = f.user("c_new", CONSULTANT)  # created, with a role added
    district.consultants.add(user)
    user.districts.add(f.district())
    user.first_name = "Anna"
    user.save()
    user.set_password("a-long-password-1")
    user.save()
    assert DjangoClient().login(username="c_new", password="a-long-password-1")  # saves last_login
    assert sent == []


def test_what_can_end_a_right_names_the_users(sent, district):
    a, b = f.user("c_a", CONSULTANT, districts=(district,)), f.user("c_b", CONSULTANT, districts=(district,))
    district.consultants.remove(a, b)
    assert sent == [sorted([a.pk, b.pk])]
    b.districts.add(district)
    b.districts.clear()
    assert sent[-1] == [b.pk]
    a.groups.remove(Group.objects.get(name=CONSULTANT))
    assert sent[-1] == [a.pk]
    Group.objects.get(name=CONSULTANT).user_set.remove(b)
    assert sent[-1] == [b.pk]
    district.consultants.add(a)
    district.consultants.clear()  # who is unknown afterwards: every socket
    assert sent[-1] is None
    a.is_active = False
    a.save()
    assert sent[-1] == [a.pk]
    pk = b.pk
    b.delete()
    assert sent[-1] == [pk]
    coordinator = f.user("k", COORDINATOR)
    http = DjangoClient()
    http.force_login(coordinator)
    http.post("/api/v1/auth/logout")
    assert sent[-1] == [coordinator.pk]
