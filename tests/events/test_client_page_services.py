"""events.client_services: each client action and refusal, at the service boundary."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from backend.errors import Conflict, Invalid
from backend.feed_kinds import KINDS
from backend.models import FeedEntry
from events import client_services as cs
from events import services
from events.models import ClientStatement, Invitation, Lead
from tests import factories as f


def future_market(district, *, starts_in_hours=72, capacities=(50, 50)):
    m = f.market(district, state="planned", starts_in_hours=starts_in_hours, hours=2 * len(capacities))
    for i, capacity in enumerate(capacities):
        services.timeslot_create(market=m, starts_at=m.starts_at + dt.timedelta(hours=2 * i),
                                 ends_at=m.starts_at + dt.timedelta(hours=2 * i + 2), capacity=capacity)
    return m


def kinds(market):
    return list(FeedEntry.objects.filter(market_id=market.pk).order_by("seq").values_list("kind", flat=True))


@pytest.fixture
def market3(district):
    return future_market(district)


@pytest.fixture
def inv(market3):
    invitation = f.invitation(market3)
    invitation.slot = market3.slots.first()
    invitation.save()
    return invitation


def test_lookup_ignores_unknown_and_revoked(inv):
    assert cs.client_invitation_get(token=inv.token).pk == inv.pk
    assert cs.client_invitation_get(token="nope") is None
    assert cs.client_invitation_get(token="") is None
    assert cs.client_invitation_get(token="x" * 500) is None
    Invitation.objects.filter(pk=inv.pk).update(state=Invitation.State.REVOKED)
    assert cs.client_invitation_get(token=inv.token) is None


def test_confirm_is_idempotent(inv):
    _i, changed = cs.client_confirm(invitation=inv)
    assert changed
    _i, changed = cs.client_confirm(invitation=inv)
    assert not changed
    assert kinds(inv.market).count("invitation.updated") == 1


def test_confirm_after_cancel_is_refused(inv):
    cs.client_cancel(invitation=inv, category="illness")
    with pytest.raises(Conflict) as exc:
        cs.client_confirm(invitation=inv)
    assert exc.value.code == "excused"


def test_slot_full_lists_alternatives_that_have_room(district):
    m = future_market(district, capacities=(5, 1, 0, 5))
    a, full, zero, free = m.slots.order_by("starts_at")
    taker = f.invitation(m)
    taker.slot = full
    taker.save()
    inv = f.invitation(m)
    inv.slot = a
    inv.save()
    with pytest.raises(Conflict) as exc:
        cs.client_slot_change(invitation=inv, slot_id=full.pk)
    assert exc.value.code == "slot_full"
    assert exc.value.extra["alternatives"] == [free.pk]


def test_excused_places_do_not_count(district):
    m = future_market(district, capacities=(5, 1))
    a, small = m.slots.order_by("starts_at")
    gone = f.invitation(m)
    gone.slot = small
    gone.save()
    cs.client_cancel(invitation=gone, category="work")
    inv = f.invitation(m)
    inv.slot = a
    inv.save()
    inv, changed = cs.client_slot_change(invitation=inv, slot_id=small.pk)
    assert changed and inv.slot_id == small.pk


def test_slot_that_started_is_refused(district):
    m = f.market(district, state="open", starts_in_hours=-1, hours=4)
    started = services.timeslot_create(market=m, starts_at=m.starts_at, ends_at=m.starts_at + dt.timedelta(hours=2))
    later = services.timeslot_create(market=m, starts_at=m.starts_at + dt.timedelta(hours=2), ends_at=m.ends_at)
    inv = f.invitation(m)
    inv.slot = later
    inv.save()
    with pytest.raises(Conflict) as exc:
        cs.client_slot_change(invitation=inv, slot_id=started.pk)
    assert exc.value.code == "slot_started"


def test_cancel_deadline(district, settings):
    settings.VM_CANCEL_DEADLINE_HOURS = 24
    ok = future_market(district, starts_in_hours=25)
    late = future_market(district, starts_in_hours=23)
    assert cs.can_cancel(f.invitation(ok))
    inv = f.invitation(late)
    assert not cs.can_cancel(inv)
    with pytest.raises(Conflict) as exc:
        cs.client_cancel(invitation=inv, category="illness")
    assert exc.value.code == "too_late"
    assert "deadline" in exc.value.extra
    inv.refresh_from_db()
    assert inv.state == Invitation.State.ISSUED and inv.excuse_category == ""


def test_cancel_rejects_unknown_category(inv):
    with pytest.raises(Invalid):
        cs.client_cancel(invitation=inv, category="because")


def test_cancel_after_check_in_is_refused(inv):
    Invitation.objects.filter(pk=inv.pk).update(state=Invitation.State.CHECKED_IN)
    with pytest.raises(Conflict):
        cs.client_cancel(invitation=inv, category="illness")


def test_wishes_merge_into_an_existing_kiosk_lead_of_the_same_organisation(inv):
    org = f.organisation(activities=2)
    stand = f.stand(inv.market, org)
    a1, a2 = org.activities.order_by("pk")
    from events.lead_services import lead_upsert

    lead, _ = lead_upsert(market=inv.market, client=inv.client, organisation=org, activities=[a1],
                          source="kiosk", stand=stand, warmth="warm")
    changed = cs.client_wishes_save(invitation=inv, activity_ids=[a2.pk], tags=[])
    assert [(lead_.pk, created) for lead_, created in changed] == [(lead.pk, False)]
    assert Lead.objects.filter(client=inv.client).count() == 1
    assert set(Lead.objects.get().activities.values_list("pk", flat=True)) == {a1.pk, a2.pk}


def test_wishes_one_lead_per_organisation(inv):
    o1, o2 = f.organisation(activities=1), f.organisation(activities=1)
    f.stand(inv.market, o1)
    f.stand(inv.market, o2)
    ids = [o1.activities.get().pk, o2.activities.get().pk]
    changed = cs.client_wishes_save(invitation=inv, activity_ids=ids, tags=["contact"])
    assert len(changed) == 2 and all(created for _l, created in changed)
    assert cs.client_wishes_save(invitation=inv, activity_ids=ids, tags=["contact"]) == []
    leads = Lead.objects.filter(client=inv.client, source="client")
    assert leads.count() == 2 and all(lead.tags == ["contact"] for lead in leads)
    assert cs.client_wishes_current(invitation=inv) == (set(ids), {"contact"})


def test_inactive_activity_is_not_offered(inv):
    org = f.organisation(activities=2)
    f.stand(inv.market, org)
    a1, a2 = org.activities.order_by("pk")
    a2.active = False
    a2.save()
    assert [a.pk for a in cs.market_activities(market=inv.market)] == [a1.pk]
    with pytest.raises(Invalid):
        cs.client_wishes_save(invitation=inv, activity_ids=[a2.pk], tags=[])


def test_volunteering_hours_are_validated_and_rounded(inv):
    st, created = cs.client_volunteering_report(invitation=inv, organisation_name="Stadstuin", hours_per_week="2,5")
    assert created and float(st.hours_per_week) == 2.5
    for bad in ("", "-1", "0", "41", "nan", "inf", "1e9"):
        with pytest.raises(Invalid):
            cs.client_volunteering_report(invitation=inv, organisation_name="Stadstuin", hours_per_week=bad)
    other, created = cs.client_volunteering_report(invitation=inv, organisation_name="Stadstuin", hours_per_week="4")
    assert created and other.pk != st.pk


def test_constraints_only_known_categories(inv):
    created = cs.client_constraints_report(invitation=inv, categories=["health", "language"])
    assert {s.category for s in created} == {"health", "language"}
    assert cs.client_constraints_report(invitation=inv, categories=["health"]) == []
    with pytest.raises(Invalid):
        cs.client_constraints_report(invitation=inv, categories=[])
    with pytest.raises(Invalid):
        cs.client_constraints_report(invitation=inv, categories=["cancer"])


def test_every_entry_matches_its_schema(inv):
    org = f.organisation(activities=1)
    f.stand(inv.market, org)
    cs.client_confirm(invitation=inv)
    cs.client_slot_change(invitation=inv, slot_id=inv.market.slots.last().pk)
    cs.client_wishes_save(invitation=inv, activity_ids=[org.activities.get().pk], tags=["groen"])
    cs.client_wishes_save(invitation=inv, activity_ids=[], tags=["dieren"])
    cs.client_volunteering_report(invitation=inv, organisation_name="Buurthuis", hours_per_week="3")
    cs.client_constraints_report(invitation=inv, categories=["debt"])
    cs.client_cancel(invitation=inv, category="appointment")
    rows = list(FeedEntry.objects.filter(market_id=inv.market_id).order_by("seq"))
    got = [r.kind for r in rows]

    assert got.count("invitation.updated") == 3
    assert got.count("lead.created") == 2
    assert got.count("statement.created") == 2
    for r in rows:
        KINDS[r.kind].model_validate(r.data)
        for forbidden in ("client_number", "address", "phone", "email"):
            assert forbidden not in r.data


def test_nothing_changes_after_the_market(district):
    m = f.market(district, state="closed", starts_in_hours=-30, hours=4)
    client = f.client(district)
    inv = Invitation.objects.create(client=client, market=m, token="y" * 30, code="ZZZZZZZZ")
    for call in (lambda: cs.client_confirm(invitation=inv),
                 lambda: cs.client_constraints_report(invitation=inv, categories=["care"]),
                 lambda: cs.client_volunteering_report(invitation=inv, organisation_name="X", hours_per_week="2")):
        with pytest.raises(Conflict) as exc:
            call()
        assert exc.value.code == "market_passed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="real row locks need PostgreSQL")
def test_last_place_in_a_slot_goes_to_one_client_only():
    district = f.district()
    m = future_market(district, capacities=(10, 1))
    big, small = m.slots.order_by("starts_at")
    invs = []
    for _ in range(6):
        inv = f.invitation(m)
        inv.slot = big
        inv.save()
        invs.append(inv)
    barrier = threading.Barrier(len(invs))
    outcomes = []

    def move(inv):
        try:
            barrier.wait(timeout=10)
            cs.client_slot_change(invitation=inv, slot_id=small.pk)
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=(inv,)) for inv in invs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert outcomes.count("ok") == 1
    assert outcomes.count("slot_full") == len(invs) - 1
    assert Invitation.objects.filter(slot=small).count() == 1


def test_deadline_uses_the_setting(district, settings):
    settings.VM_CANCEL_DEADLINE_HOURS = 48
    m = future_market(district, starts_in_hours=72)
    assert cs.cancel_deadline(m) == m.starts_at - dt.timedelta(hours=48)
    assert cs.can_cancel(f.invitation(m), now=timezone.now())


def test_volunteering_statement_feeds_the_consultants_formalise_path(inv, consultant):
    from events.lead_services import agreement_formalise

    inv.client.district.consultants.add(consultant)
    statement, _ = cs.client_volunteering_report(invitation=inv, organisation_name="Stadstuin Noord",
                                                 hours_per_week="6")
    assert statement.handled is False
    agreement = agreement_formalise(client_id=inv.client_id, user=consultant,
                                    organisation_name=statement.organisation_name,
                                    hours_per_week=statement.hours_per_week, start_date=timezone.localdate(),
                                    end_date=timezone.localdate() + dt.timedelta(days=180),
                                    market=inv.market_id)
    assert agreement.formalised and agreement.organisation.name == "Stadstuin Noord"
    statement.refresh_from_db()
    assert statement.handled is True
