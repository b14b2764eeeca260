"""The scanner pages: login required, roles, market choice, no inline scripts, strings passed as JSON."""

import json
import re

import pytest
from django.test import Client as DjangoClient

from tests import factories as f

pytestmark = pytest.mark.django_db


def test_login_required_redirects_to_login(market):
    for path in ("/scan/", f"/scan/{market.pk}/"):
        r = DjangoClient().get(path)
        assert r.status_code == 302 and r["Location"].startswith("/login/?next=")


def test_market_list_shows_open_and_planned_not_closed(api_as, host, district):
    open_ = f.market(district, state="open", name="Open markt")
    planned = f.market(district, state="planned", name="Latere markt", starts_in_hours=48)
    closed = f.market(district, state="closed", name="Oude markt")
    html = api_as(host).get("/scan/").content.decode()
    assert f"/scan/{open_.pk}/" in html and f"/scan/{planned.pk}/" in html
    assert f"/scan/{closed.pk}/" not in html
    assert html.index("Open markt") < html.index("Latere markt")


def test_scanner_page(api_as, host, market):
    f.invitation(market)
    r = api_as(host).get(f"/scan/{market.pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    config = json.loads(re.search(r'<script id="scanner-config" type="application/json">(.*?)</script>',
                                  html, re.S).group(1))
    assert config["market"] == market.pk and config["invited"] == 1
    assert config["strings"]["waiting"] == "Wacht op verzenden"
    # no inline scripts: every other <script> has a src
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="' in tag or 'type="application/json"' in tag, tag
    assert "onclick" not in html.lower()
    assert "vendor/jsqr/jsQR.js" in html and "checkin/scanner.js" in html
    assert 'aria-live="assertive"' in html
    assert 'id="walkin-search-form"' in html


def test_mediator_scans_but_has_no_walk_in_form(api_as, mediator, market):
    html = api_as(mediator).get(f"/scan/{market.pk}/").content.decode()
    assert "walkin-search-form" not in html


def test_scanner_page_forbidden(api_as, other_consultant, market):
    assert api_as(other_consultant).get(f"/scan/{market.pk}/").status_code == 403
    assert api_as(f.user("nobody")).get("/scan/").status_code == 403
    assert api_as(f.user("nobody2")).get(f"/scan/{market.pk}/").status_code == 403


def test_scanner_page_404(api_as, host):
    assert api_as(host).get("/scan/999999/").status_code == 404
