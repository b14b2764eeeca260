import json
import uuid

import pytest

from backend.models import FeedEntry
from checkin.models import Scan
from tests import factories as f


def nonce() -> str:
    return uuid.uuid4().hex


def post(client, path: str, body, **extra):
    return client.post(path, json.dumps(body), content_type="application/json", **extra)


def redeem(client, market, *, token=None, code=None, nonce_=None, **extra_body):
    body = {"market": market.pk if hasattr(market, "pk") else market, "nonce": nonce_ or nonce(), **extra_body}
    if token is not None:
        body["token"] = token
    if code is not None:
        body["code"] = code
    return post(client, "/api/v1/checkin/redeem", body)


def checkins(market) -> int:
    return FeedEntry.objects.filter(market_id=market.pk, kind="checkin.created").count()


@pytest.fixture
def invitation(market):
    return f.invitation(market, f.client(market.district, given="Ayşe", family="Kaya", language="tr"))


@pytest.fixture
def host_api(api_as, host):
    return api_as(host)


@pytest.fixture
def scans():
    return Scan.objects
