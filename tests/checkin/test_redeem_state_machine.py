"""A property test (hypothesis stateful) of the redeem state machine (DESIGN.md §6, §7).

Random sequences of scans (by token or typed code), replays, unknown codes, scans at the wrong
market, excuses, revocations and closing the market are run against checkin_redeem and a
simple model. Invariants after every step: an invitation is checked in at most once, the
database agrees with the model, every scan is stored once (replays write nothing) and each
check-in has exactly one `checkin.created` feed entry.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from backend.auth import HOST
from backend.models import FeedEntry
from checkin.models import Scan
from checkin.services import ScanRequest, checkin_redeem
from events import services
from events.models import Invitation
from tests import factories as f

N = 4


class RedeemMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        district = f.district()
        self.market = f.market(district, state="open")
        self.other = f.market(district, state="open")
        self.host = f.user(None, HOST)
        self.invitations = [f.invitation(self.market) for _ in range(N)]
        self.foreign = f.invitation(self.other)
        self.state = {inv.pk: "issued" for inv in self.invitations}
        self.closed = False
        self.answers: dict[str, tuple[ScanRequest, dict]] = {}
        self.stored = 0

    def _redeem(self, request: ScanRequest) -> dict:
        return checkin_redeem(market=self.market, request=request, user=self.host)

    @rule(i=st.integers(0, N - 1), by_code=st.booleans())
    def scan(self, i, by_code):
        inv = self.invitations[i]
        nonce = uuid.uuid4().hex
        request = (ScanRequest(market_id=self.market.pk, nonce=nonce, code=inv.formatted_code.lower()) if by_code
                   else ScanRequest(market_id=self.market.pk, nonce=nonce, token=inv.token))
        answer = self._redeem(request)
        state = self.state[inv.pk]
        # The order of checks (docs/checkin.md): revoked, market not open (or no-show), excused,
        # already checked in.
        if state == "revoked":
            expected = "revoked"
        elif self.closed or state == "no_show":
            expected = "not_open"
        else:
            expected = {"excused": "excused", "checked_in": "already_checked_in"}.get(state)
        assert answer["reason"] == expected, (state, answer)
        assert answer["replayed"] is False
        if expected is None:
            assert answer["status"] == "ok"
            self.state[inv.pk] = "checked_in"
        else:
            assert answer["status"] == "error"
        self.answers[nonce] = (request, answer)
        self.stored += 1

    @rule(data=st.data())
    def replay(self, data):
        if not self.answers:
            return
        nonce = data.draw(st.sampled_from(sorted(self.answers)))
        request, first = self.answers[nonce]
        again = self._redeem(request)
        assert again == {**first, "replayed": True}

    @rule()
    def unknown_code(self):
        answer = self._redeem(ScanRequest(market_id=self.market.pk, nonce=uuid.uuid4().hex, code="ZZZZ-ZZZZ"))
        assert answer["reason"] == "unknown" and answer["client"] is None
        self.stored += 1

    @rule()
    def wrong_market(self):
        answer = self._redeem(ScanRequest(market_id=self.market.pk, nonce=uuid.uuid4().hex, token=self.foreign.token))
        assert answer["reason"] == "wrong_market"
        self.stored += 1

    @rule(i=st.integers(0, N - 1), to=st.sampled_from(["excused", "revoked"]))
    def change(self, i, to):
        inv = self.invitations[i]
        if self.state[inv.pk] != "issued" or self.closed:
            return
        Invitation.objects.filter(pk=inv.pk).update(state=to)
        self.state[inv.pk] = to

    @rule()
    def close(self):
        if self.closed:
            return
        services.market_close(market=self.market)
        self.market.refresh_from_db()
        self.closed = True
        for pk, state in self.state.items():
            if state == "issued":
                self.state[pk] = "no_show"

    @invariant()
    def database_agrees(self):
        db = dict(Invitation.objects.filter(market=self.market).values_list("pk", "state"))
        assert db == self.state
        assert Scan.objects.filter(market=self.market).count() == self.stored
        checked_in = sum(1 for s in self.state.values() if s == "checked_in")
        assert FeedEntry.objects.filter(market_id=self.market.pk, kind="checkin.created").count() == checked_in


@pytest.mark.django_db
def test_redeem_state_machine():
    run_state_machine_as_test(RedeemMachine, settings=settings(
        max_examples=12, stateful_step_count=20, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))
