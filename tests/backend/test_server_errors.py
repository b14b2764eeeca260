"""Uncaught errors (backend.views.server_error, handler500): 503 when the database is down, else
500; JSON under /api/, a short page in the visitor's language elsewhere, rendered without the
database."""

from __future__ import annotations

import contextlib
import json

import pytest
from django.db import connection
from django.db.utils import OperationalError
from django.test import Client as DjangoClient

from backend import api as backend_api

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def database_down():
    """Every query of this thread fails the way a lost connection does."""

    def refuse(execute, sql, params, many, context):
        raise OperationalError("server closed the connection unexpectedly")

    with connection.execute_wrapper(refuse):
        yield


@pytest.fixture
def web():
    return DjangoClient(raise_request_exception=False)


def test_client_page_with_the_database_down_is_a_plain_dutch_503(web):
    with database_down():
        response = web.get("/i/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Language"] == "nl"
    html = response.content.decode()
    assert '<html lang="nl">' in html
    assert "Even niet bereikbaar" in html and "Er is niets verloren gegaan." in html
    assert 'href="/i/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">Probeer opnieuw</a>' in html
    assert "Vragen? Bel" in html
    assert "Content-Security-Policy" in response  # the middleware still wraps the page


@pytest.mark.parametrize("how, lang, text", [
    ({"QUERY_STRING": "lang=en"}, "en", "Temporarily unavailable"),
    ({"HTTP_ACCEPT_LANGUAGE": "tr-TR,tr;q=0.9"}, "tr", "Geçici olarak kullanılamıyor"),
    ({"HTTP_COOKIE": "django_language=pt"}, "pt", "Temporariamente indisponível"),
    ({"QUERY_STRING": "lang=xx", "HTTP_ACCEPT_LANGUAGE": "de"}, "nl", "Even niet bereikbaar"),
])
def test_the_page_speaks_the_visitors_language_without_asking_the_database(web, how, lang, text):
    with database_down():
        response = web.get("/i/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", **how)
    assert response.status_code == 503
    html = response.content.decode()
    assert f'<html lang="{lang}">' in html and text in html


def test_arabic_error_page_is_right_to_left(web):
    with database_down():
        response = web.get("/i/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?lang=ar")
    assert '<html lang="ar" dir="rtl">' in response.content.decode()


def test_any_other_error_on_a_page_is_a_500_without_retry_after(web, monkeypatch):
    from events import views_client

    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views_client, "choose_language", boom)
    response = web.get("/i/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?lang=en")
    assert response.status_code == 500
    assert "Retry-After" not in response
    html = response.content.decode()
    assert "Something went wrong" in html and "It is not your fault." in html
    assert "a bug" not in html  # nothing of the exception is shown


def test_an_api_error_outside_ninjas_handlers_is_the_json_envelope(web, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(backend_api, "authenticate", boom)
    response = web.post("/api/v1/auth/login", {"username": "x", "password": "y"},
                        content_type="application/json")
    assert response.status_code == 500
    assert response.json() == {"message": "Er ging iets mis aan onze kant.", "code": "server_error", "extra": {}}


def test_the_api_keeps_its_own_503_for_a_database_outage(web):
    with database_down():
        response = web.post("/api/v1/auth/login", {"username": "x", "password": "y"},
                            content_type="application/json")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert response["Retry-After"] == "2"


def test_an_outage_that_escapes_ninja_is_the_same_503_envelope_as_ninjas():
    """An OperationalError outside a view (a middleware, say) still answers API clients the way
    backend.api does: 503 `unavailable`, retry after 2 seconds."""
    from django.test import RequestFactory

    from backend.views import server_error

    request = RequestFactory().post("/api/v1/checkin/redeem")
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503 and response["Retry-After"] == "2"
    assert json.loads(response.content) == {
        "message": "De verbinding met de database is even weg. Probeer het opnieuw.",
        "code": "unavailable", "extra": {"retry_after": 2}}


@pytest.mark.django_db
def test_a_page_that_does_not_exist_is_plain_dutch_or_the_visitors_language():
    r = DjangoClient().get("/nergens/")
    html = r.content.decode()
    assert r.status_code == 404 and '<html lang="nl"' in html
    assert "Deze pagina bestaat niet" in html and 'href="/"' in html
    ar = DjangoClient().get("/nergens/", HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert '<html lang="ar" dir="rtl"' in ar and "هذه الصفحة غير موجودة" in ar


@pytest.mark.django_db
def test_a_page_of_another_role_says_no_access_with_a_way_back(host, market):
    from tests.conftest import logged_in

    r = logged_in(host).get(f"/dashboard/{market.pk}/")
    html = r.content.decode()
    assert r.status_code == 403 and '<html lang="nl"' in html
    assert "Geen toegang" in html and 'href="/"' in html and "403 Forbidden" not in html
