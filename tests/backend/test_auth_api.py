import json

import pytest
from django.test import Client as DjangoClient

from backend.errors import RateLimited  # noqa: F401
from tests.conftest import logged_in


@pytest.mark.django_db
def test_login_returns_roles_and_sets_cookies(coordinator):
    c = DjangoClient(enforce_csrf_checks=True)
    r = c.post("/api/v1/auth/login", json.dumps({"username": "coordinator", "password": "pw-secret-123"}),
               content_type="application/json")
    assert r.status_code == 200
    assert r.json() == {"username": "coordinator", "roles": ["coordinator"]}
    assert "sessionid" in r.cookies and "csrftoken" in r.cookies


@pytest.mark.django_db
def test_wrong_password_is_401_with_stable_code(coordinator):
    c = DjangoClient()
    r = c.post("/api/v1/auth/login", {"username": "coordinator", "password": "nope"}, content_type="application/json")
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_credentials"
    assert set(r.json()) == {"message", "code", "extra"}


@pytest.mark.django_db
def test_malformed_login_body_is_422():
    r = DjangoClient().post("/api/v1/auth/login", "{nope", content_type="application/json")
    assert r.status_code == 422
    assert r.json()["code"] == "invalid"


@pytest.mark.django_db
def test_logout_needs_csrf_then_ends_session(coordinator, api_as):
    c = api_as(coordinator)
    no_csrf = DjangoClient(enforce_csrf_checks=True)
    no_csrf.force_login(coordinator)
    assert no_csrf.post("/api/v1/auth/logout").status_code == 403
    assert c.post("/api/v1/auth/logout").status_code == 200
    assert c.get("/api/v1/auth/me").status_code == 401


@pytest.mark.django_db
def test_login_brute_force_is_rate_limited(coordinator):
    c = DjangoClient()
    body = json.dumps({"username": "coordinator", "password": "wrong"})
    codes = [c.post("/api/v1/auth/login", body, content_type="application/json").status_code for _ in range(11)]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    r = c.post("/api/v1/auth/login", json.dumps({"username": "coordinator", "password": "pw-secret-123"}),
               content_type="application/json")
    assert r.status_code == 429 and int(r["Retry-After"]) > 0


def test_shared_refusals_are_plain_dutch_and_follow_the_language(host, market):
    """The pages show `message` to hosts, tablets and consultants: plain Dutch by default, the
    user's language when the request asks for one; `code` stays the same for programs."""
    c = logged_in(host)
    r = c.get(f"/api/v1/markets/{market.pk}/leads")
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"
    assert r.json()["message"] == "Dit mag niet met uw rol."
    r = c.get(f"/api/v1/markets/{market.pk}/leads", HTTP_ACCEPT_LANGUAGE="en")
    assert r.json()["message"] == "Your role does not allow this."
    r = DjangoClient().get("/api/v1/markets", HTTP_ACCEPT_LANGUAGE="tr")
    assert r.status_code == 401 and r.json()["message"] == "Önce giriş yapın (veya bu cihazı yeniden eşleştirin)."
