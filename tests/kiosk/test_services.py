import datetime as dt

import pytest
from django.utils import timezone

from backend.errors import Invalid, NotFound, RateLimited
from backend.models import FeedEntry
from events.models import Activity, Invitation, Lead
from kiosk import services
from kiosk.models import Device, InterestRequest, PairingCode
from tests import factories as f
from tests.kiosk.conftest import check_in, new_nonce


def interest(**kw):
    kw.setdefault("token", None)
    kw.setdefault("code", None)
    kw.setdefault("note", "")
    kw.setdefault("warmth", "warm")
    kw.setdefault("nonce", new_nonce())
    return services.InterestIn(**kw)


# ---- pairing --------------------------------------------------------------------------------

def test_pairing_code_is_short_hashed_and_expires(stand, coordinator):
    code, row = services.pairing_code_create(stand=stand, created_by=coordinator)
    assert len(code) == 9 and code[4] == "-"
    assert code.replace("-", "") not in row.code_hash  # only the hash is stored
    assert row.code_hash == services.secret_hash(code.replace("-", ""))
    assert dt.timedelta(minutes=9) < row.expires_at - timezone.now() <= dt.timedelta(minutes=10)


def test_pair_ok_stores_only_a_hash_of_a_long_token(stand, coordinator):
    code, row = services.pairing_code_create(stand=stand, created_by=coordinator)
    token, device = services.device_pair(code=code.lower().replace("-", " "), ip="1.2.3.4", label=" Tafel 3 ")
    assert len(token) >= 40  # 256 bits, url-safe
    assert device.stand == stand and device.label == "Tafel 3"
    assert device.token_hash == services.secret_hash(token)
    assert not Device.objects.filter(token_hash=token).exists()
    row.refresh_from_db()
    assert row.used_at is not None and row.device == device
    assert services.device_for_token(token) == device


def test_pair_wrong_code(stand):
    with pytest.raises(NotFound) as exc:
        services.device_pair(code="ZZZZ-ZZZZ", ip="1.2.3.4")
    assert exc.value.code == "pairing_code_unknown"
    with pytest.raises(NotFound):
        services.device_pair(code="not a code at all", ip="1.2.3.4")
    assert not Device.objects.exists()


def test_pair_expired_code(stand):
    code, row = services.pairing_code_create(stand=stand)
    PairingCode.objects.filter(pk=row.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(Invalid) as exc:
        services.device_pair(code=code, ip="1.2.3.4")
    assert exc.value.code == "pairing_code_expired"
    assert not Device.objects.exists()


def test_pair_code_is_single_use(stand):
    code, _row = services.pairing_code_create(stand=stand)
    services.device_pair(code=code, ip="1.2.3.4")
    with pytest.raises(Invalid) as exc:
        services.device_pair(code=code, ip="1.2.3.4")
    assert exc.value.code == "pairing_code_used"
    assert Device.objects.count() == 1


def test_pair_failures_are_rate_limited_per_ip(stand):
    code, _row = services.pairing_code_create(stand=stand)
    for _ in range(10):
        with pytest.raises(NotFound):
            services.device_pair(code="ZZZZ-ZZZZ", ip="6.6.6.6")
    with pytest.raises(RateLimited) as exc:  # even the right code is refused now, from this IP
        services.device_pair(code=code, ip="6.6.6.6")
    assert exc.value.retry_after >= 1
    token, _device = services.device_pair(code=code, ip="7.7.7.7")  # another IP is not affected
    assert token


def test_pairing_code_refused_for_a_closed_market(district):
    closed = f.market(district, state="closed")
    with pytest.raises(Invalid) as exc:
        services.pairing_code_create(stand=f.stand(closed))
    assert exc.value.code == "market_closed"


# ---- revocation -----------------------------------------------------------------------------

def test_revoked_device_token_no_longer_authenticates(paired, coordinator):
    token, device = paired
    services.device_revoke(device=device, revoked_by=coordinator)
    assert services.device_for_token(token) is None
    first = Device.objects.get(pk=device.pk).revoked_at
    services.device_revoke(device=device)  # idempotent: keeps the first revocation
    assert Device.objects.get(pk=device.pk).revoked_at == first
    assert services.device_for_token("unknown-token") is None
    assert services.device_for_token("") is None


# ---- interests ------------------------------------------------------------------------------

def test_interest_ok_creates_a_lead_with_feed_entry(device, visitor, activity_ids, market, stand):
    head = FeedEntry.objects.filter(market_id=market.pk).count()
    result = services.interest_register(device=device, data=interest(token=visitor.token,
                                                                     activities=activity_ids[:2], warmth="hot",
                                                                     note="Wil graag koken."))
    assert result["status"] == "ok" and result["reason"] is None and result["replayed"] is False
    assert result["client"] == {"display_name": "Ayşe K.", "language": "tr"}
    assert result["lead"]["created"] is True
    assert sorted(a["id"] for a in result["lead"]["activities"]) == sorted(activity_ids[:2])
    lead = Lead.objects.get()
    assert (lead.source, lead.stand, lead.organisation, lead.warmth, lead.note) == (
        "kiosk", stand, stand.organisation, "hot", "Wil graag koken.")
    entries = list(FeedEntry.objects.filter(market_id=market.pk).order_by("seq"))
    assert len(entries) == head + 1
    assert entries[-1].kind == "lead.created" and entries[-1].data["id"] == lead.pk


def test_same_client_same_stand_updates_the_one_lead(device, visitor, activity_ids, market):
    services.interest_register(device=device, data=interest(token=visitor.token, activities=[activity_ids[0]]))
    second = services.interest_register(device=device, data=interest(code=visitor.formatted_code,
                                                                     activities=[activity_ids[1]],
                                                                     warmth="cold"))
    assert second["status"] == "ok" and second["lead"]["created"] is False
    lead = Lead.objects.get()
    assert lead.warmth == "cold"
    assert sorted(lead.activities.values_list("pk", flat=True)) == sorted(activity_ids[:2])
    kinds = list(FeedEntry.objects.filter(market_id=market.pk, kind__startswith="lead.")
                 .order_by("seq").values_list("kind", flat=True))
    assert kinds == ["lead.created", "lead.updated"]


def test_full_qr_url_and_typed_code_are_accepted(device, visitor, activity_ids, settings):
    url = f"{settings.PUBLIC_BASE_URL}/i/{visitor.token}"
    assert services.interest_register(device=device, data=interest(token=url, activities=activity_ids[:1]))[
        "status"] == "ok"
    typed = visitor.code.lower()[:4] + " " + visitor.code.lower()[4:]
    assert services.interest_register(device=device, data=interest(code=typed, activities=activity_ids[:1]))[
        "status"] == "ok"


@pytest.mark.parametrize("state", ["issued", "excused", "no_show"])
def test_not_checked_in(device, market, activity_ids, state):
    inv = f.invitation(market)
    Invitation.objects.filter(pk=inv.pk).update(state=state)
    result = services.interest_register(device=device, data=interest(token=inv.token, activities=activity_ids[:1]))
    assert (result["status"], result["reason"], result["lead"], result["client"]) == (
        "error", "not_checked_in", None, None)
    assert not Lead.objects.exists()


def test_unknown_token_and_code(device, activity_ids):
    for data in (interest(token="A" * 24, activities=activity_ids[:1]),
                 interest(token="https://evil.example/i/" + "A" * 24, activities=activity_ids[:1]),
                 interest(code="ZZZZ-ZZZZ", activities=activity_ids[:1]),
                 interest(code="??", activities=activity_ids[:1])):
        result = services.interest_register(device=device, data=data)
        assert (result["status"], result["reason"], result["client"]) == ("error", "unknown", None)
    assert not Lead.objects.exists()


def test_revoked_invitation(device, market, activity_ids):
    inv = check_in(f.invitation(market))
    Invitation.objects.filter(pk=inv.pk).update(state=Invitation.State.REVOKED)
    result = services.interest_register(device=device, data=interest(token=inv.token, activities=activity_ids[:1]))
    assert result["reason"] == "revoked" and result["client"] is None
    assert not Lead.objects.exists()


def test_token_of_another_market(device, district, activity_ids):
    other = f.market(district, name="Andere markt")
    inv = check_in(f.invitation(other))
    result = services.interest_register(device=device, data=interest(token=inv.token, activities=activity_ids[:1]))
    assert (result["status"], result["reason"], result["client"]) == ("error", "wrong_market", None)
    assert not Lead.objects.exists()


def test_activity_of_another_organisation(device, visitor, activity_ids):
    foreign = f.organisation("Andere club").activities.first()
    result = services.interest_register(device=device, data=interest(token=visitor.token,
                                                                     activities=[activity_ids[0], foreign.pk]))
    assert (result["status"], result["reason"]) == ("error", "activity_not_at_stand")
    assert result["lead"] is None
    missing = services.interest_register(device=device, data=interest(token=visitor.token, activities=[999999]))
    assert missing["reason"] == "activity_not_at_stand"
    assert not Lead.objects.exists()


def test_empty_activity_list_is_invalid(device, visitor):
    with pytest.raises(Invalid) as exc:
        services.interest_register(device=device, data=interest(token=visitor.token, activities=[]))
    assert exc.value.status == 422 and exc.value.code == "no_activities"
    assert not InterestRequest.objects.exists()


def test_note_limit_and_markup_kept_as_text(device, visitor, activity_ids):
    with pytest.raises(Invalid) as exc:
        services.interest_register(device=device, data=interest(token=visitor.token, activities=activity_ids[:1],
                                                                note="x" * 1001))
    assert exc.value.code == "note_too_long"
    assert not Lead.objects.exists()
    markup = '<script>alert("x")</script> <b>vet</b> & "quotes"'
    result = services.interest_register(device=device, data=interest(token=visitor.token,
                                                                     activities=activity_ids[:1], note=markup))
    assert result["lead"]["note"] == markup
    assert Lead.objects.get().note == markup
    ok = services.interest_register(device=device, data=interest(token=visitor.token, activities=activity_ids[:1],
                                                                 note="y" * 1000))
    assert ok["status"] == "ok"


def test_replayed_nonce_returns_the_first_answer_and_writes_nothing(device, visitor, activity_ids, market):
    data = interest(token=visitor.token, activities=activity_ids[:1], nonce="n-1")
    first = services.interest_register(device=device, data=data)
    counts = (Lead.objects.count(), FeedEntry.objects.filter(market_id=market.pk).count(),
              InterestRequest.objects.count())
    again = services.interest_register(device=device, data=data)
    assert again == {**first, "replayed": True}
    assert (Lead.objects.count(), FeedEntry.objects.filter(market_id=market.pk).count(),
            InterestRequest.objects.count()) == counts
    with pytest.raises(Invalid) as exc:  # the same nonce for something else is a client bug (422)
        services.interest_register(device=device, data=interest(token=visitor.token, activities=activity_ids[1:2],
                                                                nonce="n-1"))
    assert exc.value.code == "nonce_reused"


def test_replay_of_an_error_outcome(device, activity_ids):
    data = interest(code="ZZZZ-ZZZZ", activities=activity_ids[:1], nonce="n-2")
    first = services.interest_register(device=device, data=data)
    assert services.interest_register(device=device, data=data) == {**first, "replayed": True}


def test_nonces_are_per_device(stand, visitor, activity_ids):
    devices = []
    for _ in range(2):
        code, _row = services.pairing_code_create(stand=stand)
        devices.append(services.device_pair(code=code, ip="1.1.1.1")[1])
    a = services.interest_register(device=devices[0], data=interest(token=visitor.token,
                                                                    activities=activity_ids[:1], nonce="same"))
    b = services.interest_register(device=devices[1], data=interest(code="ZZZZ-ZZZZ", activities=activity_ids[:1],
                                                                    nonce="same"))
    assert a["status"] == "ok" and b["reason"] == "unknown" and not b["replayed"]


def test_unknown_codes_are_rate_limited_per_device(device, visitor, activity_ids):
    for _ in range(30):
        services.interest_register(device=device, data=interest(code="ZZZZ-ZZZZ", activities=activity_ids[:1]))
    with pytest.raises(RateLimited):
        services.interest_register(device=device, data=interest(token=visitor.token, activities=activity_ids[:1]))


def test_token_and_code_together_or_neither_is_invalid(device, visitor, activity_ids):
    for data in (interest(activities=activity_ids[:1]),
                 interest(token=visitor.token, code=visitor.code, activities=activity_ids[:1])):
        with pytest.raises(Invalid):
            services.interest_register(device=device, data=data)


def test_inactive_activity_is_not_at_stand(device, organisation, visitor):
    from kiosk.selectors import stand_activities_with_use

    first = organisation.activities.order_by("pk").first()
    Activity.objects.filter(pk=first.pk).update(active=False)
    listed = stand_activities_with_use(stand=device.stand)
    assert first.pk not in [a.pk for a in listed] and len(listed) == 2
    result = services.interest_register(device=device, data=interest(token=visitor.token, activities=[first.pk]))
    assert result["reason"] == "activity_not_at_stand"
