"""The district report page finds the markets a coordinator just planned: by default it covers
the calendar year (docs/leads.md), not the year up to today, and a market's report links to the
district report of the market's own year."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.test import Client as DjangoClient
from django.utils import timezone

from events import services

pytestmark = pytest.mark.django_db
TZ = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def coordinator_client(coordinator):
    c = DjangoClient()
    c.force_login(coordinator)
    return c


def _market(district, day: dt.date, name: str):
    return services.market_create(district=district, name=name, venue="Buurthuis De Ster", address="Sterstraat 5",
                                  starts_at=dt.datetime.combine(day, dt.time(10), tzinfo=TZ),
                                  ends_at=dt.datetime.combine(day, dt.time(16), tzinfo=TZ))


@pytest.fixture
def june_first(monkeypatch):
    """'Today' is 1 June of this year for the report page (a later market then fits in the year)."""
    real = timezone.localdate
    fixed = real().replace(month=6, day=1)
    monkeypatch.setattr(timezone, "localdate", lambda value=None, timezone=None: fixed if value is None else real(
        value, timezone))
    return fixed


def test_the_district_report_by_default_lists_a_market_planned_later_this_year(coordinator_client, district,
                                                                                june_first):
    planned = _market(district, june_first.replace(month=9, day=15), "Markt in september")
    _market(district, june_first.replace(year=june_first.year + 1, month=1, day=10), "Markt volgend jaar")
    page = coordinator_client.get(f"/reports/district/{district.pk}/").content.decode()
    assert f'value="{june_first.year}-12-31"' in page
    assert f'<a href="/reports/market/{planned.pk}/">Markt in september</a>' in page
    assert "Markt volgend jaar" not in page


def test_a_market_report_links_to_the_district_report_of_its_year(coordinator_client, district):
    day = timezone.localdate().replace(month=3, day=2) + dt.timedelta(days=366)  # next year
    market = _market(district, day, "Markt Oost")
    page = coordinator_client.get(f"/reports/market/{market.pk}/").content.decode()
    link = f"/reports/district/{district.pk}/?from={day.year}-01-01&amp;to={day.year}-12-31"
    assert f'href="{link}"' in page
    district_page = coordinator_client.get(link.replace("&amp;", "&")).content.decode()
    assert f'<a href="/reports/market/{market.pk}/">Markt Oost</a>' in district_page
