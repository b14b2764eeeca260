"""Check-in at the entrance (DESIGN.md §7), modelled on pretix's perform_checkin.

`checkin_redeem` answers one scan. In one transaction it locks the invitation row, decides the
outcome, checks the invitation in (events.services.invitation_check_in appends
`checkin.created` in that same transaction) and stores the Scan with its exact answer. The
same nonce again returns that answer with `replayed: true` and writes nothing; the same nonce
with another request is refused (422 `nonce_reused`). See docs/checkin.md.

`walk_in_register` finds or creates a client of the market's district, issues a walk-in
invitation when there is none, and checks in through the same decision.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backend import ratelimit, rawsql
from backend.errors import AppError, Conflict, Invalid
from checkin.models import Scan
from events.codes import normalise_code, parse_token
from events.lead_services import client_public
from events.models import Client, Invitation, Market
from events.selectors import invitation_by_token_or_code
from events.retention import scrub_rows
from events.services import invitation_check_in, invitation_issue_bulk, local_time

# How far a device clock may run ahead of ours before scanned_at is refused (422).
CLOCK_SKEW = dt.timedelta(seconds=getattr(settings, "VM_SCAN_CLOCK_SKEW_SECONDS", 300))
NONCE_MAX = 64

OK = "ok"
ERROR = "error"
ALREADY = "already_checked_in"
UNKNOWN = "unknown"
REVOKED = "revoked"
WRONG_MARKET = "wrong_market"
NOT_OPEN = "not_open"
EXCUSED = "excused"
REASONS = (ALREADY, UNKNOWN, REVOKED, WRONG_MARKET, NOT_OPEN, EXCUSED)


class NonceReused(Invalid):
    """422, not 409: §7 keeps a scan's 4xx to 401, 403, 422 and 429, and a nonce sent again
    with another request is a malformed request of the client, not a state of ours."""
    code = "nonce_reused"
    default_message = gettext_lazy("Deze nonce is al gebruikt voor een andere scan. Maak voor elke scan een nieuwe "
                                   "nonce.")


class ScannedAtInFuture(Invalid):
    code = "scanned_at_in_future"
    default_message = gettext_lazy("De scantijd (scanned_at) ligt in de toekomst. Kijk of de klok van het apparaat "
                                   "goed staat.")


@dataclass(frozen=True)
class ScanRequest:
    market_id: int
    nonce: str
    token: str | None = None
    code: str | None = None
    scanned_at: dt.datetime | None = None
    device: str | None = None


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def _local(value: dt.datetime) -> dt.datetime:
    return timezone.localtime(value, timezone.get_default_timezone())


def _time(value: dt.datetime) -> str:
    return formats.time_format(_local(value), "H:i")


def _date(value: dt.datetime) -> str:
    return formats.date_format(_local(value), "l j F Y")


def _answer(*, status: str, reason: str | None, message: str, client: Client | None = None,
            checked_in_at: dt.datetime | None = None, invitation: Invitation | None = None,
            market: dict | None = None, method: str) -> dict:
    answer = {
        "status": status,
        "reason": reason,
        "replayed": False,
        "client": client_public(client) if client is not None else None,
        "checked_in_at": checked_in_at.isoformat() if checked_in_at else None,
        "message": message,
        "invitation": ({"id": invitation.pk, "code": invitation.formatted_code, "walk_in": invitation.walk_in}
                       if invitation is not None else None),
        "method": method,
    }
    if market is not None:
        answer["market"] = market
    return answer


def _normalise_scanned_at(scanned_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    if scanned_at is None:
        return None
    scanned_at = local_time(scanned_at)  # a device that sends no offset means local market time
    if scanned_at > now + CLOCK_SKEW:
        raise ScannedAtInFuture(extra={"max_skew_seconds": int(CLOCK_SKEW.total_seconds())})
    return scanned_at


def _replay(nonce: str, fingerprint: str) -> dict | None:
    stored = Scan.objects.filter(nonce=nonce).values_list("fingerprint", "response").first()
    if stored is None:
        return None
    if stored[0] != fingerprint:
        raise NonceReused()
    return {**stored[1], "replayed": True}


def _rate_idents(user, ip: str | None) -> list[str]:
    """Whose unknown codes count: the logged-in user's. Not also the IP: the hosts of one venue
    share its network address, and one host's (or one broken scanner's) bad codes must not
    stop the others at the door. The IP counts only when there is no user."""
    if user is not None and getattr(user, "pk", None):
        return [f"user:{user.pk}"]
    return [f"ip:{ip}"] if ip else []


def _not_open_message(market: Market) -> str:
    if market.state == Market.State.PLANNED:
        return _("De markt is nog niet open. Aanmelden kan pas als de markt open is.")
    return _("De markt is gesloten. Aanmelden kan niet meer.")


def _decide(*, market: Market, invitation: Invitation | None, user, at: dt.datetime, method: str) -> dict:
    """The outcome of one scan; checks the (locked) invitation in when it may."""
    if invitation is None:
        return _answer(status=ERROR, reason=UNKNOWN, method=method,
                       message=_("Onbekende code. Kijk of de code goed is, of zoek de persoon op naam."))
    client = invitation.client
    # Isolated (U+2068 … U+2069): a Latin name inside an Arabic sentence keeps its own order and
    # its full stop ("Rui B.", not ".Rui B").
    name = f"\u2068{client.display_name}\u2069"
    if invitation.state == Invitation.State.REVOKED:
        return _answer(status=ERROR, reason=REVOKED, client=client, invitation=invitation, method=method,
                       message=_("De uitnodiging van %(name)s is ingetrokken. Stuur de persoon naar de "
                                 "coördinator.") % {"name": name})
    if invitation.market_id != market.pk:
        other = invitation.market
        return _answer(
            status=ERROR, reason=WRONG_MARKET, client=client, method=method,
            market={"id": other.pk, "name": other.name, "starts_at": other.starts_at.isoformat(),
                    "venue": other.venue},
            message=_("Deze uitnodiging is voor een andere markt: %(date)s om %(time)s in %(place)s.") % {
                "date": _date(other.starts_at), "time": _time(other.starts_at), "place": other.venue})
    if market.state != Market.State.OPEN or invitation.state == Invitation.State.NO_SHOW:
        return _answer(status=ERROR, reason=NOT_OPEN, client=client, invitation=invitation, method=method,
                       message=_not_open_message(market))
    if invitation.state == Invitation.State.EXCUSED:
        return _answer(status=ERROR, reason=EXCUSED, client=client, invitation=invitation, method=method,
                       message=_("%(name)s heeft zich afgemeld voor deze markt. Stuur de persoon naar "
                                 "een consulent.") % {"name": name})
    if invitation.state == Invitation.State.CHECKED_IN:
        first = invitation.checked_in_at
        return _answer(status=ERROR, reason=ALREADY, client=client, invitation=invitation, method=method,
                       checked_in_at=first,
                       message=_("%(name)s is al aangemeld om %(time)s.") % {
                           "name": name, "time": _time(first) if first else "?"})
    invitation_check_in(invitation=invitation, at=at, by=user, method=method)
    return _answer(status=OK, reason=None, client=client, invitation=invitation, method=method,
                   checked_in_at=at, message=_("Welkom! %(name)s is aangemeld.") % {"name": name})


def _store(*, market: Market, invitation: Invitation | None, user, request: ScanRequest, fingerprint: str,
           method: str, now: dt.datetime, scanned_at: dt.datetime | None, answer: dict) -> None:
    rawsql.insert(Scan, {
        "market_id": market.pk, "invitation_id": getattr(invitation, "pk", None),
        "user_id": getattr(user, "pk", None), "device": request.device, "nonce": request.nonce,
        "fingerprint": fingerprint, "method": method, "scanned_at": scanned_at, "received_at": now,
        "status": answer["status"], "reason": answer["reason"], "response": answer})


def _run_once(nonce: str, fingerprint: str, work) -> dict:
    """Run `work` (one transaction that stores a Scan with `nonce`); when a concurrent request
    with the same nonce won the insert, answer as a replay of that one."""
    try:
        return work()
    except IntegrityError:
        replay = _replay(nonce, fingerprint)
        if replay is None:
            raise
        return replay


# --------------------------------------------------------------------------------------------
# redeem
# --------------------------------------------------------------------------------------------

def checkin_redeem(*, market: Market, request: ScanRequest, user=None, ip: str | None = None) -> dict:
    """Answer one scan (DESIGN.md §7). `market` is the host's market, already authorised.

    Returns the §7 response dict. Raises NonceReused (422), ScannedAtInFuture (422),
    Invalid (422) for a malformed request, RateLimited (429) after too many unknown codes.
    """
    if (request.token is None) == (request.code is None):
        raise Invalid(_("Stuur een token of een code, niet allebei."), code="token_or_code")
    if not request.nonce or len(request.nonce) > NONCE_MAX:
        raise Invalid(_("Een nonce van 1 tot %(max)s tekens is verplicht.") % {"max": NONCE_MAX}, code="invalid_nonce")
    if request.token is not None:
        method = Scan.Method.QR
        value = parse_token(request.token)
        shown = value or request.token.strip()
    else:
        method = Scan.Method.CODE
        value = normalise_code(request.code)
        shown = value or request.code.strip().upper()
    fingerprint = _fingerprint(market.pk, method, shown)

    now = timezone.now()
    idents = _rate_idents(user, ip)
    try:
        scanned_at = _normalise_scanned_at(request.scanned_at, now)
        ratelimit.check("code", *idents)
    except AppError:
        # A replayed nonce gets its first answer before 422/429 (docs/checkin.md).
        replay = _replay(request.nonce, fingerprint)
        if replay is not None:
            return replay
        raise

    # No replay lookup first: a replayed (or reused) nonce fails the unique Scan insert at the
    # end of `work`, which rolls everything back; _run_once then answers from the stored scan.
    def work() -> dict:
        with transaction.atomic():
            invitation = None if value is None else invitation_by_token_or_code(
                **{"token" if method == Scan.Method.QR else "code": value}, lock=True)
            answer = _decide(market=market, invitation=invitation, user=user, at=scanned_at or now,
                             method=method)
            _store(market=market, invitation=invitation, user=user, request=request, fingerprint=fingerprint,
                   method=method, now=now, scanned_at=scanned_at, answer=answer)
            return answer

    answer = _run_once(request.nonce, fingerprint, work)
    if answer["reason"] == UNKNOWN and not answer["replayed"]:
        for ident in idents:
            ratelimit.record_failure("code", ident)
    return answer


def checkin_sync(*, items: list, authorise, user=None, ip: str | None = None) -> list[dict]:
    """Answer an uploaded offline queue in order. `items` holds ScanRequests or AppErrors (an
    item that did not parse); `authorise(market_id)` returns the Market or raises AppError.
    Each scan is independent: an error becomes that item's own error result."""
    results = []
    for item in items:
        try:
            if isinstance(item, AppError):
                raise item
            market = authorise(item.market_id)
            results.append(checkin_redeem(market=market, request=item, user=user, ip=ip))
        except AppError as exc:
            results.append(error_result(exc))
    return results


def error_result(exc: AppError) -> dict:
    """A sync item that is not a scan outcome (malformed, forbidden, nonce reused, rate
    limited): the redeem shape with status "error", reason null, and the error itself."""
    return {
        "status": ERROR,
        "reason": None,
        "replayed": False,
        "client": None,
        "checked_in_at": None,
        "message": exc.message,
        "invitation": None,
        "method": None,
        "error": {"status": exc.status, **exc.as_dict()},
    }


# --------------------------------------------------------------------------------------------
# walk-ins
# --------------------------------------------------------------------------------------------

WALK_IN_NUMBER_PREFIX = "INLOOP-"


def _new_walk_in_number() -> str:
    return WALK_IN_NUMBER_PREFIX + secrets.token_hex(5).upper()


@dataclass(frozen=True)
class WalkInRequest:
    nonce: str
    client_id: int | None = None
    client_number: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    language: str = "nl"
    device: str | None = None


def _walk_in_client(*, market: Market, req: WalkInRequest) -> tuple[Client, bool]:
    district_id = market.district_id
    if req.client_id is not None:
        client = Client.objects.filter(pk=req.client_id, district_id=district_id).first()
        if client is None:
            raise Invalid(_("Deze persoon is niet gevonden in het stadsdeel van deze markt."),
                          code="client_not_in_district")
        return client, False
    number = (req.client_number or "").strip().upper() or None
    if number is not None:
        client = Client.objects.filter(client_number__iexact=number).first()
        if client is not None:
            if client.district_id != district_id:
                raise Invalid(_("Dit klantnummer hoort bij een ander stadsdeel. Vraag een consulent."),
                              code="client_not_in_district")
            return client, False
    given = (req.given_name or "").strip()
    family = (req.family_name or "").strip()
    if not given or not family:
        raise Invalid(_("Vul de voornaam en de achternaam in."), code="name_required")
    if number is None:
        found = _walk_in_by_name(market=market, given=given, family=family)
        if found is not None:
            return found, False
    client = Client.objects.create(client_number=number or _new_walk_in_number(), given_name=given,
                                   family_name=family, language=req.language, district_id=district_id)
    return client, True


def _walk_in_by_name(*, market: Market, given: str, family: str) -> Client | None:
    """§7 "found by client number or name": without a client number, the district's client with
    exactly this given and family name (case and outer spaces aside). Several namesakes: the one
    summoned to this market, if only one is — a summoned client who forgot the letter must get
    their own invitation checked in, not a duplicate record and a no-show at closing; otherwise
    409 `client_ambiguous` (search and pick, or give the client number)."""
    namesakes = list(Client.objects.filter(district_id=market.district_id, pseudonymised_at__isnull=True,
                                           given_name__iexact=given, family_name__iexact=family)
                     .order_by("pk")[:50])
    if len(namesakes) > 1:
        summoned = set(Invitation.objects.filter(market=market, client__in=namesakes, walk_in=False)
                       .exclude(state=Invitation.State.REVOKED).values_list("client_id", flat=True))
        namesakes = [c for c in namesakes if c.pk in summoned] if len(summoned) == 1 else namesakes
    if len(namesakes) > 1:
        raise Conflict(_("Er zijn meer mensen met deze naam. Zoek de persoon en kies de juiste, "
                         "of vul het klantnummer in."), code="client_ambiguous", extra={"count": len(namesakes)})
    return namesakes[0] if namesakes else None


def walk_in_register(*, market: Market, req: WalkInRequest, user=None) -> dict:
    """Register a walk-in and check them in at once; idempotent with the nonce.

    Finds the client (by id or client number, within the market's district) or creates one
    (given and family name required; without a client number a provisional `INLOOP-…` number),
    issues a walk-in invitation when the client has none for this market, then decides like a
    scan (so an excused, revoked or already checked-in client gets that answer)."""
    if not req.nonce or len(req.nonce) > NONCE_MAX:
        raise Invalid(_("Een nonce van 1 tot %(max)s tekens is verplicht.") % {"max": NONCE_MAX}, code="invalid_nonce")
    fingerprint = _fingerprint(market.pk, Scan.Method.WALK_IN, req.client_id,
                               (req.client_number or "").strip().upper(), (req.given_name or "").strip(),
                               (req.family_name or "").strip())
    replay = _replay(req.nonce, fingerprint)
    if replay is not None:
        return replay
    now = timezone.now()

    def work() -> dict:
        with transaction.atomic():
            if market.state != Market.State.OPEN:
                answer = _decide_not_open(market)
                created = False
                invitation = None
                client = None
            else:
                client, created = _walk_in_client(market=market, req=req)
                invitation = (Invitation.objects.select_for_update(of=("self",)).select_related("client", "market")
                              .filter(market=market, client=client).first())
                if invitation is None:
                    invitation_issue_bulk(market=market, clients=[client], walk_in=True)
                    invitation = (Invitation.objects.select_for_update(of=("self",))
                                  .select_related("client", "market").get(market=market, client=client))
                answer = _decide(market=market, invitation=invitation, user=user, at=now,
                                 method=Scan.Method.WALK_IN)
            answer["created_client"] = created
            answer["client_id"] = client.pk if client is not None else None
            _store(market=market, invitation=invitation, user=user,
                   request=ScanRequest(market_id=market.pk, nonce=req.nonce, device=req.device),
                   fingerprint=fingerprint, method=Scan.Method.WALK_IN, now=now, scanned_at=None, answer=answer)
            return answer

    return _run_once(req.nonce, fingerprint, work)


def _decide_not_open(market: Market) -> dict:
    return _answer(status=ERROR, reason=NOT_OPEN, message=_not_open_message(market), method=Scan.Method.WALK_IN)


# --------------------------------------------------------------------------------------------
# retention
# --------------------------------------------------------------------------------------------

def scans_scrub_client(sender=None, *, invitation_ids, display_name: str, **_kwargs) -> None:
    """On `events.retention.client_pseudonymised`: the stored first answers of the client's
    scans lose the name (the scan rows, outcomes and times stay for the statistics)."""
    scrub_rows(Scan.objects.filter(invitation_id__in=invitation_ids), "response", display_name)
