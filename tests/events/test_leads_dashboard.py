"""The lead-workflow part of the dashboard page: its config for the browser, per role."""

from __future__ import annotations

import html
import json
import re

import pytest

from tests import factories as f
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


def config(response) -> dict:
    body = response.content.decode()
    match = re.search(r'id="lead-workflow-config" data-config="([^"]*)"', body)
    assert match, "no workflow config on the page"
    return json.loads(html.unescape(match.group(1)))


def test_consultant_page_has_inbox_and_config(market, consultant):
    org = f.organisation("Buurthuis")
    f.stand(market, org)
    r = logged_in(consultant).get(f"/dashboard/{market.pk}/")
    assert r.status_code == 200
    body = r.content.decode()
    for hook in ("data-leads-inbox", "data-timeline", "data-arrivals-search-input", "data-outcome-form",
                 "data-note-form", 'data-lead-count="new"', "/static/events/dashboard_workflow.js"):
        assert hook in body, hook
    assert "data-close-market" not in body
    cfg = config(r)
    assert cfg["username"] == "consultant" and cfg["can_work"] and not cfg["is_coordinator"]
    assert cfg["hours_limit"] == 20 and cfg["report_url"] == f"/reports/market/{market.pk}/"
    assert [o["name"] for o in cfg["organisations"]] == ["Buurthuis"]
    assert len(cfg["organisations"][0]["activities"]) == 2
    assert {c["value"] for c in cfg["categories"]} == {"care", "health", "language", "debt", "working",
                                                       "volunteering"}
    assert cfg["i18n"]["claim"] == "Neem deze lead"
    assert not re.search(r"\son[a-z]+=", body)


def test_coordinator_gets_close_and_later_markets(market, coordinator, district):
    later = f.market(district, state="planned", starts_in_hours=24 * 14, name="Later")
    f.market(f.district("Elders"), state="planned", starts_in_hours=24 * 14, name="Elders")
    r = logged_in(coordinator).get(f"/dashboard/{market.pk}/")
    cfg = config(r)
    assert cfg["is_coordinator"] and not cfg["can_work"]
    assert [m["id"] for m in cfg["later_markets"]] == [later.pk]
    assert "data-close-market" in r.content.decode()


def test_lead_feed_rows_equal_lead_feed_data(market, consultant, django_assert_num_queries):
    from events import lead_services as ls
    from events.lead_selectors import lead_feed_rows
    from events.models import Lead

    org = f.organisation("Bibliotheek")
    acts = list(org.activities.all())
    for i in range(4):
        client = f.client(market.district, given=f"Ş{i}", family="" if i == 3 else "Öz")
        lead, _ = ls.lead_upsert(market=market, client=client, organisation=org if i else None,
                                 activities=acts[: i % 3] if i else [], source=Lead.Source.KIOSK, warmth="hot")
        if i == 2:
            ls.lead_claim(lead_id=lead.pk, user=consultant)
    expected = [ls.lead_feed_data(lead) for lead in Lead.objects.filter(market=market).order_by("pk")]
    with django_assert_num_queries(2):
        rows = lead_feed_rows(market_id=market.pk)
    assert rows == expected
