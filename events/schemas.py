"""Request and response schemas of the events API (DESIGN.md §11). Explicit fields only."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field

# --- markets -------------------------------------------------------------------------------


class SlotIn(Schema):
    starts_at: datetime
    ends_at: datetime
    capacity: int = Field(50, ge=1, le=100_000)


class MarketIn(Schema):
    district: int
    name: str = Field(..., min_length=1, max_length=200)
    # Optional: §11 fixes only name, district, starts_at, ends_at; a letter without them prints
    # no place row. Times without an offset are read as the municipality's time (TIME_ZONE).
    venue: str = Field("", max_length=200)
    address: str = Field("", max_length=300)
    starts_at: datetime
    ends_at: datetime
    what_to_bring: str = Field("", max_length=2000)
    slots: list[SlotIn] = Field(default_factory=list, max_length=50)


class SlotOut(Schema):
    id: int
    starts_at: datetime
    ends_at: datetime
    capacity: int


class MarketOut(Schema):
    id: int
    name: str
    district: int
    district_name: str
    venue: str
    address: str
    starts_at: datetime
    ends_at: datetime
    state: str


class MarketCloseOut(MarketOut):
    no_shows: int


# --- clients -------------------------------------------------------------------------------


class ImportErrorOut(Schema):
    row: int
    field: str
    code: str
    message: str


class ClientImportOut(Schema):
    created: int
    updated: int
    unchanged: int
    error_rows: int
    errors: list[ImportErrorOut]
    ignored_columns: list[str]


# --- invitations ---------------------------------------------------------------------------


class InvitationsIssueIn(Schema):
    # 20,000 per call: one IN clause stays under SQLite's 32,766 parameters; split larger batches.
    clients: list[int] = Field(..., min_length=1, max_length=20_000)
    slot: int | None = None


class InvitationOut(Schema):
    id: int
    client: int
    client_number: str
    client_name: str
    language: str
    token: str
    code: str
    state: str
    round: int
    slot: int | None
    previous: int | None
    walk_in: bool
    issued_at: datetime
    checked_in_at: datetime | None
    url: str


class InvitationsIssuedOut(Schema):
    created: int
    invitations: list[InvitationOut]


class FollowUpIn(Schema):
    market: int
    slot: int | None = None


# --- stands --------------------------------------------------------------------------------


class ActivityRefOut(Schema):
    id: int
    title: str


class ClientPublicOut(Schema):
    """The minimal profile hosts, mediators and organisation devices may see
    (events.lead_services.client_public)."""
    display_name: str
    language: str


class StandOut(Schema):
    id: int
    organisation: str
    organisation_id: int
    location: str
    activities: list[ActivityRefOut]
