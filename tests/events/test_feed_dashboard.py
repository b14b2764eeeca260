"""The consultant dashboard pages: who may see them, and that the page is a script-free shell
that dashboard.js fills from the snapshot and the feed."""

from __future__ import annotations

import re

import pytest
from django.test import Client as DjangoClient

from tests import factories as f

pytestmark = pytest.mark.django_db


def page(user, path):
    c = DjangoClient()
    if user is not None:
        c.force_login(user)
    return c.get(path)


def test_anonymous_is_sent_to_login(market):
    response = page(None, f"/dashboard/{market.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    assert page(None, "/dashboard/").status_code == 302


@pytest.mark.parametrize("who", ["host", "mediator"])
def test_other_roles_get_403(market, request, who):
    user = request.getfixturevalue(who)
    assert page(user, "/dashboard/").status_code == 403
    assert page(user, f"/dashboard/{market.pk}/").status_code == 403


def test_consultant_sees_only_markets_of_their_district(market, other_district, consultant, other_consultant):
    elsewhere = f.market(other_district, name="Markt Zuid")
    body = page(consultant, "/dashboard/").content.decode()
    assert market.name in body and "Markt Zuid" not in body
    assert f'href="/dashboard/{market.pk}/"' in body
    assert page(consultant, f"/dashboard/{elsewhere.pk}/").status_code == 403
    assert page(other_consultant, f"/dashboard/{market.pk}/").status_code == 403
    assert page(consultant, "/dashboard/987654/").status_code == 404


def test_coordinator_sees_every_market(market, other_district, coordinator):
    elsewhere = f.market(other_district, name="Markt Zuid")
    body = page(coordinator, "/dashboard/").content.decode()
    assert market.name in body and "Markt Zuid" in body
    assert page(coordinator, f"/dashboard/{elsewhere.pk}/").status_code == 200


def test_market_page_is_a_shell_for_dashboard_js(market, consultant, settings):
    response = page(consultant, f"/dashboard/{market.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-market="{market.pk}"' in body
    assert f'data-snapshot-url="/api/v1/markets/{market.pk}/snapshot"' in body
    assert f'data-heartbeat="{settings.VM_FEED_HEARTBEAT_SECONDS}"' in body
    for count in ("invited", "arrived", "expected", "excused", "no_show"):
        assert f'data-count="{count}"' in body
    assert "data-arrivals" in body and "data-feed-status" in body and 'role="status"' in body
    assert "opnieuw verbinden…" in body
    # No inline scripts or handlers (CSP): only the module script by src.
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", body, flags=re.S)
    assert scripts and all(s.strip() == "" for s in scripts)
    assert 'type="module" src="/static/events/dashboard.js"' in body
    assert not re.search(r"\son[a-z]+=", body)


def test_static_modules_are_served(market, consultant):
    c = DjangoClient()
    for path in ("/static/backend/feed.js", "/static/events/dashboard.js", "/static/events/dashboard.css"):
        response = c.get(path)
        assert response.status_code == 200, path
