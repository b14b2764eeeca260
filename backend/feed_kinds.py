"""Every feed entry kind, as a typed schema. This module is the one place they are documented.

Kinds are named `<domain>.<past-tense verb>`. `feed_append` validates `data` against the
schema of its kind, so an entry that reaches a dashboard always has this shape.
Dashboards must apply entries idempotently by id (an arrival is keyed by invitation id,
a lead by lead id), so a replay can never double-count.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckinCreated(_Data):
    """A client was checked in (QR scan, typed code or walk-in)."""

    invitation_id: int
    client_id: int
    display_name: str
    language: str
    checked_in_at: datetime
    slot_id: int | None = None
    walk_in: bool = False
    method: Literal["qr", "code", "walk_in"] = "qr"


class InvitationUpdated(_Data):
    """An invitation changed state (excused, no-show, revoked, slot changed, confirmed)."""

    invitation_id: int
    client_id: int
    display_name: str
    state: Literal["issued", "checked_in", "excused", "no_show", "revoked"]
    slot_id: int | None = None
    confirmed: bool = False
    excuse_category: str | None = None


class ActivityRef(_Data):
    id: int
    title: str


class LeadData(_Data):
    """A lead as dashboards show it. Never carries welfare data beyond the display name."""

    id: int
    client_id: int
    display_name: str
    language: str
    organisation_id: int | None
    organisation: str | None
    activities: list[ActivityRef]
    source: Literal["kiosk", "client", "consultant"]
    state: Literal["new", "claimed", "agreement", "exemption", "follow_up", "declined"]
    warmth: Literal["cold", "warm", "hot"] | None
    note: str
    claimed_by: str | None
    updated_at: datetime


class AgreementCreated(_Data):
    """An agreement (or a new version of one) was recorded."""

    id: int
    lead_id: int | None
    client_id: int
    display_name: str
    organisation_id: int
    organisation: str
    activity_id: int | None
    activity: str | None
    hours_per_week: float
    start_date: date
    end_date: date | None
    version: int


class MarketStateChanged(_Data):
    market_id: int
    state: Literal["planned", "open", "closed"]
    at: datetime
    no_shows: int = 0


class ClientStatementCreated(_Data):
    """The client said something on their own page: a wish, current volunteering or a constraint."""

    id: int
    invitation_id: int
    client_id: int
    display_name: str
    kind: Literal["wish", "volunteering", "constraint"]
    category: str | None = None
    organisation_name: str | None = None
    hours_per_week: float | None = None
    tags: list[str] = []


KINDS: dict[str, type[_Data]] = {
    "checkin.created": CheckinCreated,
    "invitation.updated": InvitationUpdated,
    "lead.created": LeadData,
    "lead.updated": LeadData,
    "agreement.created": AgreementCreated,
    "market.opened": MarketStateChanged,
    "market.closed": MarketStateChanged,
    "statement.created": ClientStatementCreated,
}


class InvitationsIssued(_Data):
    """Invitations were issued in bulk for this market; `total` is the new number invited."""

    count: int
    total: int


KINDS["invitations.issued"] = InvitationsIssued


class LeadNoteCreated(_Data):
    """A consultant or peer mediator added a note to a lead (events.lead_services.lead_note_add)."""

    id: int
    lead_id: int
    author: str | None
    text: str
    created_at: datetime


KINDS["lead_note.created"] = LeadNoteCreated
