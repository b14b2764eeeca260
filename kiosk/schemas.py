"""API shapes of the kiosk (DESIGN.md §8, §11). Device-facing shapes carry no client number,
address, contact details or exemption data: only a display name and a language."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema

from backend.schemas import DbId
from events.schemas import ActivityRefOut, ClientPublicOut


class PairIn(Schema):
    code: str = Field(..., max_length=64)
    label: str = Field("", max_length=100)


class OrganisationOut(Schema):
    id: int
    name: str


class MarketRefOut(Schema):
    id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    state: str


class StandOut(Schema):
    id: int
    location: str
    organisation: OrganisationOut
    market: MarketRefOut


class DeviceOut(Schema):
    id: int
    label: str
    created_at: datetime


class PairOut(Schema):
    token: str
    device: DeviceOut
    stand: StandOut


class ActivityUseOut(Schema):
    id: int
    title: str
    description: str
    capacity: int
    guidance_capacity: int
    leads: int = Field(..., description="Leads for this activity at this market.")
    agreements: int = Field(..., description="Current agreements for this activity.")


class OrganisationDetailOut(Schema):
    id: int
    name: str
    description: str


class KioskStandOut(Schema):
    stand: StandOut
    organisation: OrganisationDetailOut
    activities: list[ActivityUseOut]
    device: DeviceOut


class VisitorIn(Schema):
    token: str | None = Field(None, max_length=512)
    code: str | None = Field(None, max_length=32)


class InterestIn(Schema):
    token: str | None = Field(None, max_length=512)
    code: str | None = Field(None, max_length=32)
    activities: list[DbId] = Field(..., max_length=50)
    note: str = Field("", max_length=5000)  # the 1000-character limit answers note_too_long
    warmth: Literal["cold", "warm", "hot"] | None = None
    nonce: str = Field(..., min_length=1, max_length=64)


class LeadForDeviceOut(Schema):
    id: int
    created: bool
    activities: list[ActivityRefOut]
    warmth: str | None
    note: str
    updated_at: datetime


class InterestOut(Schema):
    status: Literal["ok", "error"]
    reason: Literal["not_checked_in", "unknown", "revoked", "wrong_market", "activity_not_at_stand"] | None
    lead: LeadForDeviceOut | None
    client: ClientPublicOut | None
    replayed: bool = False


class VisitorOut(Schema):
    status: Literal["ok", "error"]
    reason: Literal["not_checked_in", "unknown", "revoked", "wrong_market"] | None
    client: ClientPublicOut | None


class PairingCodeOut(Schema):
    code: str
    expires_at: datetime
    stand: int


class DeviceStandOut(Schema):
    id: int
    organisation: str
    location: str


class DeviceListOut(Schema):
    id: int
    label: str
    stand: DeviceStandOut
    created_at: datetime
    last_seen_at: datetime | None
    revoked: bool
    revoked_at: datetime | None
