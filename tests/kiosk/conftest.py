"""Fixtures of the kiosk tests: a stand with a paired tablet and checked-in visitors."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client as DjangoClient
from django.utils import timezone

from events.models import Invitation
from kiosk import services
from tests import factories as f


def check_in(invitation: Invitation) -> Invitation:
    """Mark an invitation checked in (the kiosk only reads that state; check-in is not ours)."""
    Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.State.CHECKED_IN,
                                                       checked_in_at=timezone.now())
    invitation.refresh_from_db()
    return invitation


def device_client(token: str) -> DjangoClient:
    return DjangoClient(HTTP_AUTHORIZATION=f"Device {token}")


@pytest.fixture
def organisation(db):
    return f.organisation("Buurthuis De Vonk", activities=3)


@pytest.fixture
def stand(market, organisation):
    return f.stand(market, organisation)


@pytest.fixture
def paired(stand, coordinator):
    """(token, device) of a tablet paired to `stand` through the services."""
    code, _row = services.pairing_code_create(stand=stand, created_by=coordinator)
    return services.device_pair(code=code, ip="10.0.0.1", label="Tablet 1")


@pytest.fixture
def device(paired):
    return paired[1]


@pytest.fixture
def tablet(paired):
    """A test client that sends the device token."""
    return device_client(paired[0])


@pytest.fixture
def visitor(market):
    """A checked-in invitation at `market` with a client who has every sensitive field filled."""
    client = f.client(market.district, given="Ayşe", family="Kaya", language="tr", number="C9990001",
                      email="ayse@example.org", phone="0612345678", address="Geheimstraat 7, Rotterdam")
    return check_in(f.invitation(market, client))


@pytest.fixture
def activity_ids(organisation):
    return list(organisation.activities.order_by("pk").values_list("pk", flat=True))


def new_nonce() -> str:
    return uuid.uuid4().hex
