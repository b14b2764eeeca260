"""Response schema of GET /api/v1/markets/{id}/snapshot (DESIGN.md §5). Explicit fields only.

Plain pydantic models, not ninja `Schema`: the snapshot is built as dicts, and ninja's Schema
runs a Python-level validator around every nested object (to read ORM attributes), which for
1,500 arrivals was most of the endpoint's time (bench/README.md, "Hot paths, third pass").
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from backend.feed_kinds import ClientStatementCreated, LeadData


class SnapshotMarketOut(BaseModel):
    id: int
    name: str
    state: str
    starts_at: datetime
    ends_at: datetime


class LeadCountsOut(BaseModel):
    new: int
    claimed: int
    agreement: int
    exemption: int
    follow_up: int
    declined: int


class SnapshotCountsOut(BaseModel):
    invited: int
    arrived: int
    excused: int
    no_show: int
    expected: int
    leads: LeadCountsOut


class ArrivalOut(BaseModel):
    invitation_id: int
    client_id: int
    display_name: str
    language: str
    checked_in_at: datetime | None
    walk_in: bool
    slot_id: int | None


class MarketSnapshotOut(BaseModel):
    market: SnapshotMarketOut
    head: int
    counts: SnapshotCountsOut
    arrivals: list[ArrivalOut]
    leads: list[LeadData]
    statements: list[ClientStatementCreated]
    invitation_states: dict[str, str]
