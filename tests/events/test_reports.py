"""Report figures per market and per district (events.reports) and their API + CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from events import lead_services as ls
from events import reports, services
from events.models import Agreement, Invitation, Lead
from tests import factories as f

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


@pytest.fixture
def scenario(market, consultant):
    """10 invited: 6 arrive, 1 excused, 1 revoked, 2 no-show at close; 1 walk-in; leads in each state."""
    org = f.organisation("Voedselbank")
    f.stand(market, org)
    act = org.activities.first()
    invs = [f.invitation(market) for _ in range(10)]
    now = timezone.now()
    for inv in invs[:6]:
        Invitation.objects.filter(pk=inv.pk).update(state="checked_in", checked_in_at=now)
    Invitation.objects.filter(pk=invs[6].pk).update(state="excused", excuse_category="care")
    Invitation.objects.filter(pk=invs[7].pk).update(state="revoked")
    walk = services.invitation_issue_bulk(market=market, clients=[f.client(market.district)], walk_in=True)[0]
    Invitation.objects.filter(pk=walk.pk).update(state="checked_in", checked_in_at=now)
    leads = [ls.lead_upsert(market=market, client=inv.client, organisation=org, activities=[act],
                            source=Lead.Source.KIOSK)[0] for inv in invs[:6]]
    for lead in leads[1:]:
        ls.lead_claim(lead_id=lead.pk, user=consultant)
    end = today() + dt.timedelta(days=90)
    ls.lead_outcome(lead_id=leads[1].pk, user=consultant, outcome="agreement", activity=act.pk, hours_per_week=8,
                    start_date=today(), end_date=end)
    _, a2 = ls.lead_outcome(lead_id=leads[2].pk, user=consultant, outcome="agreement", activity=act.pk,
                            hours_per_week="4.5", start_date=today(), end_date=end)
    ls.agreement_update(agreement_id=a2.pk, user=consultant, hours_per_week=6)  # counts once, as 6
    ls.lead_outcome(lead_id=leads[3].pk, user=consultant, outcome="exemption", category="care", review_date=end)
    ls.lead_outcome(lead_id=leads[4].pk, user=consultant, outcome="declined", declined_by="client", reason="Geen zin")
    ls.agreement_formalise(client_id=invs[8].client_id, user=consultant, organisation_name="Sportclub",
                           hours_per_week=3, start_date=today(), end_date=end)
    services.market_close(market=market)
    market.refresh_from_db()
    return market


def test_market_figures(scenario):
    fig = reports.market_report(market=scenario)["figures"]
    assert (fig["invited"], fig["attended"], fig["walk_ins"], fig["excused"], fig["no_shows"], fig["revoked"],
            fig["still_expected"]) == (9, 6, 1, 1, 2, 1, 0)
    assert fig["attendance_rate"] == round(6 / 9, 4)
    assert fig["attendance"] == 7  # everyone who checked in: 6 invited + 1 walk-in
    assert fig["leads"] == {"total": 6, "new": 1, "claimed": 1, "agreement": 2, "exemption": 1, "follow_up": 0,
                            "declined": 1}
    assert (fig["agreements"], fig["agreements_formalised"], fig["clients_with_agreement"]) == (3, 1, 3)
    assert fig["hours_agreed"] == 17.0  # 8 + 6 (version 2, not 4.5) + 3
    assert fig["exemptions"]["care"] == 1 and fig["exemptions"]["total"] == 1


def test_market_report_api_and_csv(api_as, consultant, coordinator, other_consultant, host, scenario):
    r = api_as(consultant).get(f"/api/v1/markets/{scenario.pk}/report")
    assert r.status_code == 200 and r.json()["figures"]["attended"] == 6
    top = {k: r.json()[k] for k in ("attendance", "no_shows", "excused", "leads", "agreements")}
    assert top == {"attendance": 7, "no_shows": 2, "excused": 1, "leads": 6, "agreements": 3}  # §11's names
    assert api_as(coordinator).get(f"/api/v1/markets/{scenario.pk}/report").status_code == 200
    assert api_as(other_consultant).get(f"/api/v1/markets/{scenario.pk}/report").status_code == 403
    assert api_as(host).get(f"/api/v1/markets/{scenario.pk}/report").status_code == 403
    r = api_as(coordinator).get(f"/api/v1/markets/{scenario.pk}/report.csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert "attachment" in r["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == reports.CSV_COLUMNS
    assert rows[0][:8] == ["market_id", "market", "district", "date", "state", "invited", "attended",
                           "attendance_rate"]
    row = dict(zip(rows[0], rows[1]))
    assert (row["invited"], row["attended"], row["no_shows"], row["excused"]) == ("9", "6", "2", "1")
    assert (row["attendance"], row["leads_total"], row["agreements"]) == ("7", "6", "3")
    assert row["hours_agreed"] == "17.0" and row["exemptions_care"] == "1" and row["leads_agreement"] == "2"
    assert len(rows) == 2


def test_district_report(api_as, coordinator, consultant, other_consultant, scenario, district):
    later = f.market(district, state="planned", starts_in_hours=24 * 20)
    f.invitation(later)
    loose_client = f.client(district)
    Agreement.objects.create(client=loose_client, organisation=f.organisation("Kerk"), hours_per_week=2,
                             start_date=today(), formalised=True)
    frm, to = (today() - dt.timedelta(days=1)).isoformat(), (today() + dt.timedelta(days=30)).isoformat()
    r = api_as(consultant).get(f"/api/v1/districts/{district.pk}/report?from={frm}&to={to}")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert [m["market"]["id"] for m in body["markets"]] == [scenario.pk, later.pk]
    assert body["totals"]["invited"] == 10 and body["totals"]["attended"] == 6
    assert body["totals"]["agreements"] == 4 and body["outside_markets"]["agreements"] == 1
    assert body["totals"]["hours_agreed"] == 19.0
    soon = (today() + dt.timedelta(days=1)).isoformat()
    narrow = api_as(coordinator).get(f"/api/v1/districts/{district.pk}/report?from={frm}&to={soon}").json()
    assert [m["market"]["id"] for m in narrow["markets"]] == [scenario.pk]
    assert api_as(other_consultant).get(f"/api/v1/districts/{district.pk}/report?from={frm}&to={to}").status_code == 403
    r = api_as(coordinator).get(f"/api/v1/districts/{district.pk}/report.csv?from={frm}&to={to}")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == reports.CSV_COLUMNS
    assert [row[1] for row in rows[1:]] == [scenario.name, later.name, "outside_markets", "total"]
    assert dict(zip(rows[0], rows[-1]))["invited"] == "10"


@pytest.mark.parametrize("query,code", [
    ("from=2026-05-01&to=2026-04-01", "period_reversed"),
    ("from=2020-01-01&to=2026-01-01", "period_too_long"),
    ("from=2026-01-01", "period_required"),
    ("", "period_required"),
])
def test_district_report_bad_periods(api_as, coordinator, district, query, code):
    for suffix in ("report", "report.csv"):
        r = api_as(coordinator).get(f"/api/v1/districts/{district.pk}/{suffix}?{query}")
        assert (r.status_code, r.json()["code"]) == (422, code)


def test_two_years_is_allowed_and_bad_dates_are_422(api_as, coordinator, district):
    ok = api_as(coordinator).get(f"/api/v1/districts/{district.pk}/report?from=2024-01-01&to=2025-12-31")
    assert ok.status_code == 200
    bad = api_as(coordinator).get(f"/api/v1/districts/{district.pk}/report?from=gisteren&to=2025-12-31")
    assert bad.status_code == 422
    assert api_as(coordinator).get("/api/v1/districts/999999/report?from=2024-01-01&to=2024-02-01").status_code == 404


def test_csv_neutralises_formulas(market, api_as, coordinator):
    market.name = "=HYPERLINK(\"x\")"
    market.save()
    r = api_as(coordinator).get(f"/api/v1/markets/{market.pk}/report.csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[1][1].startswith("'=")


def test_report_query_count_is_flat(django_assert_max_num_queries, scenario):
    with django_assert_max_num_queries(8):
        reports.market_report(market=scenario)


def test_market_report_page(scenario, consultant, other_consultant, client):
    from tests.conftest import logged_in

    r = logged_in(consultant).get(f"/reports/market/{scenario.pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert html.count("<svg") >= 4 and "<script" not in html.split("</header>")[1].split("</main>")[0]
    assert f"/api/v1/markets/{scenario.pk}/report.csv" in html and "Uitgenodigd" in html
    assert logged_in(other_consultant).get(f"/reports/market/{scenario.pk}/").status_code == 403
    assert client.get(f"/reports/market/{scenario.pk}/").status_code == 302
    assert logged_in(consultant).get("/reports/market/999999/").status_code == 404


def test_district_report_page(scenario, coordinator, district):
    from tests.conftest import logged_in

    c = logged_in(coordinator)
    frm = (today() - dt.timedelta(days=2)).isoformat()
    to = (today() + dt.timedelta(days=2)).isoformat()
    r = c.get(f"/reports/district/{district.pk}/?from={frm}&to={to}")
    assert r.status_code == 200 and scenario.name in r.content.decode()
    bad = c.get(f"/reports/district/{district.pk}/?from={to}&to={frm}")
    assert bad.status_code == 422 and "role=\"alert\"" in bad.content.decode()
    assert c.get(f"/reports/district/{district.pk}/").status_code == 200  # default: this year
