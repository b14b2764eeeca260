"""The report pages: /reports/market/<id>/ and /reports/district/<id>/?from=&to= (HTML with
server-drawn SVG charts and a CSV download). The figures come from events.reports."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseForbidden, HttpResponseNotFound
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from backend.auth import CONSULTANT, COORDINATOR
from backend.errors import AppError, Forbidden, Invalid, NotFound
from events import reports
from events.lead_labels import EXEMPTION_LABELS, LEAD_STATE_LABELS
from events.lead_services import require_reader_for_district
from events.models import District, Invitation
from events.report_charts import bar_chart, timeline_chart
from events.selectors import market_get_for_user


def _attendance_items(fig: dict) -> list[tuple[str, float]]:
    return [(_("Gekomen"), fig["attended"]), (_("Afgemeld met reden"), fig["excused"]),
            (_("Niet gekomen"), fig["no_shows"]), (_("Nog verwacht"), fig["still_expected"]),
            (_("Zonder uitnodiging"), fig["walk_ins"])]


def _figure_rows(fig: dict) -> list[tuple[str, str]]:
    rate = f"{fig['attendance_rate'] * 100:.1f}%".replace(".", ",")
    hours = f"{fig['hours_agreed']:.1f}".replace(".", ",")
    return [
        (_("Uitgenodigd"), fig["invited"]), (_("Gekomen"), fig["attended"]), (_("Opkomst"), rate),
        (_("Zonder uitnodiging"), fig["walk_ins"]), (_("Afgemeld met reden"), fig["excused"]),
        (_("Niet gekomen"), fig["no_shows"]), (_("Nog verwacht"), fig["still_expected"]),
        (_("Leads"), fig["leads"]["total"]), (_("Afspraken"), fig["agreements"]),
        (_("Waarvan bestaand vrijwilligerswerk"), fig["agreements_formalised"]),
        (_("Uren per week afgesproken"), hours), (_("Vrijstellingen"), fig["exemptions"]["total"]),
        (_("Afspraken boven capaciteit (met reden)"), fig["capacity_overrides"]),
        (_("Nieuwe oproepen gestuurd"), fig["follow_up_summons"]),
    ]


def _charts(fig: dict) -> dict:
    return {
        "attendance": bar_chart(_attendance_items(fig), title=_("Opkomst")),
        "leads": bar_chart([(str(LEAD_STATE_LABELS[s]), fig["leads"][s]) for s in reports.LEAD_STATES],
                           title=_("Leads per status")),
        "exemptions": bar_chart([(str(EXEMPTION_LABELS[c]), fig["exemptions"][c])
                                 for c in reports.EXEMPTION_CATEGORIES], title=_("Vrijstellingen per reden")),
    }


def _refuse(request, exc: AppError):
    if isinstance(exc, NotFound):
        return HttpResponseNotFound(exc.message)
    return HttpResponseForbidden(exc.message)


def market_report_page(request, market_id: int):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        market = market_get_for_user(user=request.user, market_id=market_id, roles=(COORDINATOR, CONSULTANT))
    except (Forbidden, NotFound) as exc:
        return _refuse(request, exc)
    report = reports.market_report(market=market)
    fig = report["figures"]
    times = list(Invitation.objects.filter(market=market, state=Invitation.State.CHECKED_IN)
                 .exclude(checked_in_at=None).values_list("checked_in_at", flat=True))
    charts = _charts(fig)
    charts["timeline"] = timeline_chart(times, start=market.starts_at, end=market.ends_at,
                                        title=_("Aankomsten per kwartier"))
    return render(request, "events/report_market.html", {
        "market": market, "report": report, "fig": fig, "rows": _figure_rows(fig), "charts": charts,
        "csv_url": f"/api/v1/markets/{market.pk}/report.csv",
        "district_url": _district_url_for(market),
    })


def _district_url_for(market) -> str:
    """The district report of the market's calendar year, so that it lists this market (also a
    market later this year)."""
    year = timezone.localtime(market.starts_at).year
    return f"/reports/district/{market.district_id}/?from={year}-01-01&to={year}-12-31"


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def district_report_page(request, district_id: int):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    district = District.objects.filter(pk=district_id).first()
    if district is None:
        return HttpResponseNotFound(_("Deze wijk bestaat niet."))
    try:
        require_reader_for_district(request.user, district.pk)
    except Forbidden as exc:
        return _refuse(request, exc)
    today = timezone.localdate()
    date_from = _date(request.GET.get("from")) or today.replace(month=1, day=1)
    date_to = _date(request.GET.get("to")) or today.replace(month=12, day=31)  # the whole year: planned markets too
    error = ""
    report = None
    try:
        report = reports.district_report(district=district, date_from=date_from, date_to=date_to)
    except Invalid as exc:
        error = exc.message
    context = {"district": district, "date_from": date_from, "date_to": date_to, "error": error, "report": report}
    if report is not None:
        fig = report["totals"]
        context.update({
            "fig": fig, "rows": _figure_rows(fig), "charts": _charts(fig),
            "per_market": bar_chart([(r["market"]["date"], r["figures"]["attended"]) for r in report["markets"]],
                                    title=_("Gekomen per markt")),
            "csv_url": f"/api/v1/districts/{district.pk}/report.csv?from={date_from}&to={date_to}",
        })
    return render(request, "events/report_district.html", context, status=422 if error else 200)
