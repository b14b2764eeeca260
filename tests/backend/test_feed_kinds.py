"""Every feed kind in backend.feed_kinds.KINDS: a valid payload passes, invalid ones are refused.
A new kind needs a sample here (the parametrised test fails until it has one)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from backend.feed_kinds import KINDS

AT = "2025-03-04T10:15:00+01:00"
LEAD = {"id": 7, "client_id": 3, "display_name": "Ayşe K.", "language": "tr", "organisation_id": 2,
        "organisation": "Voedselbank Noord", "activities": [{"id": 4, "title": "Pakketten inpakken"}],
        "source": "kiosk", "state": "new", "warmth": "warm", "note": "", "claimed_by": None, "updated_at": AT}

VALID: dict[str, dict] = {
    "checkin.created": {"invitation_id": 1, "client_id": 2, "display_name": "Mohamed E.", "language": "ar",
                        "checked_in_at": AT, "slot_id": None, "walk_in": False, "method": "qr"},
    "invitation.updated": {"invitation_id": 1, "client_id": 2, "display_name": "Jan B.", "state": "excused",
                           "excuse_category": "care"},
    "lead.created": LEAD,
    "lead.updated": {**LEAD, "state": "claimed", "claimed_by": "consultant"},
    "agreement.created": {"id": 1, "lead_id": 7, "client_id": 3, "display_name": "Ayşe K.", "organisation_id": 2,
                          "organisation": "Voedselbank Noord", "activity_id": 4, "activity": "Pakketten inpakken",
                          "hours_per_week": 8, "start_date": "2025-03-10", "end_date": None, "version": 1},
    "market.opened": {"market_id": 1, "state": "open", "at": AT},
    "market.closed": {"market_id": 1, "state": "closed", "at": AT, "no_shows": 4},
    "statement.created": {"id": 1, "invitation_id": 1, "client_id": 2, "display_name": "Noor H.", "kind": "wish",
                          "tags": ["groen"]},
    "invitations.issued": {"count": 40, "total": 40},
    "lead_note.created": {"id": 1, "lead_id": 7, "author": "mediator", "text": "Belt volgende week.",
                          "created_at": AT},
}

# Kind-specific refusals on top of the generic ones (unknown field, missing field).
INVALID: dict[str, list[dict]] = {
    "checkin.created": [{**VALID["checkin.created"], "method": "telepathy"},
                        {**VALID["checkin.created"], "checked_in_at": "yesterday"}],
    "invitation.updated": [{**VALID["invitation.updated"], "state": "lost"}],
    "lead.created": [{**LEAD, "state": "won"}, {**LEAD, "warmth": "lukewarm"}, {**LEAD, "activities": [{"id": 1}]}],
    "lead.updated": [{**LEAD, "source": "rumour"}],
    "agreement.created": [{**VALID["agreement.created"], "start_date": "soon"}],
    "market.opened": [{**VALID["market.opened"], "state": "ajar"}],
    "market.closed": [{**VALID["market.closed"], "no_shows": "some"}],
    "statement.created": [{**VALID["statement.created"], "kind": "complaint"}],
    "invitations.issued": [{"count": "forty", "total": 40}],
    "lead_note.created": [{**VALID["lead_note.created"], "created_at": None}],
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_valid_payload_passes(kind):
    assert kind in VALID, f"add a valid sample for the new feed kind {kind!r} to this test"
    dumped = KINDS[kind].model_validate(VALID[kind]).model_dump(mode="json")
    assert set(dumped) >= set(VALID[kind])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_invalid_payloads_are_refused(kind):
    assert kind in INVALID, f"add invalid samples for the new feed kind {kind!r} to this test"
    schema = KINDS[kind]
    valid = VALID[kind]
    required = [name for name, field in schema.model_fields.items() if field.is_required()]
    candidates = [{**valid, "medical_details": "never"}, *INVALID[kind]]
    if required:
        candidates.append({k: v for k, v in valid.items() if k != required[0]})
    for payload in candidates:
        with pytest.raises(ValidationError):
            schema.model_validate(payload)


def test_kind_names_are_domain_dot_past_tense():
    for kind in KINDS:
        domain, _, verb = kind.partition(".")
        assert domain and verb.endswith("ed"), kind


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_feed_append_stores_valid_and_refuses_invalid(kind, monkeypatch):
    from backend import feed
    from backend.models import FeedEntry

    assert kind in VALID and kind in INVALID, f"add samples for the new feed kind {kind!r} to this test"
    monkeypatch.setattr(feed, "ring", lambda market_id, message: None)
    with pytest.raises(ValueError):
        feed.feed_append(market_id=99, kind=kind, data=INVALID[kind][0])
    entry = feed.feed_append(market_id=99, kind=kind, data=VALID[kind])
    assert list(FeedEntry.objects.filter(market_id=99).values_list("seq", "kind")) == [(1, kind)]
    assert entry.as_message()["data"] == KINDS[kind].model_validate(VALID[kind]).model_dump(mode="json")
