"""API of the consultant workflow and the reports (DESIGN.md §9, §11).

Mounted into events.api's router (one line at its end), so the paths sit under /api/v1/ with
the rest of the events API. Each endpoint authorises, calls one service or selector, returns
a schema; every refusal is an AppError with a stable code (docs/leads.md lists them).
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from backend.auth import CONSULTANT, COORDINATOR, MEDIATOR, user_auth
from backend.errors import NotFound
from backend.schemas import ErrorOut
from events import lead_services as ls
from events import reports
from events.agreement_pdf import agreement_pdf
from events.lead_schemas import (
    AgreementChangeIn,
    AgreementOut,
    FormaliseIn,
    LeadCreateIn,
    LeadDetailOut,
    LeadOut,
    NoteIn,
    NoteLookupIn,
    NoteLookupOut,
    NoteOut,
    OutcomeIn,
    OutcomeOut,
)
from events.lead_selectors import agreement_out, exemption_out, lead_detail, lead_out, leads_for_market
from events.models import Agreement, District, Lead
from events.selectors import market_get_for_user

router = Router(tags=["leads"], auth=user_auth)

READ = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
_PDF = {"responses": {200: {"description": "PDF", "content": {"application/pdf": {}}}}}
_CSV = {"responses": {200: {"description": "CSV", "content": {"text/csv": {}}}}}


def _reader_market(request, market_id: int):
    return market_get_for_user(user=request.auth, market_id=market_id, roles=(COORDINATOR, CONSULTANT))


# --- leads ----------------------------------------------------------------------------------


@router.get("markets/{market_id}/leads", response={200: list[LeadOut], **READ})
def leads_list(request, market_id: int, state: str | None = None, mine: bool = False):
    market = _reader_market(request, market_id)
    return [lead_out(lead) for lead in leads_for_market(market=market, state=state,
                                                          claimed_by=request.auth if mine else None)]


@router.post("markets/{market_id}/leads", response={201: LeadOut, 200: LeadOut, **WRITE})
def leads_create(request, market_id: int, payload: LeadCreateIn):
    market = _reader_market(request, market_id)
    lead, created = ls.lead_create_by_consultant(market=market, user=request.auth, client_id=payload.client,
                                                 organisation=payload.organisation, activities=payload.activities,
                                                 note=payload.note, claim=payload.claim)
    return Status(201 if created else 200, lead_out(lead))


@router.get("leads/{lead_id}", response={200: LeadDetailOut, **READ})
def leads_get(request, lead_id: int):
    return lead_detail(ls.lead_get_for_user(user=request.auth, lead_id=lead_id))


@router.post("leads/{lead_id}/claim", response={200: LeadOut, **WRITE})
def leads_claim(request, lead_id: int):
    return lead_out(ls.lead_claim(lead_id=lead_id, user=request.auth))


@router.post("leads/{lead_id}/release", response={200: LeadOut, **WRITE})
def leads_release(request, lead_id: int):
    return lead_out(ls.lead_release(lead_id=lead_id, user=request.auth))


@router.post("leads/{lead_id}/notes", response={201: NoteOut, **WRITE})
def leads_note(request, lead_id: int, payload: NoteIn):
    note = ls.lead_note_add(lead_id=lead_id, user=request.auth, text=payload.text)
    return Status(201, ls.note_feed_data(note))


@router.post("markets/{market_id}/leads/lookup", response={200: NoteLookupOut, **READ, 429: ErrorOut})
def leads_lookup_for_note(request, market_id: int, payload: NoteLookupIn):
    """A peer mediator (or a consultant of the district) scanned a client's letter to add a note:
    the display name and language and the client's open leads here, with organisation and
    activities only. 200 with `reason` unknown, revoked or wrong_market for those scans;
    writes nothing; unknown codes count for the rate limit (429)."""
    market = market_get_for_user(user=request.auth, market_id=market_id, roles=(MEDIATOR, CONSULTANT))
    return ls.leads_lookup_for_note(market=market, user=request.auth, token=payload.token, code=payload.code)


@router.post("leads/{lead_id}/outcome", response={200: OutcomeOut, **WRITE})
def leads_outcome(request, lead_id: int, payload: OutcomeIn):
    fields = payload.model_dump()
    if fields["outcome"] == "agreement" and fields["end_date"] is None:
        fields["end_date"] = fields["review_date"]  # "end or review date"
    if fields["outcome"] != "exemption":
        fields.pop("review_date")
    lead, record = ls.lead_outcome(lead_id=lead_id, user=request.auth, **fields)
    out = {"lead": lead_out(lead), "agreement": None, "exemption": None}
    if isinstance(record, Agreement):
        out["agreement"] = agreement_out(record)
    elif record is not None:
        out["exemption"] = exemption_out(record)
    return out


# --- agreements -----------------------------------------------------------------------------


@router.post("clients/{client_id}/formalise", response={201: AgreementOut, **WRITE})
def clients_formalise(request, client_id: int, payload: FormaliseIn):
    agreement = ls.agreement_formalise(client_id=client_id, user=request.auth, **payload.model_dump())
    return Status(201, agreement_out(agreement))


def _agreement_for_reader(request, agreement_id: int) -> Agreement:
    agreement = (Agreement.objects.select_related("client", "organisation", "activity", "created_by")
                 .filter(pk=agreement_id).first())
    if agreement is None:
        raise NotFound(_("Deze afspraak bestaat niet."), code="agreement_not_found")
    ls.require_reader_for_district(request.auth, agreement.client.district_id)
    return agreement


@router.get("agreements/{agreement_id}", response={200: AgreementOut, **READ})
def agreements_get(request, agreement_id: int):
    return agreement_out(_agreement_for_reader(request, agreement_id))


def _change(request, agreement_id: int, payload: AgreementChangeIn):
    return agreement_out(ls.agreement_update(agreement_id=agreement_id, user=request.auth, **payload.model_dump()))


@router.put("agreements/{agreement_id}", response={200: AgreementOut, **WRITE})
def agreements_put(request, agreement_id: int, payload: AgreementChangeIn):
    return _change(request, agreement_id, payload)


@router.post("agreements/{agreement_id}", response={200: AgreementOut, **WRITE})
def agreements_post(request, agreement_id: int, payload: AgreementChangeIn):
    return _change(request, agreement_id, payload)


@router.get("agreements/{agreement_id}/client-copy.pdf", response={200: None, **READ}, openapi_extra=_PDF)
def agreements_client_copy(request, agreement_id: int):
    agreement = _agreement_for_reader(request, agreement_id)
    response = HttpResponse(agreement_pdf(agreement), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        False, f"afspraak-{agreement.pk}-v{agreement.version}.pdf")
    response["Cache-Control"] = "private, no-store"
    return response


# --- reports --------------------------------------------------------------------------------


def _csv_response(text: str, filename: str) -> HttpResponse:
    # A UTF-8 byte order mark so that spreadsheet programs read ë, ş and Arabic correctly.
    response = HttpResponse("\ufeff" + text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "private, no-store"
    return response


@router.get("markets/{market_id}/report", response={200: dict, **READ})
def markets_report(request, market_id: int):
    return reports.market_report(market=_reader_market(request, market_id))


@router.get("markets/{market_id}/report.csv", response={200: None, **READ}, openapi_extra=_CSV)
def markets_report_csv(request, market_id: int):
    market = _reader_market(request, market_id)
    return _csv_response(reports.market_report_csv(market=market), f"rapport-markt-{market.pk}.csv")


def _district_for_reader(request, district_id: int) -> District:
    district = District.objects.filter(pk=district_id).first()
    if district is None:
        raise NotFound(_("Deze wijk bestaat niet."), code="district_not_found")
    ls.require_reader_for_district(request.auth, district.pk)
    return district


@router.get("districts/{district_id}/report", response={200: dict, **READ})
def districts_report(request, district_id: int, date_from: dt.date | None = Query(None, alias="from"),
                     date_to: dt.date | None = Query(None, alias="to")):
    district = _district_for_reader(request, district_id)
    return reports.district_report(district=district, date_from=date_from, date_to=date_to)


@router.get("districts/{district_id}/report.csv", response={200: None, **READ}, openapi_extra=_CSV)
def districts_report_csv(request, district_id: int, date_from: dt.date | None = Query(None, alias="from"),
                         date_to: dt.date | None = Query(None, alias="to")):
    district = _district_for_reader(request, district_id)
    text = reports.district_report_csv(district=district, date_from=date_from, date_to=date_to)
    return _csv_response(text, f"rapport-wijk-{district.pk}-{date_from}-{date_to}.csv")


__all__ = ["router", "Lead"]
