"""backend.feed.feed_append: gap-free, ordered seq per market, also under concurrent writers;
the entry and the doorbell exist only if the change commits."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.db import close_old_connections, connections, transaction

from backend import feed
from backend.models import FeedEntry, FeedHead

MARKET = 424242


def _entry(i: int = 0) -> dict:
    return {"count": 1, "total": i}


@pytest.fixture
def rings(monkeypatch):
    sent: list[tuple[int, dict]] = []
    monkeypatch.setattr(feed, "ring", lambda market_id, message: sent.append((market_id, message)))
    return sent


@pytest.mark.django_db
def test_seq_counts_up_per_market_and_rings_after_commit(rings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        a1 = feed.feed_append(market_id=MARKET, kind="invitations.issued", data=_entry(1))
        a2 = feed.feed_append(market_id=MARKET, kind="invitations.issued", data=_entry(2))
        b1 = feed.feed_append(market_id=MARKET + 1, kind="invitations.issued", data=_entry(3))
    assert (a1.seq, a2.seq, b1.seq) == (1, 2, 1)
    assert feed.feed_head(market_id=MARKET) == 2
    assert [m["seq"] for _mid, m in rings] == [1, 2, 1]
    assert rings[0] == (MARKET, {"type": "entry", "seq": 1, "kind": "invitations.issued",
                                 "at": a1.at.isoformat(), "data": {"count": 1, "total": 1}})
    assert feed.feed_entries(market_id=MARKET, since=1) == [rings[1][1]]
    assert feed.group_name(MARKET) == f"market.{MARKET}.feed"


@pytest.mark.django_db
def test_rolled_back_change_leaves_no_entry_no_seq_and_no_ring(rings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        feed.feed_append(market_id=MARKET, kind="invitations.issued", data=_entry())
        with pytest.raises(RuntimeError), transaction.atomic():
            feed.feed_append(market_id=MARKET, kind="invitations.issued", data=_entry())
            raise RuntimeError("the change failed")
        again = feed.feed_append(market_id=MARKET, kind="invitations.issued", data=_entry())
    assert again.seq == 2
    assert [m["seq"] for _mid, m in rings] == [1, 2]
    assert list(FeedEntry.objects.filter(market_id=MARKET).values_list("seq", flat=True)) == [1, 2]


@pytest.mark.django_db
def test_unknown_kind_and_invalid_data_are_refused(rings):
    with pytest.raises(ValueError):
        feed.feed_append(market_id=MARKET, kind="nope.happened", data={})
    with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
        feed.feed_append(market_id=MARKET, kind="invitations.issued", data={"count": "many"})
    assert not FeedEntry.objects.filter(market_id=MARKET).exists()
    assert feed.feed_head(market_id=MARKET) == 0


def _writers(n_threads: int, per_thread: int, market_id: int) -> list[Exception]:
    errors: list[Exception] = []
    barrier = threading.Barrier(n_threads)

    def work():
        try:
            barrier.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    feed.feed_append(market_id=market_id, kind="invitations.issued", data=_entry(i))
        except Exception as exc:  # collected and asserted in the test thread
            errors.append(exc)
        finally:
            close_old_connections()
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="threads on the in-memory SQLite test database hit "
                    "shared-cache table locks; the SQLite variant below uses a real database file")
def test_concurrent_writers_get_gap_free_unique_seqs(rings):
    errors = _writers(6, 10, MARKET)
    assert errors == []
    seqs = list(FeedEntry.objects.filter(market_id=MARKET).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 61))
    assert FeedHead.objects.get(market_id=MARKET).head == 60
    assert sorted(m["seq"] for _mid, m in rings) == list(range(1, 61))


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="a real row-lock race needs PostgreSQL (CI's PostgreSQL pass)")
def test_postgres_row_lock_makes_commit_order_equal_seq_order(rings):
    """Writer A takes seq 1 and holds its transaction open; writer B must wait on the counter row
    and gets seq 2 only after A committed — so no reader can ever see seq 2 without seq 1."""
    feed.feed_init(market_id=MARKET)
    a_appended, timeline = threading.Event(), []

    def writer_a():
        try:
            with transaction.atomic():
                entry = feed.feed_append(market_id=MARKET, kind="invitations.issued", data=_entry(1))
                timeline.append(("a_appended", entry.seq))
                a_appended.set()
                time.sleep(0.5)
                timeline.append(("a_commits", entry.seq))
        finally:
            connections.close_all()

    def writer_b():
        try:
            a_appended.wait(10)
            with transaction.atomic():
                entry = feed.feed_append(market_id=MARKET, kind="invitations.issued", data=_entry(2))
                timeline.append(("b_appended", entry.seq))
                # While B holds the lock, a reader sees exactly A's committed entry.
                seen = list(FeedEntry.objects.using("default").filter(market_id=MARKET)
                            .values_list("seq", flat=True))
                timeline.append(("b_sees", tuple(seen)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert timeline[:3] == [("a_appended", 1), ("a_commits", 1), ("b_appended", 2)]
    assert timeline[3] == ("b_sees", (1, 2))
    errors = _writers(8, 25, MARKET)
    assert errors == []
    seqs = list(FeedEntry.objects.filter(market_id=MARKET).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 203))


SQLITE_WRITERS = """
import threading
from django.db import connections, transaction
from backend import feed
from backend.models import FeedEntry
feed.ring = lambda market_id, message: None
barrier = threading.Barrier(6)
errors = []
def work():
    try:
        barrier.wait()
        for i in range(15):
            with transaction.atomic():
                feed.feed_append(market_id=7, kind="invitations.issued", data={"count": 1, "total": i})
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connections.close_all()
threads = [threading.Thread(target=work) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
seqs = list(FeedEntry.objects.filter(market_id=7).order_by("seq").values_list("seq", flat=True))
print("RESULT", errors, seqs == list(range(1, 91)), len(seqs))
"""


@pytest.mark.skipif(settings.IS_POSTGRES, reason="the PostgreSQL pass runs the in-process race tests above")
def test_concurrent_writers_on_the_embedded_sqlite_file(tmp_path):
    """The embedded default (SQLite file, WAL, IMMEDIATE transactions) with six writer threads,
    in a separate process so that it uses a real database file like `make run` does."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/feed.sqlite3", "VAR_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=120)
    out = subprocess.run([*manage, "shell", "-c", SQLITE_WRITERS], env=env, check=True, timeout=120,
                         capture_output=True, text=True).stdout
    assert "RESULT [] True 90" in out, out


@pytest.mark.django_db
def test_append_is_two_statements_in_the_callers_transaction(rings, django_assert_num_queries):
    """Pinned (issue 8): the next seq (`UPDATE … RETURNING head`, which also holds the counter
    row's lock to commit) and the entry insert; no SAVEPOINT inside a caller's transaction."""
    feed.feed_init(market_id=MARKET)
    with transaction.atomic():
        with django_assert_num_queries(2) as captured:
            entry = feed.feed_append(market_id=MARKET, kind="invitations.issued", data=_entry(1))
    sql = [q["sql"].upper() for q in captured.captured_queries]
    assert sql[0].startswith("UPDATE") and "RETURNING" in sql[0]
    assert sql[1].startswith("INSERT")
    assert entry.seq == 1


@pytest.mark.django_db
def test_append_for_a_market_without_a_head_makes_one(rings):
    """A market made before feed_init existed gets its counter on the first append."""
    assert not FeedHead.objects.filter(market_id=MARKET + 7).exists()
    entry = feed.feed_append(market_id=MARKET + 7, kind="invitations.issued", data=_entry(1))
    assert entry.seq == 1 and feed.feed_head(market_id=MARKET + 7) == 1
