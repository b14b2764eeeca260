"""Response schema of GET /api/v1/markets/{id}/snapshot (DESIGN.md §5). Explicit fields only."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from backend.feed_kinds import ClientStatementCreated, LeadData


class SnapshotMarketOut(Schema):
    id: int
    name: str
    state: str
    starts_at: datetime
    ends_at: datetime


class LeadCountsOut(Schema):
    new: int
    claimed: int
    agreement: int
    exemption: int
    follow_up: int
    declined: int


class SnapshotCountsOut(Schema):
    invited: int
    arrived: int
    excused: int
    no_show: int
    expected: int
    leads: LeadCountsOut


class ArrivalOut(Schema):
    invitation_id: int
    client_id: int
    display_name: str
    language: str
    checked_in_at: datetime | None
    walk_in: bool
    slot_id: int | None


class MarketSnapshotOut(Schema):
    market: SnapshotMarketOut
    head: int
    counts: SnapshotCountsOut
    arrivals: list[ArrivalOut]
    leads: list[LeadData]
    statements: list[ClientStatementCreated]
    invitation_states: dict[str, str]
