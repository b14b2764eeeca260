"""The permission matrix (issue 7, DESIGN.md §10): every API route and every websocket route
against every principal. The routes are read from the ninja API and the websocket URL
configuration, so a new route without a row here fails `test_every_route_has_a_row`.

Each request runs inside a savepoint that is rolled back, so every principal meets the same
world. For an allowed principal the row names the statuses a real user gets (200/201, or the
business answer the world leads to); a refused one gets 401 (no or the wrong kind of
credentials) or 403 (wrong role or district). Responses to hosts, mediators and devices are
checked for personal data they must never receive.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Callable

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections, transaction
from django.test import Client as DjangoClient
from django.utils import timezone

from backend.api import api
from backend.auth import CONSULTANT, COORDINATOR, HOST, MEDIATOR
from backend.routing import websocket_urlpatterns
from checkin.services import ScanRequest, checkin_redeem
from events import lead_services, services
from events.models import Agreement, Exemption
from kiosk.services import device_pair, device_revoke, pairing_code_create
from tests import factories as f

ANON, COORD, CONS, CONS_B, HOST_, MED, DEV, DEV_B, DEV_X = (
    "anonymous", "coordinator", "consultant", "consultant_other_district", "host", "mediator",
    "device", "device_other_market", "device_revoked")
USERS = (COORD, CONS, CONS_B, HOST_, MED)
DEVICES = (DEV, DEV_B, DEV_X)
PRINCIPALS = (ANON, *USERS, *DEVICES)


@dataclass
class Row:
    allowed: dict[str, set[int]]               # principal -> statuses it gets
    body: Callable | None = None                # world -> json body
    params: Callable | None = None              # world -> path params
    query: str = ""
    device_route: bool = False                  # a route for devices (users get 401)
    multipart: Callable | None = None
    refused: dict[str, int] = field(default_factory=dict)  # explicit refusal statuses

    def expected(self, principal: str) -> set[int]:
        if principal in self.allowed:
            return self.allowed[principal]
        if principal in self.refused:
            return {self.refused[principal]}
        if principal == ANON or principal == DEV_X:
            return {401}
        if self.device_route:
            return {401} if principal in USERS else {403}
        return {401} if principal in DEVICES else {403}


def allow(*principals: str, ok: set[int] | frozenset = frozenset({200})) -> dict[str, set[int]]:
    return {p: set(ok) for p in principals}


STAFF = (COORD, CONS)
SCANNERS = (COORD, CONS, HOST_, MED)
ANYONE_LOGGED_IN = USERS
TODAY = timezone.localdate()


def _iso(days: int = 0, hours: int = 0) -> str:
    return (timezone.now() + dt.timedelta(days=days, hours=hours)).isoformat()


ROWS: dict[tuple[str, str], Row] = {
    ("POST", "auth/login"): Row(allowed=allow(*PRINCIPALS, ok={401}),
                                body=lambda w: {"username": "nobody", "password": "wrong-password"}),
    ("POST", "auth/logout"): Row(allowed=allow(*USERS)),
    ("GET", "auth/me"): Row(allowed=allow(*USERS)),
    ("GET", "audit"): Row(allowed=allow(COORD)),
    ("GET", "audit.csv"): Row(allowed=allow(COORD)),
    ("GET", "markets"): Row(allowed=allow(*USERS)),
    ("POST", "markets"): Row(allowed=allow(COORD, ok={201}), body=lambda w: {
        "district": w.district.pk, "name": "Nieuwe markt", "venue": "Buurthuis", "address": "Straat 1",
        "starts_at": _iso(days=7), "ends_at": _iso(days=7, hours=4)}),
    ("POST", "markets/{market_id}/open"): Row(allowed=allow(COORD)),
    ("POST", "markets/{market_id}/close"): Row(allowed=allow(COORD)),
    ("GET", "markets/{market_id}/stands"): Row(allowed=allow(*STAFF)),
    ("POST", "clients/import"): Row(allowed=allow(COORD), multipart=lambda w: {
        "district": str(w.district.pk),
        "file": ("clients.csv", "client_number,given_name,family_name,language\r\nIMP001,Rui,Costa,pt\r\n")}),
    ("POST", "markets/{market_id}/invitations"): Row(allowed=allow(COORD),
                                                     body=lambda w: {"clients": [w.uninvited.pk]}),
    ("GET", "markets/{market_id}/invitations"): Row(allowed=allow(COORD)),
    ("POST", "markets/{market_id}/follow-up"): Row(allowed=allow(COORD), params=lambda w: {"market_id": w.closed.pk},
                                                   body=lambda w: {"market": w.market.pk}),
    ("GET", "invitations/{invitation_id}/qr.png"): Row(allowed=allow(COORD)),
    ("GET", "invitations/{invitation_id}/qr.svg"): Row(allowed=allow(COORD)),
    ("GET", "invitations/{invitation_id}/letter.pdf"): Row(allowed=allow(COORD)),
    ("GET", "markets/{market_id}/letters.pdf"): Row(allowed=allow(COORD)),
    ("GET", "markets/{market_id}/snapshot"): Row(allowed=allow(*STAFF)),
    ("GET", "markets/{market_id}/leads"): Row(allowed=allow(*STAFF)),
    ("POST", "markets/{market_id}/leads"): Row(allowed=allow(CONS, ok={200, 201}), body=lambda w: {
        "client": w.client.pk, "organisation": w.other_org.pk, "activities": [w.other_activity.pk]}),
    ("GET", "leads/{lead_id}"): Row(allowed=allow(*STAFF)),
    ("POST", "leads/{lead_id}/claim"): Row(allowed=allow(CONS)),
    ("POST", "leads/{lead_id}/release"): Row(allowed=allow(CONS), params=lambda w: {"lead_id": w.claimed_lead.pk}),
    ("POST", "markets/{market_id}/leads/lookup"): Row(allowed=allow(CONS, MED),
                                                      body=lambda w: {"token": w.checked_in.token}),
    ("POST", "leads/{lead_id}/notes"): Row(allowed=allow(CONS, MED, ok={201}), body=lambda w: {"text": "Belt volgende week."}),
    ("POST", "leads/{lead_id}/outcome"): Row(allowed=allow(CONS), params=lambda w: {"lead_id": w.claimed_lead.pk},
                                             body=lambda w: {"outcome": "follow_up",
                                                             "appointment_date": str(TODAY + dt.timedelta(days=7))}),
    ("POST", "clients/{client_id}/formalise"): Row(allowed=allow(CONS, ok={201}), body=lambda w: {
        "organisation": w.other_org.pk, "hours_per_week": 4, "start_date": str(TODAY),
        "end_date": str(TODAY + dt.timedelta(days=180))}),
    ("GET", "agreements/{agreement_id}"): Row(allowed=allow(*STAFF)),
    ("PUT", "agreements/{agreement_id}"): Row(allowed=allow(CONS), body=lambda w: {"hours_per_week": 6}),
    ("POST", "agreements/{agreement_id}"): Row(allowed=allow(CONS), body=lambda w: {"hours_per_week": 6}),
    ("GET", "agreements/{agreement_id}/client-copy.pdf"): Row(allowed=allow(*STAFF)),
    ("GET", "markets/{market_id}/report"): Row(allowed=allow(*STAFF)),
    ("GET", "markets/{market_id}/report.csv"): Row(allowed=allow(*STAFF)),
    ("GET", "districts/{district_id}/report"): Row(allowed=allow(*STAFF),
                                                   query=f"?from={TODAY - dt.timedelta(days=30)}&to={TODAY}"),
    ("GET", "districts/{district_id}/report.csv"): Row(allowed=allow(*STAFF),
                                                       query=f"?from={TODAY - dt.timedelta(days=30)}&to={TODAY}"),
    ("POST", "checkin/redeem"): Row(allowed=allow(*SCANNERS), body=lambda w: {
        "market": w.market.pk, "token": w.invitation.token, "nonce": uuid.uuid4().hex}),
    # Sync authorises per item: a refused market becomes that item's own error result (docs/checkin.md).
    ("POST", "checkin/sync"): Row(allowed=allow(*SCANNERS, CONS_B), body=lambda w: {"scans": [
        {"market": w.market.pk, "token": w.invitation.token, "nonce": uuid.uuid4().hex}]}),
    ("POST", "markets/{market_id}/walk-ins"): Row(allowed=allow(COORD, CONS, HOST_), body=lambda w: {
        "nonce": uuid.uuid4().hex, "given_name": "Nieuwe", "family_name": "Bezoeker"}),
    ("GET", "markets/{market_id}/clients"): Row(allowed=allow(COORD, CONS, HOST_), query="?q=Ka"),
    ("GET", "checkin/markets/{market_id}/count"): Row(allowed=allow(*SCANNERS)),
    ("POST", "kiosk/pair"): Row(allowed=allow(*PRINCIPALS), body=lambda w: {"code": w.pairing_code}),
    ("GET", "kiosk/stand"): Row(allowed=allow(DEV, DEV_B), device_route=True),
    ("POST", "kiosk/visitor"): Row(allowed=allow(DEV, DEV_B), device_route=True,
                                   body=lambda w: {"token": w.checked_in.token}),
    ("POST", "kiosk/interests"): Row(allowed=allow(DEV, DEV_B), device_route=True, body=lambda w: {
        "token": w.checked_in.token, "activities": [w.activity.pk], "warmth": "warm", "nonce": uuid.uuid4().hex}),
    ("POST", "markets/{market_id}/stands/{stand_id}/pairing-code"): Row(allowed=allow(COORD)),
    ("GET", "markets/{market_id}/devices"): Row(allowed=allow(COORD)),
    ("POST", "devices/{device_id}/revoke"): Row(allowed=allow(COORD)),
}

WS_FEED = r"^ws/markets/(?P<market_id>\d+)/feed/?$"
WS_ROWS = {WS_FEED: {COORD, CONS}}


def api_routes() -> set[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return {(method.upper(), path.removeprefix("/api/v1/")) for path, ops in schema["paths"].items()
            for method in ops}


def test_every_route_has_a_row():
    assert api_routes() == set(ROWS), "routes without a row / rows without a route"
    ws = {str(p.pattern) for p in websocket_urlpatterns}
    assert ws == set(WS_ROWS), ws


class World:
    pass


@pytest.fixture
def world(db):
    w = World()
    w.district, w.other_district = f.district("Noord"), f.district("Zuid")
    w.users = {
        COORD: f.user("coordinator", COORDINATOR),
        CONS: f.user("consultant", CONSULTANT, districts=(w.district,)),
        CONS_B: f.user("consultant_zuid", CONSULTANT, districts=(w.other_district,)),
        HOST_: f.user("host", HOST),
        MED: f.user("mediator", MEDIATOR),
    }
    w.closed = f.market(w.district, state="open", starts_in_hours=-30)
    f.invitation(w.closed, f.client(w.district))
    services.market_close(market=w.closed)
    w.market = f.market(w.district, state="open")
    w.other_market = f.market(w.other_district, state="open")
    w.client = f.client(w.district, given="Ayşe", family="Kaya", email="ayse@example.org",
                        phone="0612345678", address="Geheimstraat 12", number="SECRET-0001")
    w.invitation = f.invitation(w.market, w.client)
    w.uninvited = f.client(w.district, given="Jan", family="Bakker")
    w.checked_in_client = f.client(w.district, given="Noor", family="Haddad", number="SECRET-0002")
    w.checked_in = f.invitation(w.market, w.checked_in_client)
    checkin_redeem(market=w.market, request=ScanRequest(market_id=w.market.pk, nonce="seed-1",
                                                        token=w.checked_in.token), user=w.users[HOST_])
    w.stand = f.stand(w.market)
    w.activity = w.stand.organisation.activities.first()
    w.other_org = f.organisation()
    w.other_activity = w.other_org.activities.first()
    w.other_stand = f.stand(w.other_market)
    w.lead, _ = lead_services.lead_upsert(market=w.market, client=w.checked_in_client,
                                          organisation=w.stand.organisation, activities=[w.activity],
                                          source="kiosk", stand=w.stand)
    w.claimed_lead, _ = lead_services.lead_upsert(market=w.market, client=w.client, organisation=w.other_org,
                                                  activities=[w.other_activity], source="consultant")
    lead_services.lead_claim(lead_id=w.claimed_lead.pk, user=w.users[CONS])
    w.agreement = Agreement.objects.create(client=w.client, market=w.market, organisation=w.other_org,
                                           activity=w.other_activity, hours_per_week=4, start_date=TODAY,
                                           end_date=TODAY + dt.timedelta(days=180))
    Exemption.objects.create(client=w.checked_in_client, market=w.market, category="health",
                             review_date=TODAY + dt.timedelta(days=90))
    tokens = {}
    for name, stand in ((DEV, w.stand), (DEV_B, w.other_stand), (DEV_X, w.stand)):
        code, _ = pairing_code_create(stand=stand)
        tokens[name], device = device_pair(code=code, ip="127.0.0.1")
        if name == DEV:
            w.device = device
        if name == DEV_X:
            device_revoke(device=device)
    w.device_tokens = tokens
    w.pairing_code, _ = pairing_code_create(stand=w.stand)
    w.secrets = ["SECRET-0001", "SECRET-0002", "ayse@example.org", "0612345678", "Geheimstraat", "Kaya",
                 "Haddad", "health"]
    return w


def _client_for(w: World, principal: str) -> DjangoClient:
    c = DjangoClient(enforce_csrf_checks=True)
    if principal in USERS:
        c.force_login(w.users[principal])
        c.get("/api/v1/auth/me")
        c.defaults["HTTP_X_CSRFTOKEN"] = c.cookies["csrftoken"].value
    elif principal in DEVICES:
        c.defaults["HTTP_AUTHORIZATION"] = f"Device {w.device_tokens[principal]}"
    return c


def _path(w: World, template: str, row: Row) -> str:
    params = {"market_id": w.market.pk, "invitation_id": w.invitation.pk, "lead_id": w.lead.pk,
              "client_id": w.client.pk, "agreement_id": w.agreement.pk, "district_id": w.district.pk,
              "stand_id": w.stand.pk, "device_id": w.device.pk}
    if row.params:
        params.update(row.params(w))
    return "/api/v1/" + template.format(**params) + row.query


def _call(c: DjangoClient, method: str, path: str, row: Row, w: World):
    if row.multipart:
        from django.core.files.uploadedfile import SimpleUploadedFile

        data = {}
        for key, value in row.multipart(w).items():
            data[key] = SimpleUploadedFile(value[0], value[1].encode(), "text/csv") if isinstance(value, tuple) else value
        return c.post(path, data)
    body = json.dumps(row.body(w)) if row.body else None
    kwargs = {"content_type": "application/json"} if body is not None else {}
    return getattr(c, method.lower())(path, body, **kwargs) if body is not None else getattr(c, method.lower())(path)


def _text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("latin-1")
    return response.content.decode("latin-1")


def test_permission_matrix(world):
    """One world, every route × every principal; all mismatches are reported together."""
    mismatches = []
    for route in sorted(ROWS):
        mismatches.extend(_check_route(world, route))
    assert not mismatches, "\n".join(mismatches)


def _check_route(world, route) -> list[str]:
    method, template = route
    row = ROWS[route]
    mismatches = []
    for principal in PRINCIPALS:
        with transaction.atomic():
            c = _client_for(world, principal)
            response = _call(c, method, _path(world, template, row), row, world)
            status = response.status_code
            if status not in row.expected(principal):
                mismatches.append(f"{method} {template} as {principal}: got {status}, expected {sorted(row.expected(principal))}: "
                                  f"{_text(response)[:200]}")
            if principal in (HOST_, MED, *DEVICES) and status < 300 and not template.endswith(".pdf"):
                body = _text(response)
                leaked = [s for s in world.secrets if s in body]
                if leaked:
                    mismatches.append(f"{method} {template}: {principal} received personal data {leaked}")
            transaction.set_rollback(True)
    return mismatches


# --- websockets -------------------------------------------------------------------------------

async def _ws_status(w: World, principal: str) -> str:
    from backend.asgi import router as asgi_router

    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    if principal in USERS:
        session_key = await sync_to_async(_session_for)(w.users[principal])
        headers.append((b"cookie", f"sessionid={session_key}".encode()))
    elif principal in DEVICES:
        headers.append((b"authorization", f"Device {w.device_tokens[principal]}".encode()))
    communicator = WebsocketCommunicator(asgi_router, f"/ws/markets/{w.market.pk}/feed/?since=0", headers=headers)
    connected, _ = await communicator.connect()
    try:
        if not connected:
            return "refused"
        message = await communicator.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            return f"closed:{message.get('code')}"
        return "hello" if json.loads(message["text"])["type"] == "hello" else "other"
    finally:
        await communicator.disconnect()


def _session_for(user) -> str:
    c = DjangoClient()
    c.force_login(user)
    return c.cookies["sessionid"].value


@pytest.mark.django_db(transaction=True)
async def test_websocket_matrix(world):
    allowed = WS_ROWS[WS_FEED]
    try:
        results = {p: await _ws_status(world, p) for p in PRINCIPALS}
    finally:
        # The consumer's database_sync_to_async runs in one worker thread: close its
        # connection, or PostgreSQL refuses to drop the test database at the end of the run.
        await database_sync_to_async(connections.close_all)()
    for principal, result in results.items():
        if principal in allowed:
            assert result == "hello", (principal, result)
        elif principal in USERS:
            assert result == "closed:4403", (principal, result)
        else:
            assert result == "closed:4401", (principal, result)


def test_csrf_is_required_on_every_unsafe_session_route(world):
    """A logged-in session without the X-CSRFToken header is refused (403) on every unsafe
    route that takes a session — a cross-site form cannot act in a consultant's name."""
    schema = api.get_openapi_schema()
    unsafe = [(method.upper(), path.removeprefix("/api/v1/")) for path, ops in schema["paths"].items()
              for method, op in ops.items()
              if method.upper() in {"POST", "PUT", "PATCH", "DELETE"}
              and any("UserAuth" in sec for sec in op.get("security") or [])]
    assert len(unsafe) > 15
    refused = []
    for method, template in unsafe:
        row = ROWS[(method, template)]
        with transaction.atomic():
            c = DjangoClient(enforce_csrf_checks=True)
            c.force_login(world.users[COORD] if COORD in row.allowed else world.users[CONS])
            response = _call(c, method, _path(world, template, row), row, world)
            if response.status_code != 403:
                refused.append(f"{method} {template}: {response.status_code}")
            transaction.set_rollback(True)
    assert not refused, refused
