"""Request and response shapes of the check-in API (DESIGN.md §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field, model_validator

from backend.schemas import DbId
from events.schemas import ClientPublicOut

TOKEN_MAX = 512
CODE_MAX = 32
NONCE_MAX = 64


class RedeemIn(Schema):
    market: DbId
    token: str | None = Field(None, max_length=TOKEN_MAX)
    code: str | None = Field(None, max_length=CODE_MAX)
    nonce: str = Field(..., min_length=1, max_length=NONCE_MAX)
    scanned_at: datetime | None = None
    device: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def _token_xor_code(self):
        if (self.token is None) == (self.code is None):
            raise ValueError("send exactly one of token or code")
        return self


class SyncIn(Schema):
    # Items are validated one by one, so one malformed scan does not fail the batch.
    scans: list[Any]


class InvitationRefOut(Schema):
    id: int
    code: str
    walk_in: bool


class MarketRefOut(Schema):
    id: int
    name: str
    starts_at: datetime
    venue: str


class ItemErrorOut(Schema):
    status: int
    code: str
    message: str
    extra: dict


class RedeemOut(Schema):
    status: Literal["ok", "error"]
    reason: Literal["already_checked_in", "unknown", "revoked", "wrong_market", "not_open", "excused"] | None
    replayed: bool
    client: ClientPublicOut | None
    checked_in_at: datetime | None
    message: str
    invitation: InvitationRefOut | None = None
    market: MarketRefOut | None = None
    method: Literal["qr", "code", "walk_in"] | None = None
    error: ItemErrorOut | None = Field(None, description="Only in sync results: this item was not a scan outcome.")


class SyncOut(Schema):
    results: list[RedeemOut]


class WalkInIn(Schema):
    nonce: str = Field(..., min_length=1, max_length=NONCE_MAX)
    client: int | None = Field(None, description="Id of a client found with GET markets/{id}/clients")
    client_number: str | None = Field(None, max_length=32)
    given_name: str | None = Field(None, max_length=150)
    family_name: str | None = Field(None, max_length=150)
    language: Literal["nl", "en", "tr", "ar", "pt"] = "nl"
    device: str | None = Field(None, max_length=100)


class WalkInOut(RedeemOut):
    client_id: int | None
    created_client: bool


class ClientHitOut(Schema):
    id: int
    display_name: str
    language: str
    invitation_state: str | None = None
    client_number: str | None = Field(None, description="Only for consultants and coordinators.")


class MarketCountOut(Schema):
    market: int
    checked_in: int
    invited: int
