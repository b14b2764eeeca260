import uuid

import pytest
from django.test import Client as DjangoClient

from backend.auth import CONSULTANT, COORDINATOR, HOST, MEDIATOR
from tests import factories as f


@pytest.fixture
def district(db):
    return f.district("Noord")


@pytest.fixture
def other_district(db):
    return f.district("Zuid")


@pytest.fixture
def coordinator(db):
    return f.user("coordinator", COORDINATOR)


@pytest.fixture
def consultant(district):
    return f.user("consultant", CONSULTANT, districts=(district,))


@pytest.fixture
def other_consultant(other_district):
    return f.user("consultant_zuid", CONSULTANT, districts=(other_district,))


@pytest.fixture
def host(db):
    return f.user("host", HOST)


@pytest.fixture
def mediator(db):
    return f.user("mediator", MEDIATOR)


@pytest.fixture
def market(district):
    return f.market(district, state="open")


def logged_in(user) -> DjangoClient:
    """A test client logged in as `user` that sends the CSRF token like a browser does."""
    c = DjangoClient(enforce_csrf_checks=True)
    c.force_login(user)
    c.get("/api/v1/auth/me")
    token = c.cookies["csrftoken"].value
    c.defaults["HTTP_X_CSRFTOKEN"] = token
    return c


@pytest.fixture
def api_as():
    return logged_in


@pytest.fixture(autouse=True)
def _fresh_rate_limits(monkeypatch):
    from backend import ratelimit

    monkeypatch.setattr(ratelimit, "NAMESPACE", f"rl-test-{uuid.uuid4().hex}")
