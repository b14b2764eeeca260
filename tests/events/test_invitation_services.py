import datetime as dt

import pytest

from backend.errors import Conflict, Invalid, NotFound
from backend.models import FeedEntry
from events import services
from events.models import Invitation, Market
from tests import factories as f


def test_issue_bulk_one_per_client_and_repeat_is_noop(market):
    clients = [f.client(market.district) for _ in range(3)]
    created = services.invitation_issue_bulk(market=market, clients=clients)
    assert len(created) == 3
    assert {i.round for i in created} == {1}
    assert len({i.token for i in created}) == 3 and all(len(i.code) == 8 for i in created)
    assert services.invitation_issue_bulk(market=market, clients=clients) == []
    more = services.invitation_issue_bulk(market=market, clients=clients + [f.client(market.district)])
    assert len(more) == 1
    assert Invitation.objects.filter(market=market).count() == 4


def test_issue_bulk_refuses_closed_market(district):
    closed = f.market(district, state="closed")
    with pytest.raises(Conflict) as exc:
        services.invitation_issue_bulk(market=closed, clients=[f.client(district)])
    assert exc.value.code == "market_closed"
    assert not Invitation.objects.exists()


def test_issue_bulk_refuses_other_district_and_unknown_clients_writing_nothing(market, other_district):
    mine, theirs = f.client(market.district), f.client(other_district)
    with pytest.raises(Invalid) as exc:
        services.invitation_issue_bulk(market=market, clients=[mine, theirs])
    assert exc.value.code == "client_wrong_district" and exc.value.extra["clients"] == [theirs.pk]
    with pytest.raises(NotFound) as exc:
        services.invitation_issue_bulk(market=market, clients=[mine.pk, 999999])
    assert exc.value.code == "client_not_found"
    assert not Invitation.objects.exists()


def test_issue_bulk_slot_of_other_market_is_refused(district):
    a, b = f.market(district, state="planned"), f.market(district, state="planned")
    slot = services.timeslot_create(market=b, starts_at=b.starts_at, ends_at=b.ends_at)
    with pytest.raises(Invalid) as exc:
        services.invitation_issue_bulk(market=a, clients=[f.client(district)], slot=slot)
    assert exc.value.code == "slot_wrong_market"


def test_open_close_marks_issued_as_no_show_only(district):
    market = f.market(district, state="planned")
    invs = [f.invitation(market) for _ in range(4)]
    Invitation.objects.filter(pk=invs[0].pk).update(state=Invitation.State.CHECKED_IN)
    Invitation.objects.filter(pk=invs[1].pk).update(state=Invitation.State.EXCUSED)
    market = services.market_open(market=market)
    assert market.state == Market.State.OPEN and market.opened_at
    market, no_shows = services.market_close(market=market)
    assert (market.state, no_shows) == (Market.State.CLOSED, 2)
    states = dict(Invitation.objects.filter(market=market).values_list("pk", "state"))
    assert [states[i.pk] for i in invs] == ["checked_in", "excused", "no_show", "no_show"]
    assert services.market_close(market=market) == (market, 0)  # repeat: nothing changes
    kinds = list(FeedEntry.objects.filter(market_id=market.pk).order_by("seq").values_list("kind", flat=True))
    assert kinds[-2:] == ["market.opened", "market.closed"]
    with pytest.raises(Conflict):
        services.market_open(market=market)


def _later(district, hours=24 * 14, state="planned"):
    return f.market(district, state=state, starts_in_hours=hours)


def test_follow_up_rounds_and_repeat_is_noop(district):
    first = f.market(district, state="open")
    came, missed, excused = (f.invitation(first) for _ in range(3))
    Invitation.objects.filter(pk=came.pk).update(state=Invitation.State.CHECKED_IN)
    Invitation.objects.filter(pk=excused.pk).update(state=Invitation.State.EXCUSED)
    services.market_close(market=first)
    second = _later(district)
    created = services.invitation_follow_up(market=first, later=second)
    assert [(i.client_id, i.round, i.previous_id) for i in created] == [(missed.client_id, 2, missed.pk)]
    assert services.invitation_follow_up(market=first, later=second) == []  # repeat: no-op

    # Missed again: round 3 at a third market, linked to round 2.
    services.market_open(market=second)
    services.market_close(market=second)
    third = _later(district, hours=24 * 28)
    again = services.invitation_follow_up(market=second, later=third)
    assert [(i.round, i.previous_id) for i in again] == [(3, created[0].pk)]
    assert Invitation.objects.get(pk=created[0].pk).follow_up.pk == again[0].pk


def test_follow_up_errors(district, other_district):
    first = f.market(district, state="open")
    f.invitation(first)
    later = _later(district)
    with pytest.raises(Conflict) as exc:
        services.invitation_follow_up(market=first, later=later)
    assert exc.value.code == "market_not_closed"
    services.market_close(market=first)
    cases = [
        (first, "follow_up_same_market"),
        (_later(other_district), "follow_up_other_district"),
        (_later(district, state="closed"), "market_closed"),
        (f.market(district, state="planned", starts_in_hours=-48), "follow_up_not_later"),
    ]
    for target, code in cases:
        with pytest.raises((Invalid, Conflict)) as exc:
            services.invitation_follow_up(market=first, later=target)
        assert exc.value.code == code
    assert Invitation.objects.filter(round__gt=1).count() == 0


def test_follow_up_skips_client_already_invited_to_later_market(district):
    first = f.market(district, state="open")
    inv = f.invitation(first)
    services.market_close(market=first)
    later = _later(district)
    f.invitation(later, inv.client)
    assert services.invitation_follow_up(market=first, later=later) == []
    assert Invitation.objects.filter(market=later).count() == 1


def test_market_create_with_slots_is_all_or_nothing(district):
    start = f.market(district).starts_at + dt.timedelta(days=7)
    with pytest.raises(Invalid):
        services.market_create_with_slots(
            district=district, name="X", venue="V", address="A", starts_at=start,
            ends_at=start + dt.timedelta(hours=2),
            slots=[(start, start + dt.timedelta(hours=1), 10),
                   (start, start + dt.timedelta(hours=5), 10)])
    assert not Market.objects.filter(name="X").exists()


def test_revoke_only_open_invitations_with_feed_entry_and_audit(market):
    from backend.models import AuditEvent
    from checkin.services import ScanRequest, checkin_redeem

    issued, other_issued, checked_in, excused = (f.invitation(market) for _ in range(4))
    Invitation.objects.filter(pk=checked_in.pk).update(state=Invitation.State.CHECKED_IN)
    Invitation.objects.filter(pk=excused.pk).update(state=Invitation.State.EXCUSED)
    head = FeedEntry.objects.filter(market_id=market.pk).count()

    revoked, skipped = services.invitation_revoke(
        invitation_ids=[issued.pk, checked_in.pk, excused.pk, issued.pk, 999999])
    assert [i.pk for i in revoked] == [issued.pk] and skipped == 3  # duplicates count once
    states = dict(Invitation.objects.values_list("pk", "state"))
    assert states[issued.pk] == "revoked" and states[other_issued.pk] == "issued"
    assert states[checked_in.pk] == "checked_in" and states[excused.pk] == "excused"  # history stays

    entries = list(FeedEntry.objects.filter(market_id=market.pk).order_by("seq")[head:])
    assert [(e.kind, e.data["invitation_id"], e.data["state"]) for e in entries] == [
        ("invitation.updated", issued.pk, "revoked")]
    assert AuditEvent.objects.filter(action="revoke", object_type="invitation", object_id=str(issued.pk)).exists()

    # Again: nothing left to revoke, nothing written.
    assert services.invitation_revoke(invitation_ids=[issued.pk]) == ([], 1)
    assert FeedEntry.objects.filter(market_id=market.pk).count() == head + 1

    # The door answers `revoked` from now on.
    answer = checkin_redeem(market=market, request=ScanRequest(market_id=market.pk, nonce="n-revoked",
                                                               token=issued.token))
    assert answer["reason"] == "revoked"
