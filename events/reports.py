"""Report figures per market and per district over a period (DESIGN.md §11, docs/leads.md).

Definitions (the same on the page, in the JSON and in the CSV):

- invited: invitations of the market that were sent (not walk-ins), not revoked;
- attended: invited clients who checked in; attendance_rate = attended / invited (0..1);
- walk_ins: clients checked in without a prior invitation; attendance: everyone who checked
  in (attended + walk_ins);
- excused: cancelled in time with a reason; no_shows: still `issued` when the market closed;
- still_expected: `issued` while the market is not closed yet;
- leads: by state; agreements: current agreement versions (a changed agreement counts once),
  of which `formalised` were existing volunteering made formal; hours_agreed: the sum of their
  hours per week; clients_with_agreement: distinct clients;
- exemptions: by category; follow_up_summons: invitations issued for a later market as a
  follow-up of one of these markets' invitations.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from backend.errors import Invalid
from events.models import Agreement, District, Exemption, Invitation, Lead, Market

MAX_PERIOD_DAYS = 731  # two years (one leap day included)
LEAD_STATES = [s for s, _label in Lead.State.choices]
EXEMPTION_CATEGORIES = [c for c, _label in Exemption.Category.choices]

CSV_COLUMNS = (
    ["market_id", "market", "district", "date", "state", "invited", "attended", "attendance_rate", "walk_ins",
     "attendance", "excused", "no_shows", "still_expected", "revoked", "leads_total"]
    + [f"leads_{s}" for s in LEAD_STATES]
    + ["agreements", "agreements_formalised", "clients_with_agreement", "hours_agreed", "capacity_overrides",
       "exemptions_total"]
    + [f"exemptions_{c}" for c in EXEMPTION_CATEGORIES]
    + ["follow_up_summons"]
)


def _empty_figures() -> dict:
    return {
        "invited": 0, "attended": 0, "attendance_rate": 0.0, "walk_ins": 0, "attendance": 0, "excused": 0,
        "no_shows": 0,
        "still_expected": 0, "revoked": 0,
        "leads": {"total": 0, **{s: 0 for s in LEAD_STATES}},
        "agreements": 0, "agreements_formalised": 0, "clients_with_agreement": 0, "hours_agreed": 0.0,
        "capacity_overrides": 0,
        "exemptions": {"total": 0, **{c: 0 for c in EXEMPTION_CATEGORIES}},
        "follow_up_summons": 0,
    }


def _figures(*, market_ids: list[int], extra_agreements: Q | None = None) -> dict[int | None, dict]:
    """Figures per market id (key None holds agreements/exemptions not tied to a market)."""
    out: dict[int | None, dict] = {mid: _empty_figures() for mid in market_ids}
    inv = (Invitation.objects.filter(market_id__in=market_ids).values("market_id", "state", "walk_in")
           .annotate(n=Count("pk")))
    for row in inv:
        fig, n, state = out[row["market_id"]], row["n"], row["state"]
        if row["walk_in"]:
            if state == Invitation.State.CHECKED_IN:
                fig["walk_ins"] += n
            continue
        if state == Invitation.State.REVOKED:
            fig["revoked"] += n
            continue
        fig["invited"] += n
        if state == Invitation.State.CHECKED_IN:
            fig["attended"] += n
        elif state == Invitation.State.EXCUSED:
            fig["excused"] += n
        elif state == Invitation.State.NO_SHOW:
            fig["no_shows"] += n
        elif state == Invitation.State.ISSUED:
            fig["still_expected"] += n
    for row in Lead.objects.filter(market_id__in=market_ids).values("market_id", "state").annotate(n=Count("pk")):
        leads = out[row["market_id"]]["leads"]
        leads[row["state"]] += row["n"]
        leads["total"] += row["n"]
    agreements = Agreement.objects.filter(is_current=True)
    where = Q(market_id__in=market_ids)
    if extra_agreements is not None:
        where |= extra_agreements
    for row in (agreements.filter(where).values("market_id")
                .annotate(n=Count("pk"), formalised=Count("pk", filter=Q(formalised=True)),
                          clients=Count("client_id", distinct=True), hours=Sum("hours_per_week"),
                          overrides=Count("pk", filter=~Q(capacity_override_reason="")))):
        fig = out.setdefault(row["market_id"] if row["market_id"] in out else None, _empty_figures())
        fig["agreements"] += row["n"]
        fig["agreements_formalised"] += row["formalised"]
        fig["clients_with_agreement"] += row["clients"]
        fig["hours_agreed"] += float(row["hours"] or Decimal(0))
        fig["capacity_overrides"] += row["overrides"]
    ex_where = Q(market_id__in=market_ids)
    if extra_agreements is not None:
        ex_where |= extra_agreements
    for row in Exemption.objects.filter(ex_where).values("market_id", "category").annotate(n=Count("pk")):
        fig = out.setdefault(row["market_id"] if row["market_id"] in out else None, _empty_figures())
        fig["exemptions"][row["category"]] += row["n"]
        fig["exemptions"]["total"] += row["n"]
    for row in (Invitation.objects.filter(previous__market_id__in=market_ids).values("previous__market_id")
                .annotate(n=Count("pk"))):
        out[row["previous__market_id"]]["follow_up_summons"] += row["n"]
    for fig in out.values():
        fig["attendance"] = fig["attended"] + fig["walk_ins"]
        fig["attendance_rate"] = round(fig["attended"] / fig["invited"], 4) if fig["invited"] else 0.0
        fig["hours_agreed"] = round(fig["hours_agreed"], 1)
    return out


def _sum(figures: Iterable[dict]) -> dict:
    total = _empty_figures()
    for fig in figures:
        for key, value in fig.items():
            if isinstance(value, dict):
                for k, v in value.items():
                    total[key][k] += v
            elif key != "attendance_rate":
                total[key] += value
    total["attendance_rate"] = round(total["attended"] / total["invited"], 4) if total["invited"] else 0.0
    total["hours_agreed"] = round(total["hours_agreed"], 1)
    return total


def _market_row(market: Market) -> dict:
    tz = ZoneInfo("Europe/Amsterdam")
    return {"id": market.pk, "name": market.name, "district": market.district.name,
            "date": timezone.localtime(market.starts_at, tz).date().isoformat(), "state": market.state}


def market_report(*, market: Market) -> dict:
    """The market's row and all its figures; the five §11 names (attendance, no-shows, excused,
    leads, agreements) also at the top level, as plain counts."""
    figures = _figures(market_ids=[market.pk])[market.pk]
    return {"market": _market_row(market),
            "attendance": figures["attendance"], "no_shows": figures["no_shows"], "excused": figures["excused"],
            "leads": figures["leads"]["total"], "agreements": figures["agreements"],
            "figures": figures, "generated_at": timezone.now().isoformat()}


def period_validate(*, date_from: dt.date | None, date_to: dt.date | None) -> tuple[dt.date, dt.date]:
    if date_from is None or date_to is None:
        raise Invalid(_("Kies een begindatum en een einddatum."), code="period_required")
    if date_to < date_from:
        raise Invalid(_("De einddatum ligt voor de begindatum."), code="period_reversed",
                      extra={"from": date_from.isoformat(), "to": date_to.isoformat()})
    if (date_to - date_from).days > MAX_PERIOD_DAYS:
        raise Invalid(_("Een periode is hoogstens twee jaar."), code="period_too_long",
                      extra={"max_days": MAX_PERIOD_DAYS})
    return date_from, date_to


def district_report(*, district: District, date_from: dt.date | None, date_to: dt.date | None) -> dict:
    """All markets of the district that start within [from, to] (local dates, both inclusive),
    plus agreements and exemptions recorded in the period for the district's clients without a
    market (formalised outside a market)."""
    date_from, date_to = period_validate(date_from=date_from, date_to=date_to)
    tz = ZoneInfo("Europe/Amsterdam")
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    markets = list(Market.objects.select_related("district")
                   .filter(district=district, starts_at__gte=start, starts_at__lt=end).order_by("starts_at"))
    loose = Q(market__isnull=True, client__district=district, created_at__gte=start, created_at__lt=end)
    per_market = _figures(market_ids=[m.pk for m in markets], extra_agreements=loose)
    rows = [{"market": _market_row(m), "figures": per_market[m.pk]} for m in markets]
    outside = per_market.get(None)
    return {
        "district": {"id": district.pk, "name": district.name},
        "period": {"from": date_from.isoformat(), "to": date_to.isoformat()},
        "markets": rows,
        "outside_markets": outside or _empty_figures(),
        "totals": _sum([r["figures"] for r in rows] + ([outside] if outside else [])),
        "generated_at": timezone.now().isoformat(),
    }


def _csv_row(market_row: dict | None, fig: dict, *, label: str = "") -> list:
    m = market_row or {"id": "", "name": label, "district": "", "date": "", "state": ""}
    return ([m["id"], m["name"], m["district"], m["date"], m["state"], fig["invited"], fig["attended"],
             f"{fig['attendance_rate']:.4f}", fig["walk_ins"], fig["attendance"], fig["excused"], fig["no_shows"],
             fig["still_expected"], fig["revoked"], fig["leads"]["total"]]
            + [fig["leads"][s] for s in LEAD_STATES]
            + [fig["agreements"], fig["agreements_formalised"], fig["clients_with_agreement"],
               f"{fig['hours_agreed']:.1f}", fig["capacity_overrides"], fig["exemptions"]["total"]]
            + [fig["exemptions"][c] for c in EXEMPTION_CATEGORIES]
            + [fig["follow_up_summons"]])


def _csv(rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
    return buffer.getvalue()


def _safe_cell(value):
    """Keep spreadsheet programs from running a name that starts like a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def market_report_csv(*, market: Market) -> str:
    report = market_report(market=market)
    return _csv([_csv_row(report["market"], report["figures"])])


def district_report_csv(*, district: District, date_from: dt.date | None, date_to: dt.date | None) -> str:
    report = district_report(district=district, date_from=date_from, date_to=date_to)
    rows = [_csv_row(r["market"], r["figures"]) for r in report["markets"]]
    if any(report["outside_markets"][k] for k in ("agreements",)) or report["outside_markets"]["exemptions"]["total"]:
        rows.append(_csv_row(None, report["outside_markets"], label="outside_markets"))
    rows.append(_csv_row(None, report["totals"], label="total"))
    return _csv(rows)
