"""Check-in API (DESIGN.md §7, §11): redeem, sync, walk-ins, the client search for walk-ins.

Thin views: parse, authorise, call one service or selector, return the schema. Decisions are
written down in docs/checkin.md.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from pydantic import Field
from ninja.decorators import decorate_view
from pydantic import ValidationError

from backend.audit import audit_record
from backend.auth import CONSULTANT, COORDINATOR, HOST, MEDIATOR, user_auth
from backend.errors import Forbidden, Invalid, NotFound
from backend.ratelimit import client_ip
from backend.schemas import ErrorOut
from checkin import selectors, services
from checkin.schemas import (ClientHitOut, MarketCountOut, RedeemIn, RedeemOut, SyncIn, SyncOut, WalkInIn,
                             WalkInOut)
from events.selectors import market_get_for_user

router = Router(tags=["checkin"])

SCAN_ROLES = (HOST, MEDIATOR, CONSULTANT, COORDINATOR)
WALK_IN_ROLES = (HOST, CONSULTANT, COORDINATOR)
REDEEM_BODY_MAX = 4 * 1024
# A full batch of well-formed scans is ~300 bytes each; leave room for long tokens.
SYNC_BODY_MAX = 1024 + settings.VM_SYNC_BATCH_MAX * 1024


def body_limit(max_bytes: int):
    """Refuse an over-long body with 422 before it is read or parsed."""

    def decorator(run):
        @functools.wraps(run)
        def wrapped(request, *args, **kwargs):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > max_bytes:
                return JsonResponse({"message": _("Het verzoek is groter dan %(max)s bytes.") % {"max": max_bytes},
                                     "code": "body_too_large", "extra": {"max_bytes": max_bytes}}, status=422)
            return run(request, *args, **kwargs)

        return wrapped

    return decorator


def _scan_request(payload: RedeemIn) -> services.ScanRequest:
    return services.ScanRequest(market_id=payload.market, nonce=payload.nonce, token=payload.token,
                                code=payload.code, scanned_at=payload.scanned_at, device=payload.device)


def _scan_market(user, market_id: int):
    """The market a scan names, if the user may scan for it. §7 keeps a scan's 4xx to 401, 403,
    422 and 429: a market that does not exist is one the user has no right to (403
    `market_not_found`), not a missing resource — the path `checkin/redeem` exists."""
    try:
        return market_get_for_user(user=user, market_id=market_id, roles=SCAN_ROLES)
    except NotFound as exc:
        raise Forbidden(exc.message, code=exc.code) from None


SCAN_ERRORS = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut, 429: ErrorOut}  # §7's 4xx, no others
WALK_IN_ERRORS = {**SCAN_ERRORS, 404: ErrorOut, 409: ErrorOut}


@router.post("checkin/redeem", response={200: RedeemOut, **SCAN_ERRORS}, auth=user_auth)
@decorate_view(body_limit(REDEEM_BODY_MAX))
def checkin_redeem(request, payload: RedeemIn):
    """Answer one scan. 200 for every scan outcome; 422 `nonce_reused`,
    `scanned_at_in_future`; 429 after too many unknown codes (Retry-After)."""
    user = request.auth
    market = _scan_market(user, payload.market)
    return services.checkin_redeem(market=market, request=_scan_request(payload), user=user,
                                   ip=client_ip(request))


@router.post("checkin/sync", response={200: SyncOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
             auth=user_auth)
@decorate_view(body_limit(SYNC_BODY_MAX))
def checkin_sync(request, payload: SyncIn):
    """Upload an offline queue: results in the order of `scans`. An item that is not a scan
    outcome (malformed, no right to its market, nonce reused, rate limited) gets its own
    result with `status: "error"`, `reason: null` and `error: {status, code, message, extra}`."""
    user = request.auth
    limit = settings.VM_SYNC_BATCH_MAX
    if len(payload.scans) > limit:
        raise Invalid(_("Stuur hoogstens %(max)s scans tegelijk.") % {"max": limit}, code="batch_too_large",
                      extra={"max": limit})
    items = []
    for raw in payload.scans:
        try:
            items.append(_scan_request(RedeemIn.model_validate(raw)))
        except ValidationError as exc:
            items.append(Invalid(_("Deze scan is niet geldig."), code="invalid",
                                 extra={"errors": exc.errors(include_url=False, include_context=False,
                                                             include_input=False)}))
    markets = {}

    def authorise(market_id: int):
        if market_id not in markets:
            try:
                markets[market_id] = _scan_market(user, market_id)
            except Exception as exc:  # remembered so that every item of that market gets it
                markets[market_id] = exc
        found = markets[market_id]
        if isinstance(found, Exception):
            raise found
        return found

    return {"results": services.checkin_sync(items=items, authorise=authorise, user=user,
                                             ip=client_ip(request))}


@router.post("markets/{market_id}/walk-ins", response={200: WalkInOut, **WALK_IN_ERRORS}, auth=user_auth)
@decorate_view(body_limit(REDEEM_BODY_MAX))
def walk_in_register(request, market_id: int, payload: WalkInIn):
    """Register a walk-in (host, consultant, coordinator) and check in at once: `client` (an id
    from the client search) or `client_number` of the market's district, or a new client with
    `given_name` and `family_name` (client number optional). Idempotent with `nonce`."""
    user = request.auth
    market = market_get_for_user(user=user, market_id=market_id, roles=WALK_IN_ROLES)
    req = services.WalkInRequest(nonce=payload.nonce, client_id=payload.client,
                                 client_number=payload.client_number, given_name=payload.given_name,
                                 family_name=payload.family_name, language=payload.language,
                                 device=payload.device)
    return services.walk_in_register(market=market, req=req, user=user)


class ClientQuery(Schema):
    q: str = Field("", max_length=100)


@router.get("markets/{market_id}/clients", response={200: list[ClientHitOut], 401: ErrorOut, 403: ErrorOut,
                                                     404: ErrorOut, 422: ErrorOut},
            auth=user_auth, exclude_none=True)
def clients_search(request, market_id: int, filters: Query[ClientQuery]):
    """Find a client of the market's district for a walk-in, by client number or name (at least
    2 characters; 20 results at most). Hosts get display name, language and id only."""
    user = request.auth
    market = market_get_for_user(user=user, market_id=market_id, roles=WALK_IN_ROLES)
    hits = selectors.clients_search(market=market, q=filters.q, user=user)
    if any("client_number" in hit for hit in hits):
        # Client numbers with names: a read of client records (§10), as the invitations list.
        audit_record(action="read", object_type="client", object_id=f"market:{market.pk}",
                     detail={"via": "walk_in_search", "clients": [hit["id"] for hit in hits]})
    return hits


@router.get("checkin/markets/{market_id}/count", response={200: MarketCountOut, 401: ErrorOut, 403: ErrorOut,
                                                           404: ErrorOut}, auth=user_auth)
def market_count(request, market_id: int):
    """The running count for the scanner page: invited and checked in at this market."""
    market = market_get_for_user(user=request.auth, market_id=market_id, roles=SCAN_ROLES)
    return selectors.market_checkin_count(market=market)
