"""Writes for organisation tablets (DESIGN.md §8). Each function runs in one transaction.

- pairing_code_create: a coordinator makes a short, single-use code for a stand.
- device_pair: a tablet trades that code for a device token (rate-limited per IP).
- device_revoke: a coordinator ends a device; its next request gets 401.
- visitor_lookup: a device reads who it scanned (display name and language only).
- interest_register: a device registers a checked-in client's interest as a lead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backend import ratelimit, rawsql
from backend.errors import AppError, Invalid, NotFound, RateLimited
from events.codes import CODE_ALPHABET, format_code, normalise_code
from events.lead_services import NOTE_MAX, client_public, lead_upsert
from events.models import Activity, Invitation, Lead, Market, Organisation, Stand
from events.retention import scrub_rows
from events.selectors import invitation_scanned
from kiosk.models import Device, InterestRequest, PairingCode

NONCE_MAX = InterestRequest._meta.get_field("nonce").max_length

PAIRING_CODE_TTL = dt.timedelta(minutes=10)
PAIRING_CODE_LENGTH = 8
DEVICE_TOKEN_BYTES = 32  # 256 bits
LAST_SEEN_RESOLUTION = dt.timedelta(seconds=60)

# Outcome reasons of interest_register (DESIGN.md §8), in the order they are checked.
UNKNOWN = "unknown"
WRONG_MARKET = "wrong_market"
REVOKED = "revoked"
NOT_CHECKED_IN = "not_checked_in"
ACTIVITY_NOT_AT_STAND = "activity_not_at_stand"
REASONS = (NOT_CHECKED_IN, UNKNOWN, REVOKED, WRONG_MARKET, ACTIVITY_NOT_AT_STAND)


class PairingCodeUnknown(NotFound):
    code = "pairing_code_unknown"
    default_message = gettext_lazy("Deze koppelcode kennen we niet. Controleer de code of vraag een nieuwe.")


class PairingCodeExpired(Invalid):
    code = "pairing_code_expired"
    default_message = gettext_lazy("Deze koppelcode is verlopen. Vraag de coördinator om een nieuwe.")


class PairingCodeUsed(Invalid):
    code = "pairing_code_used"
    default_message = gettext_lazy("Deze koppelcode is al gebruikt. Vraag de coördinator om een nieuwe.")


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Pairing
# --------------------------------------------------------------------------------------------

def pairing_code_create(*, stand: Stand, created_by=None, ttl: dt.timedelta = PAIRING_CODE_TTL) -> tuple[str, PairingCode]:
    """A new pairing code for `stand`. Returns (the code as shown, XXXX-XXXX; the row).

    Only the hash is stored, so the code is shown once, to the coordinator who made it.
    """
    if stand.market.state == Market.State.CLOSED:
        raise Invalid(_("Deze markt is gesloten. U kunt geen tablet meer koppelen."), code="market_closed")
    for _attempt in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(PAIRING_CODE_LENGTH))
        try:
            with transaction.atomic():
                row = PairingCode.objects.create(stand=stand, code_hash=secret_hash(code),
                                                 expires_at=timezone.now() + ttl, created_by=created_by)
            return format_code(code), row
        except IntegrityError:  # a (1 in 10^12) collision with an earlier code: draw again
            continue
    raise AppError(_("Er ging iets mis bij het maken van een koppelcode. Probeer het opnieuw."),
                   code="pairing_code_failed")


def device_pair(*, code: str, ip: str, label: str = "") -> tuple[str, Device]:
    """Trade a pairing code for a device token. Returns (token, device); the token is shown once.

    Every failure (malformed, unknown, expired, used) counts for the "pairing" rate limit of
    the caller's IP; over the limit the caller gets 429 before the code is even looked at.
    """
    ident = f"ip:{ip}"
    ratelimit.check("pairing", ident)
    try:
        return _device_pair(code=code, label=label)
    except (PairingCodeUnknown, PairingCodeExpired, PairingCodeUsed):
        ratelimit.record_failure("pairing", ident)
        raise


def _device_pair(*, code: str, label: str) -> tuple[str, Device]:
    normalised = normalise_code(code)
    if normalised is None:
        raise PairingCodeUnknown()
    with transaction.atomic():
        pairing = (PairingCode.objects.select_for_update()
                   .filter(code_hash=secret_hash(normalised)).first())
        if pairing is None:
            raise PairingCodeUnknown()
        now = timezone.now()
        if pairing.used_at is not None:
            raise PairingCodeUsed()
        if pairing.expires_at <= now:
            raise PairingCodeExpired()
        token = secrets.token_urlsafe(DEVICE_TOKEN_BYTES)
        stand = Stand.objects.select_related("organisation", "market").get(pk=pairing.stand_id)
        device = Device.objects.create(stand=stand, token_hash=secret_hash(token),
                                       label=(label or "").strip()[:100], last_seen_at=now)
        pairing.used_at = now
        pairing.device = device
        pairing.save(update_fields=["used_at", "device"])
    device.stand = stand
    return token, device


@rawsql.statement
def _device_sql() -> str:
    q = rawsql.q
    return (f"SELECT {rawsql.select_list(Device, 'dv')}, {rawsql.select_list(Stand, 's')}, "
            f"{rawsql.select_list(Organisation, 'o')}, {rawsql.select_list(Market, 'm')} "
            f"FROM {rawsql.table(Device)} dv "
            f"INNER JOIN {rawsql.table(Stand)} s ON s.{q('id')} = dv.{q('stand_id')} "
            f"INNER JOIN {rawsql.table(Organisation)} o ON o.{q('id')} = s.{q('organisation_id')} "
            f"INNER JOIN {rawsql.table(Market)} m ON m.{q('id')} = s.{q('market_id')} "
            f"WHERE dv.{q('token_hash')} = %s AND dv.{q('revoked_at')} IS NULL")


def device_for_token(token: str) -> Device | None:
    """The active device holding `token`, with its stand, organisation and market; None if the
    token is unknown or revoked. Marks the device as seen (at most once a minute)."""
    if not token or len(token) > 128:
        return None
    # Every device request: the device with its stand, organisation and market in one
    # statement written once (backend.rawsql); token_hash is unique.
    _count, row = rawsql.execute(_device_sql(), [secret_hash(token)])
    if row is None:
        return None
    loaded, start = [], 0
    for model in (Device, Stand, Organisation, Market):
        loaded.append(rawsql.from_row(model, row[start:start + rawsql.width(model)]))
        start += rawsql.width(model)
    device, stand, organisation, market = loaded
    Stand.organisation.field.set_cached_value(stand, organisation)
    Stand.market.field.set_cached_value(stand, market)
    Device.stand.field.set_cached_value(device, stand)
    now = timezone.now()
    if device.last_seen_at is None or now - device.last_seen_at > LAST_SEEN_RESOLUTION:
        Device.objects.filter(pk=device.pk).update(last_seen_at=now)
        device.last_seen_at = now
    return device


def device_revoke(*, device: Device, revoked_by=None) -> Device:
    """End a device. Idempotent: a device revoked before keeps its first revocation."""
    with transaction.atomic():
        locked = Device.objects.select_for_update().get(pk=device.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.revoked_by = revoked_by
            locked.save(update_fields=["revoked_at", "revoked_by"])
    device.revoked_at, device.revoked_by_id = locked.revoked_at, locked.revoked_by_id
    return device


# --------------------------------------------------------------------------------------------
# Interest registration
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InterestIn:
    token: str | None
    code: str | None
    activities: list[int]
    note: str
    warmth: str | None
    nonce: str


def lead_for_device(lead: Lead, *, created: bool) -> dict:
    """The lead as a device may see it: no state (an exemption state would reveal welfare
    data), no claimant, no client number."""
    return {
        "id": lead.pk,
        "created": created,
        "activities": [{"id": a.pk, "title": a.title} for a in lead.activities.all()],
        "warmth": lead.warmth,
        "note": lead.note,
        "updated_at": lead.updated_at.isoformat(),
    }


def _outcome(reason: str | None, *, lead: dict | None = None, client: dict | None = None) -> dict:
    return {"status": "ok" if reason is None else "error", "reason": reason, "lead": lead,
            "client": client, "replayed": False}


def _fingerprint(data: InterestIn) -> str:
    body = {"token": data.token, "code": data.code, "activities": sorted(set(data.activities)),
            "note": data.note, "warmth": data.warmth}
    return secret_hash(json.dumps(body, sort_keys=True, ensure_ascii=False))


def _validate(data: InterestIn) -> None:
    if not data.activities:
        raise Invalid(_("Kies minstens één activiteit."), code="no_activities")
    if len(data.note) > NOTE_MAX:
        raise Invalid(_("Een notitie is hoogstens %(n)s tekens.") % {"n": NOTE_MAX}, code="note_too_long",
                      extra={"max": NOTE_MAX})
    if data.warmth is not None and data.warmth not in Lead.Warmth.values:
        raise Invalid(_("Kies koud, warm of heet."), code="invalid_warmth")
    if not data.nonce or len(data.nonce) > NONCE_MAX:
        raise Invalid(_("Een nonce van 1 tot %(max)s tekens is verplicht.") % {"max": NONCE_MAX}, code="invalid_nonce")
    if bool(data.token) == bool(data.code):
        raise Invalid(_("Stuur een token of een code, niet allebei."), code="token_or_code")


def _replay(device: Device, data: InterestIn, fingerprint: str) -> dict | None:
    found = list(InterestRequest.objects.filter(device=device, nonce=data.nonce)
                 .values_list("fingerprint", "response").order_by()[:1])
    if not found:
        return None
    previous = found[0]
    if previous[0] != fingerprint:
        raise Invalid(_("Deze nonce is al gebruikt voor een andere aanmelding."), code="nonce_reused")
    return {**previous[1], "replayed": True}


def _invitation_reason(invitation: Invitation | None, stand: Stand) -> str | None:
    """Why this invitation cannot become a lead at `stand` (None: it can)."""
    if invitation is None:
        return UNKNOWN
    if invitation.market_id != stand.market_id:
        return WRONG_MARKET
    if invitation.state == Invitation.State.REVOKED:
        return REVOKED
    if invitation.state != Invitation.State.CHECKED_IN:
        return NOT_CHECKED_IN
    return None


def visitor_lookup(*, device: Device, token: str | None = None, code: str | None = None) -> dict:
    """What the kiosk shows after a scan, before the registration: the reason it cannot be
    registered, or the visitor's display name and language. Writes nothing; unknown tokens and
    codes count for the same rate limit as registrations."""
    data = InterestIn(token=(token or "").strip() or None, code=(code or "").strip() or None,
                      activities=[], note="", warmth=None, nonce="-")
    if bool(data.token) == bool(data.code):
        raise Invalid(_("Stuur een token of een code, niet allebei."), code="token_or_code")
    ident = f"device:{device.pk}"
    ratelimit.check("code", ident)
    invitation = invitation_scanned(token=data.token, code=data.code)
    reason = _invitation_reason(invitation, device.stand)
    if reason == UNKNOWN:
        ratelimit.record_failure("code", ident)
    client = client_public(invitation.client) if reason is None else None
    return {"status": "ok" if reason is None else "error", "reason": reason, "client": client}


def interest_register(*, device: Device, data: InterestIn) -> dict:
    """Register a client's interest in the stand's activities as a lead (DESIGN.md §8).

    Returns the §8 answer: status ok | error with a reason. Only a client whose invitation
    for this market is checked in becomes a lead; the same client at the same stand updates
    that lead. The same nonce again returns the first answer (`replayed: true`) and writes
    nothing. Unknown tokens and codes count for the "code" rate limit of the device.
    """
    data = InterestIn(token=(data.token or "").strip() or None, code=(data.code or "").strip() or None,
                      activities=list(dict.fromkeys(data.activities)), note=(data.note or "").strip(),
                      warmth=data.warmth or None, nonce=(data.nonce or "").strip())
    _validate(data)
    fingerprint = _fingerprint(data)
    ident = f"device:{device.pk}"
    try:
        ratelimit.check("code", ident)
    except RateLimited:
        # A replayed nonce gets its first answer before 429.
        replayed = _replay(device, data, fingerprint)
        if replayed is not None:
            return replayed
        raise
    # No replay lookup first: a replayed (or reused) nonce fails the unique InterestRequest
    # insert at the end of the transaction below, which rolls everything back; the
    # IntegrityError path then answers from the stored request.

    stand = device.stand
    invitation = invitation_scanned(token=data.token, code=data.code)
    result: dict
    lead: Lead | None = None
    try:
        with transaction.atomic():
            reason = _invitation_reason(invitation, stand)
            if reason is not None:
                result = _outcome(reason)
            else:
                client = client_public(invitation.client)
                # No ordering (Activity's default joins the organisation to sort by its name):
                # lead_upsert orders them itself.
                activities = list(Activity.objects.filter(pk__in=data.activities, active=True,
                                                          organisation_id=stand.organisation_id).order_by())
                if len(activities) != len(data.activities):
                    result = _outcome(ACTIVITY_NOT_AT_STAND, client=client)
                else:
                    lead, created = lead_upsert(market=stand.market, client=invitation.client,
                                                organisation=stand.organisation, activities=activities,
                                                source=Lead.Source.KIOSK, stand=stand, warmth=data.warmth,
                                                note=data.note or None)
                    result = _outcome(None, lead=lead_for_device(lead, created=created), client=client)
            rawsql.insert(InterestRequest, {
                "device_id": device.pk, "nonce": data.nonce, "fingerprint": fingerprint,
                "status": result["status"], "reason": result["reason"] or "",
                "lead_id": getattr(lead, "pk", None), "response": result, "received_at": timezone.now()})
    except IntegrityError:
        # The same nonce arrived twice at once (a queue flush racing a retry): the other
        # request won; everything this one wrote is rolled back, and it answers as a replay.
        replayed = _replay(device, data, fingerprint)
        if replayed is None:
            raise
        return replayed
    if result["reason"] == UNKNOWN:
        ratelimit.record_failure("code", ident)
    return result


def interests_scrub_client(sender=None, *, lead_ids, display_name: str, **_kwargs) -> None:
    """On `events.retention.client_pseudonymised`: the stored answers of registrations about the
    client (name, note) lose what identifies them."""
    scrub_rows(InterestRequest.objects.filter(lead_id__in=lead_ids), "response", display_name)
