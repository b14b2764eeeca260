"""Writes for leads (DESIGN.md §9). Every change appends lead.created / lead.updated."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from backend import rawsql
from backend.errors import Invalid
from backend.feed import feed_append
from events.models import Activity, Client, Lead, Market, Organisation, Stand

NOTE_MAX = 1000


def client_public(client: Client) -> dict:
    """The minimal profile hosts, mediators and organisation devices may see."""
    return {"display_name": client.display_name, "language": client.language}


def lead_feed_data(lead: Lead) -> dict:
    """The lead as the feed and the snapshot carry it (no welfare data)."""
    client = lead.client
    return {
        "id": lead.pk,
        "client_id": client.pk,
        "display_name": client.display_name,
        "language": client.language,
        "organisation_id": lead.organisation_id,
        "organisation": lead.organisation.name if lead.organisation_id else None,
        "activities": [{"id": a.pk, "title": a.title} for a in lead.activities.all()],
        "source": lead.source,
        "state": lead.state,
        "warmth": lead.warmth,
        "note": lead.note,
        "claimed_by": lead.claimed_by.get_username() if lead.claimed_by_id else None,
        "updated_at": lead.updated_at,
    }


def lead_publish(lead: Lead, *, created: bool) -> None:
    """Append the lead's feed entry. Call inside the transaction that changed it."""
    feed_append(market_id=lead.market_id, kind="lead.created" if created else "lead.updated",
                data=lead_feed_data(lead))


@rawsql.statement
def _lead_of_stand_sql() -> str:
    q = rawsql.q
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return (f"SELECT {rawsql.select_list(Lead, 'l')} FROM {rawsql.table(Lead)} l WHERE l.{q('market_id')} = %s "
            f"AND l.{q('client_id')} = %s AND l.{q('organisation_id')} = %s{lock}")


def _lead_of_stand_locked(market_id: int, client_id: int, organisation_id: int) -> Lead | None:
    """The lead of (market, client, organisation) — unique — its row locked (PostgreSQL)."""
    _n, row = rawsql.execute(_lead_of_stand_sql(), [market_id, client_id, organisation_id])
    return rawsql.from_row(Lead, row) if row is not None else None


@rawsql.statement
def _lead_activities_sql() -> str:
    q = rawsql.q
    through = Lead.activities.through._meta
    return (f"SELECT {rawsql.select_list(Activity, 'a')} FROM {rawsql.table(Activity)} a "
            f"INNER JOIN {q(through.db_table)} la ON la.{q('activity_id')} = a.{q('id')} "
            f"INNER JOIN {rawsql.table(Organisation)} o ON o.{q('id')} = a.{q('organisation_id')} "
            f"WHERE la.{q('lead_id')} = %s ORDER BY o.{q('name')}, a.{q('title')}, a.{q('id')}")


def _lead_activities(lead_id: int) -> list[Activity]:
    """The lead's activities in Activity's own order (organisation name, title)."""
    return [rawsql.from_row(Activity, row) for row in rawsql.rows(_lead_activities_sql(), [lead_id])]


def _activity_order(activity: Activity):
    return (activity.title, activity.pk)  # one organisation per lead: its name is the same for all


def lead_upsert(*, market: Market, client: Client, organisation: Organisation | None,
                activities: Iterable[Activity], source: str, stand: Stand | None = None,
                warmth: str | None = None, note: str | None = None, tags: Iterable[str] = ()) -> tuple[Lead, bool]:
    """Create the lead of (market, client, organisation), or update it: one lead per client per
    organisation per market (so per stand). Activities are added to those already there.
    Returns (lead, created)."""
    activities = list(activities)
    if any(a.organisation_id != (organisation.pk if organisation else None) for a in activities):
        raise Invalid(_("Deze activiteit hoort bij een andere organisatie."), code="activity_not_at_stand")
    if note is not None and len(note) > NOTE_MAX:
        raise Invalid(_("Een notitie is hoogstens %(n)s tekens.") % {"n": NOTE_MAX}, code="note_too_long")
    if warmth is not None and warmth not in Lead.Warmth.values:
        raise Invalid(_("Kies koud, warm of heet."), code="invalid_warmth")
    for attempt in range(2):
        try:
            with transaction.atomic():
                lead = None
                if organisation is not None:
                    lead = _lead_of_stand_locked(market.pk, client.pk, organisation.pk)
                created = lead is None
                if created:
                    lead = Lead.objects.create(market=market, client=client, organisation=organisation,
                                               stand=stand, source=source, warmth=warmth, note=note or "",
                                               tags=list(tags))
                else:
                    if warmth is not None:
                        lead.warmth = warmth
                    if note is not None:
                        lead.note = note
                    if stand is not None and lead.stand_id is None:
                        lead.stand = stand
                    if tags:
                        lead.tags = sorted(set(lead.tags) | set(tags))
                    lead.save()
                if activities:
                    lead.activities.add(*activities)
                # The feed payload from the objects in hand instead of reloading the lead: the
                # caller's client and organisation; the activities are those just added (a new
                # lead) or read in one statement (the claimant, on an updated lead that has
                # one, loads lazily).
                lead.client = client
                lead.organisation = organisation
                rawsql.set_prefetched(lead, "activities", sorted(activities, key=_activity_order) if created
                                      else _lead_activities(lead.pk))
                lead_publish(lead, created=created)
                return lead, created
        except IntegrityError:
            # Two tablets registered the same client at the same moment: the other one won the
            # insert, so this one becomes an update.
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------
# The consultant workflow (DESIGN.md §9): claim, release, notes, outcomes, agreements.
# Every function below runs in one transaction and appends its feed entry inside it.
# --------------------------------------------------------------------------------------------

import datetime as _dt  # noqa: E402
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation  # noqa: E402

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.utils import timezone  # noqa: E402

from backend.auth import CONSULTANT, COORDINATOR, MEDIATOR, has_role, user_roles  # noqa: E402
from backend import ratelimit  # noqa: E402
from backend.errors import Conflict, Forbidden, NotFound  # noqa: E402
from events.models import Agreement, ClientStatement, Exemption, Invitation, LeadNote  # noqa: E402
from events.selectors import invitation_scanned  # noqa: E402

HOURS_ABSOLUTE_MAX = Decimal("40")
REASON_MAX = 500
NOTE_TEXT_MAX = 2000
OUTCOMES = ("agreement", "exemption", "follow_up", "declined")
CLOSED_STATES = (Lead.State.AGREEMENT, Lead.State.EXEMPTION, Lead.State.FOLLOW_UP, Lead.State.DECLINED)


def _lead_loaded(lead_id: int) -> Lead:
    lead = (Lead.objects.select_related("client", "organisation", "claimed_by", "market__district")
            .prefetch_related("activities").filter(pk=lead_id).first())
    if lead is None:
        raise NotFound(_("Deze lead bestaat niet."), code="lead_not_found")
    return lead


def _lead_locked(lead_id: int) -> Lead:
    """Lock the lead row (only the lead: of=self keeps PostgreSQL off the joined rows)."""
    lead = Lead.objects.select_for_update(of=("self",)).select_related("market__district").filter(pk=lead_id).first()
    if lead is None:
        raise NotFound(_("Deze lead bestaat niet."), code="lead_not_found")
    return lead


def _in_district(user, district_id: int) -> bool:
    return user.districts.filter(pk=district_id).exists()


def require_consultant_for_district(user, district_id: int) -> None:
    """Writes of the workflow: a consultant of that district (403 otherwise)."""
    if not has_role(user, CONSULTANT):
        raise Forbidden(_("Alleen een consulent mag dit doen."), code="wrong_role", extra={"needs": [CONSULTANT]})
    if not _in_district(user, district_id):
        raise Forbidden(_("Deze markt of klant hoort niet bij uw wijk."), code="wrong_district")


def require_reader_for_district(user, district_id: int) -> None:
    """Reads of leads and client records: coordinators everything, consultants their districts."""
    roles = user_roles(user)
    if COORDINATOR in roles:
        return
    if CONSULTANT not in roles:
        raise Forbidden(_("Uw rol geeft geen toegang tot klantgegevens."), code="wrong_role",
                        extra={"needs": [COORDINATOR, CONSULTANT]})
    if not _in_district(user, district_id):
        raise Forbidden(_("Deze markt of klant hoort niet bij uw wijk."), code="wrong_district")


def lead_get_for_user(*, user, lead_id: int) -> Lead:
    lead = _lead_loaded(lead_id)
    require_reader_for_district(user, lead.market.district_id)
    return lead


def _reload_and_publish(lead_id: int, *, created: bool = False) -> Lead:
    lead = (Lead.objects.select_related("client", "organisation", "claimed_by", "market")
            .prefetch_related("activities").get(pk=lead_id))
    lead_publish(lead, created=created)
    return lead


def _taken_extra(lead: Lead) -> dict:
    return {"lead": lead.pk, "state": lead.state,
            "claimed_by": lead.claimed_by.get_username() if lead.claimed_by_id else None,
            "claimed_at": lead.claimed_at.isoformat() if lead.claimed_at else None}


def lead_claim(*, lead_id: int, user) -> Lead:
    """Claim a new lead. Atomic: a conditional UPDATE ... WHERE state='new' means that of two
    consultants exactly one changes the row; the other gets 409 `lead_taken` with who has it."""
    lead = _lead_loaded(lead_id)
    require_consultant_for_district(user, lead.market.district_id)
    with transaction.atomic():
        now = timezone.now()
        won = Lead.objects.filter(pk=lead_id, state=Lead.State.NEW).update(
            state=Lead.State.CLAIMED, claimed_by=user, claimed_at=now, updated_at=now)
        if not won:
            current = Lead.objects.select_related("claimed_by").get(pk=lead_id)
            extra = _taken_extra(current)
            if current.state == Lead.State.CLAIMED and current.claimed_by_id == user.pk:
                raise Conflict(_("U heeft deze lead al."), code="lead_already_yours", extra=extra)
            if current.state == Lead.State.CLAIMED:
                raise Conflict(_("Deze lead is al genomen door %(name)s.") % {"name": extra["claimed_by"]},
                               code="lead_taken", extra=extra)
            raise Conflict(_("Deze lead is al afgehandeld."), code="lead_closed", extra=extra)
        return _reload_and_publish(lead_id)


def lead_release(*, lead_id: int, user) -> Lead:
    """Give a claimed lead back (state new). Only the claimant."""
    lead = _lead_loaded(lead_id)
    require_consultant_for_district(user, lead.market.district_id)
    with transaction.atomic():
        lead = _lead_locked(lead_id)
        _require_claimant(lead, user)
        lead.state = Lead.State.NEW
        lead.claimed_by = None
        lead.claimed_at = None
        lead.save(update_fields=["state", "claimed_by", "claimed_at", "updated_at"])
        return _reload_and_publish(lead_id)


def _require_claimant(lead: Lead, user, *, allow_follow_up: bool = False) -> None:
    if lead.state == Lead.State.NEW:
        raise Conflict(_("Neem deze lead eerst."), code="lead_not_claimed", extra={"lead": lead.pk})
    open_states = (Lead.State.CLAIMED, Lead.State.FOLLOW_UP) if allow_follow_up else (Lead.State.CLAIMED,)
    if lead.state not in open_states:
        raise Conflict(_("Deze lead is al afgehandeld."), code="lead_closed",
                       extra={"lead": lead.pk, "state": lead.state})
    if lead.claimed_by_id != user.pk:
        holder = get_user_model().objects.filter(pk=lead.claimed_by_id).values_list("username", flat=True).first()
        raise Conflict(_("Deze lead is van %(name)s.") % {"name": holder}, code="lead_claimed_by_other",
                       extra={"lead": lead.pk, "state": lead.state, "claimed_by": holder})


def lead_note_add(*, lead_id: int, user, text: str) -> LeadNote:
    """Add a note. Consultants of the district, or a peer mediator (who may add notes but gets
    no client record back)."""
    lead = _lead_loaded(lead_id)
    if not has_role(user, MEDIATOR):
        require_consultant_for_district(user, lead.market.district_id)
    text = (text or "").strip()
    if not text:
        raise Invalid(_("Een notitie mag niet leeg zijn."), code="note_empty")
    if len(text) > NOTE_TEXT_MAX:
        raise Invalid(_("Een notitie is hoogstens %(n)s tekens.") % {"n": NOTE_TEXT_MAX}, code="note_too_long")
    with transaction.atomic():
        note = LeadNote.objects.create(lead=lead, author=user, text=text)
        Lead.objects.filter(pk=lead.pk).update(updated_at=timezone.now())
        feed_append(market_id=lead.market_id, kind="lead_note.created", data=note_feed_data(note, lead=lead))
    return note


# The leads a note can still help: not yet worked out, or waiting for a follow-up conversation.
NOTE_LEAD_STATES = (Lead.State.NEW, Lead.State.CLAIMED, Lead.State.FOLLOW_UP)


def leads_lookup_for_note(*, market: Market, user, token: str | None = None, code: str | None = None) -> dict:
    """What a peer mediator sees after scanning a client's letter to add a note (DESIGN.md §2:
    "like a host, plus adding notes to leads; no access to client records"): the display name
    and language, and the client's open leads at this market with organisation and activities
    only — no state (an exemption would reveal welfare data), no claimant, no client number.
    A scan outcome, not an error: `reason` unknown, revoked or wrong_market (then no client).
    Writes nothing; unknown tokens and codes count for the user's code rate limit, as scans do."""
    token = (token or "").strip() or None
    code = (code or "").strip() or None
    if (token is None) == (code is None):
        raise Invalid(_("Stuur een token of een code, niet allebei."), code="token_or_code")
    ident = f"user:{user.pk}"
    ratelimit.check("code", ident)
    invitation = invitation_scanned(token=token, code=code)
    if invitation is None:
        ratelimit.record_failure("code", ident)
        return _note_lookup("unknown", _("Onbekende code. Kijk of de code goed is."))
    if invitation.market_id != market.pk:
        return _note_lookup("wrong_market", _("Deze uitnodiging is voor een andere markt."))
    if invitation.state == Invitation.State.REVOKED:
        return _note_lookup("revoked", _("Deze uitnodiging is ingetrokken. Vraag een consulent."))
    client = invitation.client
    leads = (Lead.objects.filter(market=market, client=client, state__in=NOTE_LEAD_STATES)
             .select_related("organisation").prefetch_related("activities").order_by("created_at", "pk"))
    found = [{"id": lead.pk, "organisation": lead.organisation.name if lead.organisation_id else None,
              "activities": [{"id": a.pk, "title": a.title} for a in lead.activities.all()]} for lead in leads]
    name = f"\u2068{client.display_name}\u2069"  # isolated: a Latin name keeps its order in Arabic
    message = (_("Kies de aanmelding waar uw notitie over gaat.") if found else
               _("%(name)s heeft op deze markt nog geen aanmelding bij een organisatie. Een notitie kan pas "
                 "bij een aanmelding.") % {"name": name})
    return {**_note_lookup(None, message), "client": client_public(client), "leads": found}



def _note_lookup(reason: str | None, message: str) -> dict:
    return {"status": "ok" if reason is None else "error", "reason": reason, "client": None, "leads": [],
            "message": message}


def note_feed_data(note: LeadNote, *, lead: Lead | None = None) -> dict:
    return {"id": note.pk, "lead_id": note.lead_id,
            "author": note.author.get_username() if note.author_id else None,
            "text": note.text, "created_at": note.created_at}


# ---- validation of terms ---------------------------------------------------------------------

def _hours(value) -> Decimal:
    if value is None or value == "":
        raise Invalid(_("Vul het aantal uren per week in."), code="hours_required")
    try:
        hours = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise Invalid(_("Het aantal uren per week is geen getal."), code="hours_invalid") from None
    if not hours.is_finite() or hours <= 0 or hours > HOURS_ABSOLUTE_MAX:
        raise Invalid(_("Uren per week moet meer dan 0 en hoogstens 40 zijn."), code="hours_out_of_range",
                      extra={"min_exclusive": 0, "max": int(HOURS_ABSOLUTE_MAX)})
    return hours


def _terms(*, hours_per_week, hours_reason: str, start_date, end_date) -> tuple[Decimal, str]:
    hours = _hours(hours_per_week)
    reason = (hours_reason or "").strip()
    if len(reason) > REASON_MAX:
        raise Invalid(_("Een reden is hoogstens %(n)s tekens.") % {"n": REASON_MAX}, code="reason_too_long")
    limit = Decimal(settings.VM_MAX_HOURS_PER_WEEK)
    if hours > limit and not reason:
        raise Invalid(_("Meer dan %(limit)s uur per week kan alleen met een reden.") % {"limit": limit},
                      code="hours_reason_required", extra={"limit": int(limit)})
    if start_date is None:
        raise Invalid(_("Vul een startdatum in."), code="start_date_required")
    if end_date is None:
        raise Invalid(_("Vul een einddatum of evaluatiedatum in."), code="end_date_required")
    if end_date < start_date:
        raise Invalid(_("De einddatum ligt voor de startdatum."), code="end_before_start")
    return hours, (reason if hours > limit else "")


def activity_in_use(activity: Activity, *, exclude_agreement_id: int | None = None) -> int:
    """Current agreements for the activity that have not ended: what counts against capacity."""
    today = timezone.localdate()
    qs = Agreement.objects.filter(activity=activity, is_current=True).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=today))
    if exclude_agreement_id is not None:
        qs = qs.exclude(pk=exclude_agreement_id)
    return qs.count()


def _check_capacity(activity: Activity, override_reason: str, *, exclude_agreement_id: int | None = None) -> str:
    """Lock the activity (so two agreements cannot both take its last place) and refuse when it
    is full, unless an override reason is given; returns the reason to record ('' if unused)."""
    Activity.objects.select_for_update().filter(pk=activity.pk).values_list("pk", flat=True).first()
    in_use = activity_in_use(activity, exclude_agreement_id=exclude_agreement_id)
    reason = (override_reason or "").strip()
    if len(reason) > REASON_MAX:
        raise Invalid(_("Een reden is hoogstens %(n)s tekens.") % {"n": REASON_MAX}, code="reason_too_long")
    if in_use >= activity.capacity:
        if not reason:
            raise Conflict(_("Deze activiteit zit vol (%(used)s van %(cap)s plaatsen). Geef een reden om toch "
                             "af te spreken.") % {"used": in_use, "cap": activity.capacity},
                           code="over_capacity",
                           extra={"activity": activity.pk, "capacity": activity.capacity, "in_use": in_use})
        return reason
    return ""


def _organisation_and_activity(*, organisation_id: int | None, activity_id: int | None,
                               default_organisation_id: int | None, activity_required: bool
                               ) -> tuple[Organisation, Activity | None]:
    org_id = organisation_id or default_organisation_id
    if org_id is None:
        raise Invalid(_("Kies een organisatie."), code="organisation_required")
    organisation = Organisation.objects.filter(pk=org_id).first()
    if organisation is None:
        raise Invalid(_("Deze organisatie bestaat niet."), code="organisation_not_found")
    activity = None
    if activity_id is None:
        if activity_required:
            raise Invalid(_("Kies een activiteit."), code="activity_required")
    else:
        activity = Activity.objects.filter(pk=activity_id).first()
        if activity is None:
            raise Invalid(_("Deze activiteit bestaat niet."), code="activity_not_found")
        if activity.organisation_id != organisation.pk:
            raise Invalid(_("Deze activiteit hoort bij een andere organisatie."), code="activity_wrong_organisation")
    return organisation, activity


def agreement_feed_data(agreement: Agreement) -> dict:
    return {
        "id": agreement.pk, "lead_id": agreement.lead_id, "client_id": agreement.client_id,
        "display_name": agreement.client.display_name,
        "organisation_id": agreement.organisation_id, "organisation": agreement.organisation.name,
        "activity_id": agreement.activity_id, "activity": agreement.activity.title if agreement.activity_id else None,
        "hours_per_week": float(agreement.hours_per_week), "start_date": agreement.start_date,
        "end_date": agreement.end_date, "version": agreement.version,
    }


def _publish_agreement(agreement: Agreement) -> None:
    if agreement.market_id is not None:
        feed_append(market_id=agreement.market_id, kind="agreement.created", data=agreement_feed_data(agreement))


# ---- outcomes --------------------------------------------------------------------------------

def lead_outcome(*, lead_id: int, user, outcome: str, organisation: int | None = None,
                 activity: int | None = None, hours_per_week=None, hours_reason: str = "",
                 start_date: _dt.date | None = None, end_date: _dt.date | None = None,
                 capacity_override_reason: str = "", category: str | None = None,
                 review_date: _dt.date | None = None, appointment_date: _dt.date | None = None,
                 declined_by: str | None = None, reason: str = "") -> tuple[Lead, Agreement | Exemption | None]:
    """Record the outcome of a claimed lead. Only its claimant. Returns (lead, agreement|exemption|None)."""
    if outcome not in OUTCOMES:
        raise Invalid(_("Kies een uitkomst: afspraak, vrijstelling, vervolgafspraak of afgewezen."),
                      code="invalid_outcome", extra={"allowed": list(OUTCOMES)})
    lead = _lead_loaded(lead_id)
    require_consultant_for_district(user, lead.market.district_id)
    today = timezone.localdate()
    with transaction.atomic():
        lead = _lead_locked(lead_id)
        # A follow-up lead stays with its claimant, who records the final outcome at the appointment.
        _require_claimant(lead, user, allow_follow_up=True)
        record = None
        if outcome == "agreement":
            org, act = _organisation_and_activity(organisation_id=organisation, activity_id=activity,
                                                  default_organisation_id=lead.organisation_id,
                                                  activity_required=True)
            hours, hours_reason = _terms(hours_per_week=hours_per_week, hours_reason=hours_reason,
                                         start_date=start_date, end_date=end_date)
            override = _check_capacity(act, capacity_override_reason)
            record = Agreement.objects.create(
                client_id=lead.client_id, lead=lead, market_id=lead.market_id, organisation=org, activity=act,
                hours_per_week=hours, hours_reason=hours_reason, start_date=start_date, end_date=end_date,
                capacity_override_reason=override, created_by=user)
            lead.state = Lead.State.AGREEMENT
        elif outcome == "exemption":
            if (reason or "").strip():
                # No free text with an exemption: medical details must never be written down.
                raise Invalid(_("Bij een vrijstelling hoort geen vrije tekst, alleen een categorie."),
                              code="exemption_free_text")
            if not category:
                raise Invalid(_("Kies een reden (categorie) voor de vrijstelling."), code="category_required",
                              extra={"allowed": list(Exemption.Category.values)})
            if category not in Exemption.Category.values:
                raise Invalid(_("Deze categorie bestaat niet."), code="invalid_category",
                              extra={"allowed": list(Exemption.Category.values)})
            if review_date is None:
                raise Invalid(_("Vul een datum in waarop de vrijstelling opnieuw wordt bekeken."),
                              code="review_date_required")
            if review_date < today:
                raise Invalid(_("De evaluatiedatum ligt in het verleden."), code="review_date_in_past")
            record = Exemption.objects.create(client_id=lead.client_id, lead=lead, market_id=lead.market_id,
                                              category=category, review_date=review_date, created_by=user)
            lead.state = Lead.State.EXEMPTION
        elif outcome == "follow_up":
            if appointment_date is None:
                raise Invalid(_("Vul de datum van de vervolgafspraak in."), code="appointment_date_required")
            if appointment_date < today:
                raise Invalid(_("De vervolgafspraak ligt in het verleden."), code="appointment_in_past")
            lead.follow_up_on = appointment_date
            lead.state = Lead.State.FOLLOW_UP
        else:
            if declined_by not in Lead.DeclinedBy.values:
                raise Invalid(_("Zeg wie heeft afgewezen: de klant of de organisatie."), code="declined_by_required",
                              extra={"allowed": list(Lead.DeclinedBy.values)})
            text = (reason or "").strip()
            if not text:
                raise Invalid(_("Vul een reden in."), code="reason_required")
            if len(text) > REASON_MAX:
                raise Invalid(_("Een reden is hoogstens %(n)s tekens.") % {"n": REASON_MAX}, code="reason_too_long")
            lead.declined_by = declined_by
            lead.declined_reason = text
            lead.state = Lead.State.DECLINED
        lead.save()
        lead = _reload_and_publish(lead.pk)
        if isinstance(record, Agreement):
            record = Agreement.objects.select_related("client", "organisation", "activity").get(pk=record.pk)
            _publish_agreement(record)
    return lead, record


def agreement_update(*, agreement_id: int, user, organisation: int | None = None, activity: int | None = None,
                     hours_per_week=None, hours_reason: str = "", start_date: _dt.date | None = None,
                     end_date: _dt.date | None = None, capacity_override_reason: str = "") -> Agreement:
    """Change an agreement: write version + 1 and mark the old version not current. Fields not
    given keep their value. Only a consultant of the client's district."""
    current = Agreement.objects.select_related("client").filter(pk=agreement_id).first()
    if current is None:
        raise NotFound(_("Deze afspraak bestaat niet."), code="agreement_not_found")
    require_consultant_for_district(user, current.client.district_id)
    with transaction.atomic():
        old = Agreement.objects.select_for_update().filter(pk=agreement_id).first()
        if not old.is_current:
            newest = Agreement.objects.filter(client_id=old.client_id, is_current=True, version__gt=old.version)
            raise Conflict(_("Er is al een nieuwere versie van deze afspraak."), code="agreement_not_current",
                           extra={"current": newest.values_list("pk", flat=True).first()})
        org, act = _organisation_and_activity(
            organisation_id=organisation or old.organisation_id,
            activity_id=activity if activity is not None else old.activity_id,
            default_organisation_id=None, activity_required=False)
        if organisation and activity is None and act is not None and act.organisation_id != org.pk:
            raise Invalid(_("Kies een activiteit van de nieuwe organisatie."), code="activity_required")
        hours, hours_reason = _terms(
            hours_per_week=old.hours_per_week if hours_per_week is None else hours_per_week,
            hours_reason=hours_reason or old.hours_reason,
            start_date=start_date or old.start_date,
            end_date=end_date or old.end_date)
        override = ""
        if act is not None:
            override = _check_capacity(act, capacity_override_reason or (
                old.capacity_override_reason if act.pk == old.activity_id else ""), exclude_agreement_id=old.pk)
        old.is_current = False
        old.save(update_fields=["is_current"])
        new = Agreement.objects.create(
            client_id=old.client_id, lead_id=old.lead_id, market_id=old.market_id, organisation=org, activity=act,
            hours_per_week=hours, hours_reason=hours_reason, start_date=start_date or old.start_date,
            end_date=end_date or old.end_date, capacity_override_reason=override, formalised=old.formalised,
            version=old.version + 1, previous=old, created_by=user)
        new = Agreement.objects.select_related("client", "organisation", "activity").get(pk=new.pk)
        _publish_agreement(new)
    return new


def agreement_formalise(*, client_id: int, user, organisation: int | None = None, organisation_name: str = "",
                        activity: int | None = None, hours_per_week=None, hours_reason: str = "",
                        start_date: _dt.date | None = None, end_date: _dt.date | None = None,
                        market: int | None = None) -> Agreement:
    """A client who already volunteers: record an agreement with their current organisation
    directly (formalised=True), without a lead. The person is already there, so the activity's
    capacity is not checked (the agreement does count against it afterwards).

    The agreement is attached to `market` if given, else to the latest market the client was
    invited to (so it shows on that dashboard and in its report)."""
    client = Client.objects.filter(pk=client_id).first()
    if client is None:
        raise NotFound(_("Deze klant bestaat niet."), code="client_not_found")
    require_consultant_for_district(user, client.district_id)
    name = (organisation_name or "").strip()
    if organisation is None and name:
        if len(name) > 200:
            raise Invalid(_("De naam van de organisatie is te lang."), code="organisation_name_too_long")
        found = Organisation.objects.filter(name__iexact=name).first()
        organisation = found.pk if found else None
    with transaction.atomic():
        if organisation is None and name:
            organisation = Organisation.objects.get_or_create(name=name)[0].pk
        org, act = _organisation_and_activity(organisation_id=organisation, activity_id=activity,
                                              default_organisation_id=None, activity_required=False)
        hours, hours_reason = _terms(hours_per_week=hours_per_week, hours_reason=hours_reason,
                                     start_date=start_date, end_date=end_date)
        if market is not None:
            target = Market.objects.filter(pk=market).first()
            if target is None:
                raise Invalid(_("Deze markt bestaat niet."), code="market_not_found")
            if target.district_id != client.district_id:
                raise Invalid(_("Deze markt hoort bij een andere wijk."), code="market_wrong_district")
            market_id = target.pk
        else:
            market_id = (Invitation.objects.filter(client=client).order_by("-market__starts_at")
                         .values_list("market_id", flat=True).first())
        agreement = Agreement.objects.create(
            client=client, market_id=market_id, organisation=org, activity=act, hours_per_week=hours,
            hours_reason=hours_reason, start_date=start_date, end_date=end_date, formalised=True, created_by=user)
        ClientStatement.objects.filter(invitation__client=client, kind=ClientStatement.Kind.VOLUNTEERING,
                                       handled=False).update(handled=True)
        agreement = Agreement.objects.select_related("client", "organisation", "activity").get(pk=agreement.pk)
        _publish_agreement(agreement)
    return agreement


def lead_create_by_consultant(*, market: Market, user, client_id: int, organisation: int | None = None,
                              activities: Iterable[int] = (), note: str | None = None,
                              claim: bool = False) -> tuple[Lead, bool]:
    """A consultant adds a lead (source consultant) through lead_upsert; optionally claims it."""
    require_consultant_for_district(user, market.district_id)
    if market.state == Market.State.CLOSED:
        raise Conflict(_("Deze markt is gesloten."), code="market_closed")
    client = Client.objects.filter(pk=client_id).first()
    if client is None:
        raise NotFound(_("Deze klant bestaat niet."), code="client_not_found")
    if client.district_id != market.district_id:
        raise Invalid(_("Deze klant hoort bij een andere wijk."), code="client_wrong_district")
    org = None
    if organisation is not None:
        org = Organisation.objects.filter(pk=organisation).first()
        if org is None:
            raise Invalid(_("Deze organisatie bestaat niet."), code="organisation_not_found")
    activity_ids = list(dict.fromkeys(int(a) for a in activities))
    acts = list(Activity.objects.filter(pk__in=activity_ids))
    if len(acts) != len(activity_ids):
        raise Invalid(_("Deze activiteit bestaat niet."), code="activity_not_found")
    with transaction.atomic():
        lead, created = lead_upsert(market=market, client=client, organisation=org, activities=acts,
                                    source=Lead.Source.CONSULTANT, note=note)
        if claim and lead.state == Lead.State.NEW:
            lead = lead_claim(lead_id=lead.pk, user=user)
    return lead, created
