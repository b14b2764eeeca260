"""checkin_redeem: every status and reason, replay, nonce reuse, scanned_at, rate limit, queries."""

import datetime as dt

import pytest
from django.utils import timezone

from backend import ratelimit
from backend.errors import Invalid, RateLimited
from backend.models import FeedEntry
from checkin.models import Scan
from checkin.services import NonceReused, ScannedAtInFuture, ScanRequest, checkin_redeem
from events.models import Invitation
from tests import factories as f
from tests.checkin.conftest import checkins, nonce


def scan(market, user=None, **kw):
    kw.setdefault("nonce", nonce())
    return checkin_redeem(market=market, request=ScanRequest(market_id=market.pk, **kw), user=user, ip="10.0.0.1")


pytestmark = pytest.mark.django_db


def test_ok_checks_in_and_appends_feed_entry(market, invitation, host):
    answer = scan(market, host, token=invitation.token)
    assert answer["status"] == "ok" and answer["reason"] is None and answer["replayed"] is False
    assert answer["client"] == {"display_name": "Ayşe K.", "language": "tr"}
    assert answer["checked_in_at"]
    assert "\u2068Ayşe K.\u2069" in answer["message"]  # isolated: keeps its order in an Arabic sentence
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.CHECKED_IN and invitation.checked_in_by == host
    entry = FeedEntry.objects.get(market_id=market.pk, kind="checkin.created")
    assert entry.data["invitation_id"] == invitation.pk and entry.data["method"] == "qr"
    assert entry.data["display_name"] == "Ayşe K."
    stored = Scan.objects.get()
    assert (stored.status, stored.reason, stored.method, stored.user, stored.invitation) == (
        "ok", None, "qr", host, invitation)
    assert stored.response == answer


def test_full_qr_url_and_code_forms_are_accepted(market, host, settings):
    a, b, c = (f.invitation(market) for _ in range(3))
    assert scan(market, host, token=f"{settings.PUBLIC_BASE_URL}/i/{a.token}")["status"] == "ok"
    assert scan(market, host, code=b.formatted_code)["status"] == "ok"
    # typed with ambiguous letters: O for 0, I/L for 1, lower case, spaces
    typed = c.code.replace("0", "O").replace("1", "I").lower()
    answer = scan(market, host, code=f" {typed[:4]} {typed[4:]} ")
    assert answer["status"] == "ok" and answer["method"] == "code"


def test_already_checked_in_carries_first_time(market, invitation, host):
    first = scan(market, host, token=invitation.token)
    second = scan(market, host, code=invitation.code)
    assert second["status"] == "error" and second["reason"] == "already_checked_in"
    assert second["checked_in_at"] == first["checked_in_at"]
    assert second["client"]["display_name"] == "Ayşe K."
    assert checkins(market) == 1 and Scan.objects.count() == 2


@pytest.mark.parametrize("token", ["", "   ", "garbage", "x" * 30, "http://evil.example/i/" + "A" * 24,
                                   "javascript:alert(1)"])
def test_unknown_tokens(market, host, token):
    answer = scan(market, host, token=token)
    assert (answer["status"], answer["reason"], answer["client"]) == ("error", "unknown", None)
    assert Scan.objects.get().reason == "unknown"


def test_qr_url_under_a_base_path_or_another_host_scans(market, host, settings):
    """The server's own QR URLs scan when PUBLIC_BASE_URL has a path; the token decides, not
    the host (a letter printed under an older base URL still works)."""
    from events.codes import invitation_url

    settings.PUBLIC_BASE_URL = "https://gemeente.example.nl/markt"
    a, b = f.invitation(market), f.invitation(market)
    assert invitation_url(a.token) == f"https://gemeente.example.nl/markt/i/{a.token}"
    assert scan(market, host, token=invitation_url(a.token))["status"] == "ok"
    assert scan(market, host, token=f"http://localhost:8000/i/{b.token}")["status"] == "ok"


def test_url_without_i_path_is_unknown_even_with_a_real_token(market, invitation, host):
    answer = scan(market, host, token=f"https://example.nl/letters/{invitation.token}")
    assert answer["reason"] == "unknown"
    invitation.refresh_from_db()
    assert invitation.state == "issued"


def test_unknown_code(market, host):
    assert scan(market, host, code="ZZZZ-ZZZZ")["reason"] == "unknown"
    assert scan(market, host, code="not a code")["reason"] == "unknown"


def test_revoked(market, invitation, host):
    Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.State.REVOKED)
    answer = scan(market, host, token=invitation.token)
    assert answer["reason"] == "revoked" and answer["client"]["display_name"] == "Ayşe K."
    assert checkins(market) == 0


def test_excused(market, invitation, host):
    Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.State.EXCUSED)
    answer = scan(market, host, token=invitation.token)
    assert answer["reason"] == "excused" and answer["status"] == "error"
    assert checkins(market) == 0


def test_wrong_market_says_which_market_not_who_else(market, host, district):
    other = f.market(district, state="open", starts_in_hours=48, name="Markt Zuidplein")
    elsewhere = f.invitation(other)
    f.invitation(other, f.client(district, given="Geheim", family="Persoon"))
    answer = scan(market, host, token=elsewhere.token)
    assert answer["reason"] == "wrong_market"
    assert answer["market"]["id"] == other.pk and answer["market"]["venue"] == other.venue
    assert other.venue in answer["message"]
    assert "Geheim" not in str(answer)
    elsewhere.refresh_from_db()
    assert elsewhere.state == "issued"
    assert Scan.objects.get().market == market


@pytest.mark.parametrize("state", ["planned", "closed"])
def test_not_open(district, host, state):
    m = f.market(district, state="planned")
    inv = f.invitation(m)
    if state == "closed":
        from events.services import market_close, market_open
        market_open(market=m)
        market_close(market=m)
        m.refresh_from_db()
    answer = scan(m, host, token=inv.token)
    assert answer["reason"] == "not_open"
    assert ("nog niet open" if state == "planned" else "gesloten") in answer["message"]
    assert checkins(m) == 0


def test_same_nonce_replays_first_answer_and_writes_nothing(market, invitation, host):
    n = nonce()
    first = scan(market, host, token=invitation.token, nonce=n)
    again = scan(market, host, token=invitation.token, nonce=n)
    assert again == {**first, "replayed": True}
    assert again["status"] == "ok"  # the first answer, not already_checked_in
    assert Scan.objects.count() == 1 and checkins(market) == 1


def test_replayed_unknown_does_not_count_again(market, host):
    n = nonce()
    for _ in range(5):
        scan(market, host, code="ZZZZ-ZZZZ", nonce=n)
    assert Scan.objects.count() == 1


def test_nonce_reused_with_another_token_is_refused(market, host):
    a, b = f.invitation(market), f.invitation(market)
    n = nonce()
    scan(market, host, token=a.token, nonce=n)
    with pytest.raises(NonceReused):
        scan(market, host, token=b.token, nonce=n)
    with pytest.raises(NonceReused):
        scan(market, host, code=a.code, nonce=n)
    b.refresh_from_db()
    assert b.state == "issued" and Scan.objects.count() == 1


def test_a_queued_scan_resent_by_the_next_user_is_a_replay(market, invitation, host, coordinator):
    """Shift change on one phone: the offline queue (per market, not per user) re-sends a scan
    the server already holds under the next user's session. §7: the same nonce returns the
    first answer; the stored scan keeps the user who made it."""
    n = nonce()
    first = scan(market, host, token=invitation.token, nonce=n)
    again = scan(market, coordinator, token=invitation.token, nonce=n)
    assert again == {**first, "replayed": True}
    assert Scan.objects.get().user == host and checkins(market) == 1


def test_nonce_reused_for_another_market_is_refused(market, invitation, host, district):
    other = f.market(district, state="open")
    n = nonce()
    scan(market, host, token=invitation.token, nonce=n)
    with pytest.raises(NonceReused):
        scan(other, host, token=invitation.token, nonce=n)


def test_scanned_at_is_the_check_in_time_for_offline_scans(market, invitation, host):
    when = timezone.now() - dt.timedelta(minutes=20)
    answer = scan(market, host, token=invitation.token, scanned_at=when)
    invitation.refresh_from_db()
    assert invitation.checked_in_at == when
    assert Scan.objects.get().scanned_at == when
    assert answer["checked_in_at"] == when.isoformat()


def test_scanned_at_in_the_future_is_refused(market, invitation, host):
    with pytest.raises(ScannedAtInFuture):
        scan(market, host, token=invitation.token, scanned_at=timezone.now() + dt.timedelta(minutes=30))
    invitation.refresh_from_db()
    assert invitation.state == "issued" and Scan.objects.count() == 0
    # a little clock skew is fine
    assert scan(market, host, token=invitation.token,
                scanned_at=timezone.now() + dt.timedelta(minutes=2))["status"] == "ok"


def test_both_or_neither_token_and_code_is_invalid(market, host):
    with pytest.raises(Invalid):
        scan(market, host)
    with pytest.raises(Invalid):
        scan(market, host, token="a", code="b")


def test_unknown_codes_are_rate_limited_valid_scans_are_not(market, host):
    allowed, _window = ratelimit.LIMITS["code"]
    invitations = [f.invitation(market) for _ in range(3)]
    for _ in range(allowed):
        assert scan(market, host, code="ZZZZ-ZZZZ")["reason"] == "unknown"
    with pytest.raises(RateLimited) as info:
        scan(market, host, code=invitations[0].code)
    assert info.value.retry_after >= 1


def test_one_hosts_unknown_codes_do_not_stop_another_host_on_the_same_network(market, host):
    """The hosts of a venue share its IP (`scan` sends 10.0.0.1 for all): failures count per user."""
    allowed, _window = ratelimit.LIMITS["code"]
    other = f.user(None, "host")
    inv = f.invitation(market)
    for _ in range(allowed):
        scan(market, host, code="ZZZZ-ZZZZ")
    with pytest.raises(RateLimited):
        scan(market, host, code="ZZZZ-ZZZZ")
    assert scan(market, other, code=inv.code)["status"] == "ok"


def test_valid_and_repeat_scans_never_count(market, host):
    allowed, _window = ratelimit.LIMITS["code"]
    inv = f.invitation(market)
    for _ in range(allowed + 5):
        scan(market, host, code=inv.code)  # ok once, then already_checked_in
    assert scan(market, host, code="ZZZZ-ZZZZ")["reason"] == "unknown"


def test_redeem_query_count(market, host, django_assert_num_queries):
    inv = f.invitation(market)
    # In a test the outer transaction is a SAVEPOINT pair (feed_append adds none).
    # invitation (locked, joined with client), conditional update, feed head
    # `UPDATE … RETURNING`, feed entry insert, scan insert = 5 real statements; no replay
    # lookup first (a replayed nonce is found by the unique scan insert).
    with django_assert_num_queries(7):
        scan(market, host, token=inv.token)
    with django_assert_num_queries(4):  # a repeat: invitation, scan insert
        scan(market, host, token=inv.token)
