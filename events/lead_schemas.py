"""Schemas of the lead workflow and report endpoints (events.lead_api)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Schema
from pydantic import AliasChoices, ConfigDict, Field

from events.schemas import ActivityRefOut, ClientPublicOut


class _In(Schema):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LeadOut(Schema):
    id: int
    market: int
    client_id: int
    display_name: str
    language: str
    organisation_id: int | None
    organisation: str | None
    activities: list[ActivityRefOut]
    source: str
    state: str
    warmth: str | None
    note: str
    claimed_by: str | None
    claimed_at: dt.datetime | None
    follow_up_on: dt.date | None
    declined_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class NoteIn(_In):
    text: str = Field(max_length=5000)


class NoteOut(Schema):
    id: int
    lead_id: int
    author: str | None
    text: str
    created_at: dt.datetime


class NoteLookupIn(_In):
    token: str | None = Field(None, max_length=512)
    code: str | None = Field(None, max_length=32)


class NoteLeadOut(Schema):
    id: int
    organisation: str | None
    activities: list[ActivityRefOut]


class NoteLookupOut(Schema):
    status: Literal["ok", "error"]
    reason: Literal["unknown", "revoked", "wrong_market"] | None
    client: ClientPublicOut | None
    leads: list[NoteLeadOut]
    message: str


class AgreementOut(Schema):
    id: int
    client_id: int
    display_name: str
    lead_id: int | None
    market_id: int | None
    organisation_id: int
    organisation: str
    activity_id: int | None
    activity: str | None
    hours_per_week: float
    hours_reason: str
    start_date: dt.date
    end_date: dt.date | None
    capacity_override_reason: str
    formalised: bool
    version: int
    previous_id: int | None
    is_current: bool
    created_by: str | None
    created_at: dt.datetime


class ExemptionOut(Schema):
    id: int
    client_id: int
    lead_id: int | None
    category: str
    review_date: dt.date
    created_at: dt.datetime


class LeadDetailOut(LeadOut):
    declined_reason: str
    notes: list[NoteOut]
    agreements: list[AgreementOut]
    exemptions: list[ExemptionOut]


class OutcomeIn(_In):
    outcome: str
    # agreement
    organisation: int | None = None
    activity: int | None = None
    hours_per_week: float | str | None = None
    hours_reason: str = Field("", max_length=2000)
    start_date: dt.date | None = None
    end_date: dt.date | None = Field(None, validation_alias=AliasChoices("end_date", "review_end_date"))
    capacity_override_reason: str = Field("", max_length=2000,
                                          validation_alias=AliasChoices("capacity_override_reason",
                                                                        "override_reason"))
    # exemption (review_date also serves an agreement as its end or review date)
    category: str | None = None
    review_date: dt.date | None = None
    # follow-up
    appointment_date: dt.date | None = Field(None, validation_alias=AliasChoices("appointment_date",
                                                                                 "follow_up_on"))
    # declined (and refused with an exemption: no free text)
    declined_by: str | None = None
    reason: str = Field("", max_length=2000)


class OutcomeOut(Schema):
    lead: LeadOut
    agreement: AgreementOut | None = None
    exemption: ExemptionOut | None = None


class LeadCreateIn(_In):
    client: int
    organisation: int | None = None
    activities: list[int] = []
    note: str | None = Field(None, max_length=5000)
    claim: bool = False


class AgreementChangeIn(_In):
    organisation: int | None = None
    activity: int | None = None
    hours_per_week: float | str | None = None
    hours_reason: str = Field("", max_length=2000)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    capacity_override_reason: str = Field("", max_length=2000)


class FormaliseIn(_In):
    organisation: int | None = None
    organisation_name: str = Field("", max_length=1000)
    activity: int | None = None
    hours_per_week: float | str | None = None
    hours_reason: str = Field("", max_length=2000)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    market: int | None = None
