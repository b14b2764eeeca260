"""Service tests for the consultant workflow (DESIGN.md §9): every transition and every refusal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from backend.auth import CONSULTANT, MEDIATOR
from backend.errors import Conflict, Forbidden, Invalid, NotFound
from backend.feed_kinds import KINDS
from backend.models import FeedEntry
from events import lead_services as ls
from events.models import Activity, Agreement, Exemption, Lead, LeadNote
from tests import factories as f

pytestmark = pytest.mark.django_db

TODAY = None


def today() -> dt.date:
    return timezone.localdate()


@pytest.fixture
def org(market):
    o = f.organisation("Buurthuis De Brug")
    f.stand(market, o)
    return o


@pytest.fixture
def activity(org):
    return org.activities.first()


@pytest.fixture
def lead(market, org, activity):
    inv = f.invitation(market)
    lead, _ = ls.lead_upsert(market=market, client=inv.client, organisation=org, activities=[activity],
                             source=Lead.Source.KIOSK, warmth="warm", note="wil graag koffie schenken")
    return lead


@pytest.fixture
def consultant2(district):
    return f.user("consultant2", CONSULTANT, districts=(district,))


@pytest.fixture
def claimed(lead, consultant):
    return ls.lead_claim(lead_id=lead.pk, user=consultant)


def entries(market, kind=None):
    qs = FeedEntry.objects.filter(market_id=market.pk).order_by("seq")
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs)


def assert_valid(entry):
    KINDS[entry.kind].model_validate(entry.data)


def agreement_terms(activity_, **over):
    terms = dict(outcome="agreement", activity=activity_.pk, hours_per_week=8, start_date=today(),
                 end_date=today() + dt.timedelta(days=180))
    terms.update(over)
    return terms


# ---- claim -----------------------------------------------------------------------------------

def test_claim_sets_claimant_and_appends_lead_updated(lead, consultant, market):
    head_before = len(entries(market))
    claimed = ls.lead_claim(lead_id=lead.pk, user=consultant)
    assert claimed.state == "claimed" and claimed.claimed_by == consultant and claimed.claimed_at
    new = entries(market)[head_before:]
    assert [e.kind for e in new] == ["lead.updated"]
    assert new[0].data["state"] == "claimed" and new[0].data["claimed_by"] == "consultant"
    assert_valid(new[0])


def test_second_consultant_gets_lead_taken_with_who(claimed, consultant2, market):
    count = len(entries(market))
    with pytest.raises(Conflict) as exc:
        ls.lead_claim(lead_id=claimed.pk, user=consultant2)
    assert exc.value.code == "lead_taken" and exc.value.status == 409
    assert exc.value.extra["claimed_by"] == "consultant"
    assert len(entries(market)) == count  # nothing written


def test_claim_twice_by_same_consultant(claimed, consultant):
    with pytest.raises(Conflict) as exc:
        ls.lead_claim(lead_id=claimed.pk, user=consultant)
    assert exc.value.code == "lead_already_yours"


def test_claim_lead_of_other_district_is_forbidden(lead, other_consultant):
    with pytest.raises(Forbidden) as exc:
        ls.lead_claim(lead_id=lead.pk, user=other_consultant)
    assert exc.value.code == "wrong_district"
    lead.refresh_from_db()
    assert lead.state == "new"


def test_claim_needs_consultant_role(lead, coordinator, mediator):
    for user in (coordinator, mediator):
        with pytest.raises(Forbidden) as exc:
            ls.lead_claim(lead_id=lead.pk, user=user)
        assert exc.value.code == "wrong_role"


def test_claim_unknown_lead(consultant):
    with pytest.raises(NotFound) as exc:
        ls.lead_claim(lead_id=999999, user=consultant)
    assert exc.value.code == "lead_not_found"


def test_claim_closed_lead(claimed, consultant, consultant2, activity):
    ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="follow_up",
                    appointment_date=today() + dt.timedelta(days=7))
    with pytest.raises(Conflict) as exc:
        ls.lead_claim(lead_id=claimed.pk, user=consultant2)
    assert exc.value.code == "lead_closed"


def test_release_by_claimant_only(claimed, consultant, consultant2, market):
    with pytest.raises(Conflict) as exc:
        ls.lead_release(lead_id=claimed.pk, user=consultant2)
    assert exc.value.code == "lead_claimed_by_other"
    released = ls.lead_release(lead_id=claimed.pk, user=consultant)
    assert released.state == "new" and released.claimed_by is None
    last = entries(market)[-1]
    assert last.kind == "lead.updated" and last.data["state"] == "new" and last.data["claimed_by"] is None
    assert ls.lead_claim(lead_id=claimed.pk, user=consultant2).claimed_by == consultant2


# ---- notes -----------------------------------------------------------------------------------

def test_note_by_consultant_and_mediator(lead, consultant, mediator, market):
    ls.lead_note_add(lead_id=lead.pk, user=consultant, text="Belt morgen terug")
    ls.lead_note_add(lead_id=lead.pk, user=mediator, text="Spreekt liever Turks")
    assert list(LeadNote.objects.filter(lead=lead).values_list("text", flat=True)) == [
        "Belt morgen terug", "Spreekt liever Turks"]
    notes = entries(market, "lead_note.created")
    assert [n.data["author"] for n in notes] == ["consultant", "mediator"]
    for n in notes:
        assert_valid(n)


def test_note_refusals(lead, other_consultant, host, consultant):
    with pytest.raises(Forbidden):
        ls.lead_note_add(lead_id=lead.pk, user=other_consultant, text="x")
    with pytest.raises(Forbidden):
        ls.lead_note_add(lead_id=lead.pk, user=host, text="x")
    with pytest.raises(Invalid) as exc:
        ls.lead_note_add(lead_id=lead.pk, user=consultant, text="   ")
    assert exc.value.code == "note_empty"
    with pytest.raises(Invalid) as exc:
        ls.lead_note_add(lead_id=lead.pk, user=consultant, text="x" * 2001)
    assert exc.value.code == "note_too_long"
    assert not LeadNote.objects.exists()


# ---- outcome: agreement ----------------------------------------------------------------------

def test_agreement_outcome(claimed, consultant, activity, market):
    lead, agreement = ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity))
    assert lead.state == "agreement"
    assert agreement.version == 1 and agreement.is_current and not agreement.formalised
    assert agreement.organisation_id == activity.organisation_id and agreement.hours_per_week == Decimal("8.0")
    kinds = [e.kind for e in entries(market)[-2:]]
    assert kinds == ["lead.updated", "agreement.created"]
    for e in entries(market)[-2:]:
        assert_valid(e)
    assert entries(market)[-1].data["hours_per_week"] == 8.0


def test_outcome_on_unclaimed_lead(lead, consultant, activity):
    with pytest.raises(Conflict) as exc:
        ls.lead_outcome(lead_id=lead.pk, user=consultant, **agreement_terms(activity))
    assert exc.value.code == "lead_not_claimed"
    assert not Agreement.objects.exists()


def test_outcome_on_someone_elses_lead(claimed, consultant2, activity):
    with pytest.raises(Conflict) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant2, **agreement_terms(activity))
    assert exc.value.code == "lead_claimed_by_other" and exc.value.extra["claimed_by"] == "consultant"
    assert not Agreement.objects.exists()


def test_outcome_twice(claimed, consultant, activity):
    ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity))
    with pytest.raises(Conflict) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity))
    assert exc.value.code == "lead_closed"
    assert Agreement.objects.count() == 1


def test_outcome_other_district(claimed, other_consultant, activity):
    with pytest.raises(Forbidden):
        ls.lead_outcome(lead_id=claimed.pk, user=other_consultant, **agreement_terms(activity))


@pytest.mark.parametrize("hours", [0, -1, Decimal("40.1"), 41, 100])
def test_hours_out_of_range(claimed, consultant, activity, hours):
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant,
                        **agreement_terms(activity, hours_per_week=hours, hours_reason="veel zin"))
    assert exc.value.code == "hours_out_of_range"
    claimed.refresh_from_db()
    assert claimed.state == "claimed" and not Agreement.objects.exists()


def test_hours_not_a_number(claimed, consultant, activity):
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity, hours_per_week="veel"))
    assert exc.value.code == "hours_invalid"


def test_hours_above_limit_need_reason(claimed, consultant, activity):
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity, hours_per_week=24))
    assert exc.value.code == "hours_reason_required" and exc.value.extra["limit"] == 20
    _, agreement = ls.lead_outcome(lead_id=claimed.pk, user=consultant,
                                   **agreement_terms(activity, hours_per_week=24,
                                                     hours_reason="Wil meer uren om ritme op te bouwen"))
    assert agreement.hours_per_week == 24 and agreement.hours_reason


def test_hours_at_limit_need_no_reason_and_40_is_allowed(claimed, consultant, activity):
    _, agreement = ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity, hours_per_week=20))
    assert agreement.hours_reason == ""


@override_settings(VM_MAX_HOURS_PER_WEEK=12)
def test_limit_is_configurable(claimed, consultant, activity):
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity, hours_per_week=16))
    assert exc.value.code == "hours_reason_required"


def test_end_before_start(claimed, consultant, activity):
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant,
                        **agreement_terms(activity, end_date=today() - dt.timedelta(days=1)))
    assert exc.value.code == "end_before_start"


def test_missing_dates_and_activity(claimed, consultant, activity):
    for over, code in [({"start_date": None}, "start_date_required"), ({"end_date": None}, "end_date_required"),
                       ({"activity": None}, "activity_required")]:
        with pytest.raises(Invalid) as exc:
            ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity, **over))
        assert exc.value.code == code


def test_activity_of_another_organisation(claimed, consultant):
    other = f.organisation("Voedselbank").activities.first()
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(other))
    assert exc.value.code == "activity_wrong_organisation"


def _fill(activity, market, n):
    for _ in range(n):
        client = f.client(market.district)
        Agreement.objects.create(client=client, organisation=activity.organisation, activity=activity,
                                 hours_per_week=4, start_date=today(), end_date=today() + dt.timedelta(days=30))


def test_over_capacity_refused_without_override(claimed, consultant, activity, market):
    _fill(activity, market, activity.capacity)
    with pytest.raises(Conflict) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity))
    assert exc.value.code == "over_capacity"
    assert exc.value.extra == {"activity": activity.pk, "capacity": activity.capacity, "in_use": activity.capacity}
    claimed.refresh_from_db()
    assert claimed.state == "claimed"


def test_over_capacity_with_override_is_recorded(claimed, consultant, activity):
    _fill(activity, claimed.market, activity.capacity)
    _, agreement = ls.lead_outcome(lead_id=claimed.pk, user=consultant,
                                   **agreement_terms(activity, capacity_override_reason="Extra begeleider geregeld"))
    assert agreement.capacity_override_reason == "Extra begeleider geregeld"


def test_ended_and_old_versions_do_not_count_against_capacity(claimed, consultant, activity):
    for _ in range(activity.capacity):
        Agreement.objects.create(client=f.client(claimed.market.district), organisation=activity.organisation,
                                 activity=activity, hours_per_week=4, start_date=today() - dt.timedelta(days=60),
                                 end_date=today() - dt.timedelta(days=1))
    _, agreement = ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity))
    assert agreement.capacity_override_reason == ""


# ---- agreement versions ----------------------------------------------------------------------

def test_agreement_update_writes_new_version(claimed, consultant, activity, market):
    _, v1 = ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity))
    v2 = ls.agreement_update(agreement_id=v1.pk, user=consultant, hours_per_week=12)
    v1.refresh_from_db()
    assert (v2.version, v2.previous_id, v2.is_current, v2.hours_per_week) == (2, v1.pk, True, Decimal("12.0"))
    assert not v1.is_current and v1.hours_per_week == Decimal("8.0")
    assert v2.start_date == v1.start_date and v2.lead_id == v1.lead_id
    last = entries(market)[-1]
    assert last.kind == "agreement.created" and last.data["version"] == 2
    assert_valid(last)
    with pytest.raises(Conflict) as exc:
        ls.agreement_update(agreement_id=v1.pk, user=consultant, hours_per_week=10)
    assert exc.value.code == "agreement_not_current" and exc.value.extra["current"] == v2.pk


def test_agreement_update_validates_and_does_not_count_itself(claimed, consultant, activity):
    activity.capacity = 1
    activity.save()
    _, v1 = ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity))
    with pytest.raises(Invalid) as exc:
        ls.agreement_update(agreement_id=v1.pk, user=consultant, end_date=v1.start_date - dt.timedelta(days=1))
    assert exc.value.code == "end_before_start"
    with pytest.raises(Invalid):
        ls.agreement_update(agreement_id=v1.pk, user=consultant, hours_per_week=30)
    v2 = ls.agreement_update(agreement_id=v1.pk, user=consultant, hours_per_week=6)  # still fits: itself excluded
    assert v2.version == 2
    assert Agreement.objects.filter(client=v1.client).count() == 2


def test_agreement_update_other_district(claimed, consultant, other_consultant, activity):
    _, v1 = ls.lead_outcome(lead_id=claimed.pk, user=consultant, **agreement_terms(activity))
    with pytest.raises(Forbidden):
        ls.agreement_update(agreement_id=v1.pk, user=other_consultant, hours_per_week=6)


# ---- exemption, follow-up, declined ----------------------------------------------------------

def test_exemption_outcome(claimed, consultant, market):
    lead, exemption = ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="exemption", category="care",
                                      review_date=today() + dt.timedelta(days=90))
    assert lead.state == "exemption" and exemption.category == "care"
    assert entries(market)[-1].data["state"] == "exemption"


@pytest.mark.parametrize("fields,code", [
    ({"review_date": "+90"}, "category_required"),
    ({"category": "diabetes", "review_date": "+90"}, "invalid_category"),
    ({"category": "health"}, "review_date_required"),
    ({"category": "health", "review_date": "-1"}, "review_date_in_past"),
    ({"category": "health", "review_date": "+90", "reason": "heeft last van rugpijn"}, "exemption_free_text"),
])
def test_exemption_refusals(claimed, consultant, fields, code):
    fields = dict(fields)
    if "review_date" in fields:
        fields["review_date"] = today() + dt.timedelta(days=int(fields["review_date"]))
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="exemption", **fields)
    assert exc.value.code == code
    assert not Exemption.objects.exists()


def test_follow_up_outcome(claimed, consultant):
    lead, record = ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="follow_up",
                                   appointment_date=today() + dt.timedelta(days=14))
    assert lead.state == "follow_up" and lead.follow_up_on == today() + dt.timedelta(days=14) and record is None
    # At the follow-up appointment the claimant records the final outcome.
    lead, _ = ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="declined", declined_by="client",
                              reason="Gaat verhuizen")
    assert lead.state == "declined"


def test_follow_up_refusals(claimed, consultant):
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="follow_up")
    assert exc.value.code == "appointment_date_required"
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="follow_up",
                        appointment_date=today() - dt.timedelta(days=1))
    assert exc.value.code == "appointment_in_past"


def test_declined_outcome_and_refusals(claimed, consultant):
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="declined", reason="geen tijd")
    assert exc.value.code == "declined_by_required"
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="declined", declined_by="client")
    assert exc.value.code == "reason_required"
    lead, _ = ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="declined", declined_by="organisation",
                              reason="Geen plek voor begeleiding")
    assert (lead.state, lead.declined_by, lead.declined_reason) == ("declined", "organisation",
                                                                   "Geen plek voor begeleiding")


def test_unknown_outcome(claimed, consultant):
    with pytest.raises(Invalid) as exc:
        ls.lead_outcome(lead_id=claimed.pk, user=consultant, outcome="married")
    assert exc.value.code == "invalid_outcome"


# ---- consultant leads and formalise -----------------------------------------------------------

def test_consultant_creates_lead(market, consultant, org, activity):
    client = f.invitation(market).client
    lead, created = ls.lead_create_by_consultant(market=market, user=consultant, client_id=client.pk,
                                                 organisation=org.pk, activities=[activity.pk], note="via gesprek")
    assert created and lead.source == "consultant" and lead.state == "new"
    assert entries(market)[-1].kind == "lead.created"
    lead2, created2 = ls.lead_create_by_consultant(market=market, user=consultant, client_id=client.pk,
                                                   organisation=org.pk, claim=True)
    assert lead2.pk == lead.pk and not created2 and lead2.state == "claimed"


def test_consultant_lead_refusals(market, consultant, other_consultant, other_district):
    client = f.invitation(market).client
    with pytest.raises(Forbidden):
        ls.lead_create_by_consultant(market=market, user=other_consultant, client_id=client.pk)
    stranger = f.client(other_district)
    with pytest.raises(Invalid) as exc:
        ls.lead_create_by_consultant(market=market, user=consultant, client_id=stranger.pk)
    assert exc.value.code == "client_wrong_district"
    with pytest.raises(NotFound):
        ls.lead_create_by_consultant(market=market, user=consultant, client_id=999999)


def test_formalise(market, consultant, org, activity):
    inv = f.invitation(market)
    agreement = ls.agreement_formalise(client_id=inv.client_id, user=consultant, organisation=org.pk,
                                       activity=activity.pk, hours_per_week=6, start_date=today(),
                                       end_date=today() + dt.timedelta(days=365))
    assert agreement.formalised and agreement.lead is None and agreement.market_id == market.pk
    last = entries(market)[-1]
    assert last.kind == "agreement.created" and last.data["lead_id"] is None
    assert_valid(last)


def test_formalise_by_organisation_name_and_over_capacity(market, consultant, activity):
    inv = f.invitation(market)
    _fill(activity, market, activity.capacity)
    agreement = ls.agreement_formalise(client_id=inv.client_id, user=consultant, organisation_name="Sportclub Ŝ",
                                       hours_per_week=4, start_date=today(), end_date=today() + dt.timedelta(days=30))
    assert agreement.organisation.name == "Sportclub Ŝ" and agreement.activity is None
    # Already there: formalising is not refused over capacity.
    ok = ls.agreement_formalise(client_id=f.invitation(market).client_id, user=consultant,
                                organisation=activity.organisation_id, activity=activity.pk, hours_per_week=4,
                                start_date=today(), end_date=today() + dt.timedelta(days=30))
    assert ok.formalised


def test_formalise_refusals(market, consultant, other_consultant, org):
    inv = f.invitation(market)
    with pytest.raises(Forbidden):
        ls.agreement_formalise(client_id=inv.client_id, user=other_consultant, organisation=org.pk,
                               hours_per_week=4, start_date=today(), end_date=today())
    with pytest.raises(Invalid) as exc:
        ls.agreement_formalise(client_id=inv.client_id, user=consultant, hours_per_week=4, start_date=today(),
                               end_date=today())
    assert exc.value.code == "organisation_required"
    with pytest.raises(Invalid) as exc:
        ls.agreement_formalise(client_id=inv.client_id, user=consultant, organisation=org.pk, hours_per_week=50,
                               start_date=today(), end_date=today())
    assert exc.value.code == "hours_out_of_range"
    assert not Agreement.objects.exists()


def test_mediator_reads_no_client_records(lead, mediator, coordinator, other_consultant):
    with pytest.raises(Forbidden):
        ls.lead_get_for_user(user=mediator, lead_id=lead.pk)
    with pytest.raises(Forbidden):
        ls.lead_get_for_user(user=other_consultant, lead_id=lead.pk)
    assert ls.lead_get_for_user(user=coordinator, lead_id=lead.pk).pk == lead.pk


def test_upsert_feed_entries_carry_the_activities_in_activity_order(market, org):
    """A new lead's activities come from the objects in hand, an updated lead's from one SQL
    statement (events.lead_services): both in Activity's own order, as the ORM would list them."""
    zingen = Activity.objects.create(organisation=org, title="Zingen")
    afwassen = Activity.objects.create(organisation=org, title="Afwassen")
    koken = Activity.objects.create(organisation=org, title="Koken")
    client = f.invitation(market).client
    lead, created = ls.lead_upsert(market=market, client=client, organisation=org, activities=[zingen, afwassen],
                                   source=Lead.Source.KIOSK)
    assert created
    lead, created = ls.lead_upsert(market=market, client=client, organisation=org, activities=[koken],
                                   source=Lead.Source.KIOSK)
    assert not created
    entries = FeedEntry.objects.filter(market_id=market.pk, kind__startswith="lead.").order_by("seq")
    titles = [[a["title"] for a in e.data["activities"]] for e in entries]
    assert titles == [["Afwassen", "Zingen"], ["Afwassen", "Koken", "Zingen"]]
    assert titles[-1] == [a.title for a in Lead.objects.get(pk=lead.pk).activities.all()]
