"""Kiosk API (DESIGN.md §8, §11): device pairing and interests, and the coordinator's
pairing codes and device list. Device endpoints take only `Authorization: Device <token>`;
coordinator endpoints take only a user session."""

from __future__ import annotations

from django.utils.translation import gettext as _
from ninja import Router

from backend.auth import COORDINATOR, require_role, user_auth
from backend.errors import NotFound
from backend.ratelimit import client_ip
from backend.schemas import ErrorOut
from events.models import Stand
from events.selectors import market_get_for_user
from kiosk import selectors, services
from kiosk.auth import device_auth
from kiosk.models import Device
from kiosk.schemas import (DeviceListOut, InterestIn, InterestOut, KioskStandOut, PairIn, PairingCodeOut,
                           PairOut, VisitorIn, VisitorOut)

router = Router(tags=["kiosk"])


def _stand_out(stand: Stand) -> dict:
    market = stand.market
    return {
        "id": stand.pk,
        "location": stand.location,
        "organisation": {"id": stand.organisation_id, "name": stand.organisation.name},
        "market": {"id": market.pk, "name": market.name, "starts_at": market.starts_at,
                   "ends_at": market.ends_at, "state": market.state},
    }


def _device_out(device: Device) -> dict:
    return {"id": device.pk, "label": device.label, "created_at": device.created_at}


# ---- device side ----------------------------------------------------------------------------

@router.post("kiosk/pair", auth=None, response={200: PairOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut})
def kiosk_pair(request, payload: PairIn):
    token, device = services.device_pair(code=payload.code, ip=client_ip(request), label=payload.label)
    return {"token": token, "device": _device_out(device), "stand": _stand_out(device.stand)}


@router.get("kiosk/stand", auth=device_auth, response={200: KioskStandOut, 401: ErrorOut})
def kiosk_stand(request):
    device = request.auth
    stand = device.stand
    activities = selectors.stand_activities_with_use(stand=stand)
    return {
        "stand": _stand_out(stand),
        "organisation": {"id": stand.organisation_id, "name": stand.organisation.name,
                         "description": stand.organisation.description},
        "activities": [
            {"id": a.pk, "title": a.title, "description": a.description, "capacity": a.capacity,
             "guidance_capacity": a.guidance_capacity, "leads": a.lead_count, "agreements": a.agreement_count}
            for a in activities
        ],
        "device": _device_out(device),
    }


@router.post("kiosk/visitor", auth=device_auth,
             response={200: VisitorOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut})
def kiosk_visitor(request, payload: VisitorIn):
    """Who was scanned (display name and language), before registering; writes nothing."""
    return services.visitor_lookup(device=request.auth, token=payload.token, code=payload.code)


@router.post("kiosk/interests", auth=device_auth,
             response={200: InterestOut, 401: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut})
def kiosk_interests(request, payload: InterestIn):
    data = services.InterestIn(token=payload.token, code=payload.code, activities=payload.activities,
                               note=payload.note, warmth=payload.warmth, nonce=payload.nonce)
    return services.interest_register(device=request.auth, data=data)


# ---- coordinator side -----------------------------------------------------------------------

@router.post("markets/{market_id}/stands/{stand_id}/pairing-code", auth=user_auth,
             response={200: PairingCodeOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def pairing_code_create(request, market_id: int, stand_id: int):
    market = market_get_for_user(user=request.auth, market_id=market_id, roles=(COORDINATOR,))
    stand = Stand.objects.select_related("market").filter(pk=stand_id, market=market).first()
    if stand is None:
        raise NotFound(_("Deze stand bestaat niet op deze markt."), code="stand_not_found")
    code, row = services.pairing_code_create(stand=stand, created_by=request.auth)
    return {"code": code, "expires_at": row.expires_at, "stand": stand.pk}


@router.get("markets/{market_id}/devices", auth=user_auth,
            response={200: list[DeviceListOut], 401: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def devices_list(request, market_id: int):
    market = market_get_for_user(user=request.auth, market_id=market_id, roles=(COORDINATOR,))
    return [
        {"id": d.pk, "label": d.label, "created_at": d.created_at, "last_seen_at": d.last_seen_at,
         "revoked": d.revoked, "revoked_at": d.revoked_at,
         "stand": {"id": d.stand_id, "organisation": d.stand.organisation.name, "location": d.stand.location}}
        for d in selectors.devices_for_market(market=market)
    ]


@router.post("devices/{device_id}/revoke", auth=user_auth,
             response={200: DeviceListOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def device_revoke(request, device_id: int):
    require_role(request.auth, COORDINATOR)
    device = Device.objects.select_related("stand__organisation").filter(pk=device_id).first()
    if device is None:
        raise NotFound(_("Dit apparaat bestaat niet."), code="device_not_found")
    services.device_revoke(device=device, revoked_by=request.auth)
    return {"id": device.pk, "label": device.label, "created_at": device.created_at,
            "last_seen_at": device.last_seen_at, "revoked": device.revoked, "revoked_at": device.revoked_at,
            "stand": {"id": device.stand_id, "organisation": device.stand.organisation.name,
                      "location": device.stand.location}}
