"""A body that is not JSON is a malformed body: 422 `invalid` on every JSON endpoint (DESIGN.md
§7: "malformed body (422)"), never ninja's own 400."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command
from django.test import Client as DjangoClient

from backend.api import api
from events.models import Stand
from kiosk.services import device_pair, pairing_code_create
from tests.conftest import logged_in

BROKEN = "{nope"


@pytest.fixture
def principals(db):
    from django.contrib.auth import get_user_model

    call_command("seed_demo", password="pw-malformed-1", clients=2, stdout=open(os.devnull, "w"))
    users = {u.username: u for u in get_user_model().objects.all()}
    code, _ = pairing_code_create(stand=Stand.objects.first())
    token, _device = device_pair(code=code, ip="127.0.0.1")
    device = DjangoClient()
    device.defaults["HTTP_AUTHORIZATION"] = f"Device {token}"
    return {"anonymous": DjangoClient(), "device": device,
            **{name: logged_in(users[name]) for name in ("coordinator", "consultant", "host")}}


def _json_operations():
    """(method, path) of every operation of the API that takes a JSON body, ids filled in with 1."""
    schema = api.get_openapi_schema()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield method, path.replace("{", "").replace("}", "").replace("market_id", "1").replace(
                    "stand_id", "1").replace("lead_id", "1").replace("agreement_id", "1").replace(
                    "invitation_id", "1").replace("district_id", "1").replace("device_id", "1").replace(
                    "slot_id", "1").replace("activity_id", "1").replace("client_id", "1")


@pytest.mark.parametrize(("who", "path"), [
    ("anonymous", "/api/v1/auth/login"),
    ("anonymous", "/api/v1/kiosk/pair"),
    ("host", "/api/v1/checkin/redeem"),
    ("host", "/api/v1/checkin/sync"),
    ("host", "/api/v1/markets/{market}/walk-ins"),
    ("coordinator", "/api/v1/markets"),
    ("coordinator", "/api/v1/markets/{market}/invitations"),
    ("device", "/api/v1/kiosk/interests"),
])
def test_not_json_is_422_invalid(principals, who, path):
    from events.models import Market

    path = path.format(market=Market.objects.get().pk)
    r = principals[who].post(path, BROKEN, content_type="application/json")
    assert r.status_code == 422, (path, r.status_code, r.content)
    body = r.json()
    assert set(body) == {"message", "code", "extra"}
    assert body["code"] == "invalid"
    assert body["extra"]["errors"][0]["type"] == "json_invalid"


def test_no_json_endpoint_answers_400(principals):
    """Whoever asks, a broken body never gets a 400: 422 when the body is read, or the
    401/403/404/405 that comes before reading it."""
    operations = list(_json_operations())
    assert len(operations) > 15
    seen = set()
    for method, path in operations:
        for who, client in principals.items():
            r = getattr(client, method)(path, BROKEN, content_type="application/json")
            assert r.status_code != 400 and r.status_code < 500, (method, path, who, r.status_code, r.content)
            seen.add(r.status_code)
    assert 422 in seen
