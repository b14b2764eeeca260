"""The events API (DESIGN.md §11): markets, client import, invitations, QR codes, letters, stands.

Each endpoint parses, authorises (backend.auth roles + events.selectors), calls one service or
selector and returns a schema. Sections below are grouped by resource; add new endpoints to
the section they belong to (or a new section at the end).
"""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from backend.audit import audit_record
from backend.auth import COORDINATOR, require_role, user_auth
from backend.errors import Invalid, NotFound
from backend.schemas import ErrorOut
from events import letters, qr, selectors, services
from events.codes import invitation_url
from events.imports import clients_import_csv
from events.models import District, Invitation, Market, TimeSlot
from events.schemas import (
    ClientImportOut,
    FollowUpIn,
    InvitationOut,
    InvitationsIssuedOut,
    InvitationsIssueIn,
    MarketCloseOut,
    MarketIn,
    MarketOut,
    StandOut,
)

router = Router(tags=["events"], auth=user_auth)

E401 = {401: ErrorOut}
READ = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}
WRITE = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
QR_CACHE_SECONDS = 24 * 3600


def _coordinator_market(request, market_id: int) -> Market:
    return selectors.market_get_for_user(user=request.auth, market_id=market_id, roles=(COORDINATOR,))


def market_out(market: Market) -> dict:
    return {"id": market.pk, "name": market.name, "district": market.district_id,
            "district_name": market.district.name, "venue": market.venue, "address": market.address,
            "starts_at": market.starts_at, "ends_at": market.ends_at, "state": market.state}


def invitation_out(inv: Invitation) -> dict:
    client = inv.client
    return {"id": inv.pk, "client": inv.client_id, "client_number": client.client_number,
            "client_name": f"{client.given_name} {client.family_name}".strip(), "language": client.language,
            "token": inv.token, "code": inv.formatted_code, "state": inv.state, "round": inv.round,
            "slot": inv.slot_id, "previous": inv.previous_id, "walk_in": inv.walk_in,
            "issued_at": inv.issued_at, "checked_in_at": inv.checked_in_at, "url": invitation_url(inv.token)}


def _issued_out(market: Market, created: list[Invitation]) -> dict:
    """The answer to an issue/follow-up: the invitations created now, read back in chunks
    (bulk issues can hold tens of thousands of ids, more than one IN clause should)."""
    pks = [i.pk for i in created]
    rows: list[dict] = []
    for start in range(0, len(pks), 2000):
        chunk = selectors.invitations_for_market(market=market).filter(pk__in=pks[start:start + 2000])
        rows.extend(invitation_out(i) for i in chunk)
    return {"created": len(created), "invitations": rows}


def _slot_of(market: Market, slot_id: int | None) -> TimeSlot | None:
    if slot_id is None:
        return None
    slot = TimeSlot.objects.filter(pk=slot_id).first()
    if slot is None:
        raise NotFound(_("Dit tijdvak bestaat niet."), code="slot_not_found")
    if slot.market_id != market.pk:
        raise Invalid(_("Dit tijdvak hoort bij een andere markt."), code="slot_wrong_market")
    return slot


# --- markets -------------------------------------------------------------------------------


@router.get("markets", response={200: list[MarketOut], **E401})
def markets_list(request):
    return [market_out(m) for m in selectors.markets_visible_to(request.auth)]


@router.post("markets", response={201: MarketOut, **WRITE})
def markets_create(request, payload: MarketIn):
    require_role(request.auth, COORDINATOR)
    district = District.objects.filter(pk=payload.district).first()
    if district is None:
        raise NotFound(_("Deze wijk bestaat niet."), code="district_not_found")
    market = services.market_create_with_slots(
        district=district, name=payload.name, venue=payload.venue, address=payload.address,
        starts_at=payload.starts_at, ends_at=payload.ends_at, what_to_bring=payload.what_to_bring,
        slots=[(s.starts_at, s.ends_at, s.capacity) for s in payload.slots])
    return Status(201, market_out(market))


@router.post("markets/{market_id}/open", response={200: MarketOut, **WRITE})
def markets_open(request, market_id: int):
    market = services.market_open(market=_coordinator_market(request, market_id))
    return market_out(market)


@router.post("markets/{market_id}/close", response={200: MarketCloseOut, **WRITE})
def markets_close(request, market_id: int):
    market, no_shows = services.market_close(market=_coordinator_market(request, market_id))
    return {**market_out(market), "no_shows": no_shows}


@router.get("markets/{market_id}/stands", response={200: list[StandOut], **READ})
def markets_stands(request, market_id: int):
    market = selectors.market_get_for_user(user=request.auth, market_id=market_id)
    return [
        {"id": s.pk, "organisation": s.organisation.name, "organisation_id": s.organisation_id,
         "location": s.location,
         "activities": [{"id": a.pk, "title": a.title} for a in s.organisation.activities.all()]}
        for s in selectors.stands_for_market(market=market)
    ]


# --- clients -------------------------------------------------------------------------------


@router.post("clients/import", response={200: ClientImportOut, **WRITE})
def clients_import(request, district: Form[str], file: File[UploadedFile]):
    require_role(request.auth, COORDINATOR)
    value = district.strip()
    found = (District.objects.filter(pk=int(value)).first() if value.isdigit()
             else District.objects.filter(name=value).first())
    if found is None:
        raise NotFound(_("Deze wijk bestaat niet."), code="district_not_found")
    return clients_import_csv(district=found, source=file).as_dict()


# --- invitations ---------------------------------------------------------------------------


@router.post("markets/{market_id}/invitations", response={200: InvitationsIssuedOut, **WRITE})
def invitations_issue(request, market_id: int, payload: InvitationsIssueIn):
    market = _coordinator_market(request, market_id)
    created = services.invitation_issue_bulk(market=market, clients=payload.clients,
                                             slot=_slot_of(market, payload.slot))
    return _issued_out(market, created)


@router.get("markets/{market_id}/invitations", response={200: list[InvitationOut], **READ})
def invitations_list(request, market_id: int, state: str | None = None):
    market = _coordinator_market(request, market_id)
    qs = selectors.invitations_for_market(market=market)
    if state:
        qs = qs.filter(state=state)
    # The list carries client numbers and full names: a read of client records, audit-logged.
    audit_record(action="read", object_type="client", object_id=f"market:{market.pk}",
                 detail={"via": "invitations_list"})
    return [invitation_out(i) for i in qs.iterator(chunk_size=2000)]


@router.post("markets/{market_id}/follow-up", response={200: InvitationsIssuedOut, **WRITE})
def invitations_follow_up(request, market_id: int, payload: FollowUpIn):
    market = _coordinator_market(request, market_id)
    later = _coordinator_market(request, payload.market)
    created = services.invitation_follow_up(market=market, later=later, slot=_slot_of(later, payload.slot))
    return _issued_out(later, created)


def _qr_response(request, invitation: Invitation, kind: str) -> HttpResponse:
    etag = qr.etag_for(invitation.token, kind)
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    elif kind == "png":
        response = HttpResponse(qr.invitation_png(invitation.token), content_type="image/png")
    else:
        response = HttpResponse(qr.invitation_svg(invitation.token), content_type="image/svg+xml; charset=utf-8")
    response["ETag"] = etag
    # private: the image leads to a client's page; only the coordinator's own browser caches it.
    response["Cache-Control"] = f"private, max-age={QR_CACHE_SECONDS}"
    response["Vary"] = "Cookie"
    return response


_PNG = {"responses": {200: {"description": "QR code (PNG)", "content": {"image/png": {}}}}}
_SVG = {"responses": {200: {"description": "QR code (SVG)", "content": {"image/svg+xml": {}}}}}
_PDF = {"responses": {200: {"description": "PDF", "content": {"application/pdf": {}}}}}


@router.get("invitations/{invitation_id}/qr.png", response={200: None, 304: None, **READ}, openapi_extra=_PNG)
def invitation_qr_png(request, invitation_id: int):
    invitation = selectors.invitation_get_for_coordinator(user=request.auth, invitation_id=invitation_id)
    return _qr_response(request, invitation, "png")


@router.get("invitations/{invitation_id}/qr.svg", response={200: None, 304: None, **READ}, openapi_extra=_SVG)
def invitation_qr_svg(request, invitation_id: int):
    invitation = selectors.invitation_get_for_coordinator(user=request.auth, invitation_id=invitation_id)
    return _qr_response(request, invitation, "svg")


# --- letters -------------------------------------------------------------------------------


@router.get("invitations/{invitation_id}/letter.pdf", response={200: None, **READ}, openapi_extra=_PDF)
def invitation_letter(request, invitation_id: int):
    invitation = selectors.invitation_get_for_coordinator(user=request.auth, invitation_id=invitation_id)
    return letters.letter_response(invitation)


@router.get("markets/{market_id}/letters.pdf", response={200: None, **READ}, openapi_extra=_PDF)
def market_letters(request, market_id: int):
    market = _coordinator_market(request, market_id)
    return letters.market_letters_response(market)


# --- leads, agreements and reports (the consultant workflow lives in events.lead_api) ---------

from events.lead_api import router as _lead_router  # noqa: E402

router.add_router("", _lead_router)


# --- the market snapshot (DESIGN.md §5; the feed engineer's section) ------------------------

from backend.auth import CONSULTANT  # noqa: E402
from events.snapshot import market_snapshot  # noqa: E402
from events.snapshot_schemas import MarketSnapshotOut  # noqa: E402


@router.get("markets/{market_id}/snapshot", response={200: MarketSnapshotOut, **READ})
def markets_snapshot(request, market_id: int):
    """The market's current state (counts, arrivals, leads) and the feed `head` it reflects."""
    market = selectors.market_get_for_user(user=request.auth, market_id=market_id,
                                           roles=(COORDINATOR, CONSULTANT))
    return market_snapshot(market=market)
