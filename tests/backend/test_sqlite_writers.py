"""backend.sqlite: the threads of one process queue for SQLite's write lock (a file database,
as `make run` and the benchmarks use; the test suite's own database is in memory)."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler

from backend import settings as project_settings


@pytest.fixture(autouse=True)
def _own_database(django_db_blocker):
    with django_db_blocker.unblock():  # our own file database, not the test database
        yield


def file_db(tmp_path, **options):
    config = project_settings._sqlite(str(tmp_path / "writers.sqlite3"))
    config["OPTIONS"].update(options)
    return ConnectionHandler({"default": config})


def begin(conn):
    conn.ensure_connection()  # what transaction.atomic() does first
    conn._start_transaction_under_autocommit()


def in_write_transaction(conn, work):
    begin(conn)
    try:
        work()
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def test_threads_queue_for_the_write_lock_and_every_write_lands(tmp_path):
    handler = file_db(tmp_path)
    setup = handler["default"]
    with setup.cursor() as c:
        c.execute("CREATE TABLE counter (n INTEGER)")
        c.execute("INSERT INTO counter VALUES (0)")
    errors = []

    def writer():
        conn = handler["default"]  # one connection per thread
        try:
            for _ in range(25):
                def bump():
                    with conn.cursor() as c:  # read-modify-write: only safe if writers never overlap
                        c.execute("SELECT n FROM counter")
                        n = c.fetchone()[0]
                        c.execute("UPDATE counter SET n = %s", [n + 1])
                in_write_transaction(conn, bump)
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with setup.cursor() as c:
        c.execute("SELECT n FROM counter")
        assert c.fetchone()[0] == 200
    setup.close()


def test_a_rollback_hands_the_lock_on_and_a_wait_is_bounded(tmp_path):
    handler = file_db(tmp_path, timeout=0.3)
    holder = handler["default"]
    with holder.cursor() as c:
        c.execute("CREATE TABLE t (x INTEGER)")

    def boom():
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        in_write_transaction(holder, boom)
    outcome = {}

    def other():
        conn = handler["default"]
        try:
            in_write_transaction(conn, lambda: conn.cursor().execute("INSERT INTO t VALUES (1)"))
            outcome["after rollback"] = "ok"
            holder_started.wait(5)
            try:
                begin(conn)
            except OperationalError as exc:
                outcome["while held"] = str(exc)
        finally:
            conn.close()

    holder_started = threading.Event()
    t = threading.Thread(target=other)
    t.start()
    while "after rollback" not in outcome and t.is_alive():
        t.join(0.05)
    begin(holder)  # now this thread holds the lock …
    holder_started.set()
    t.join(10)
    holder.rollback()
    holder.close()
    assert outcome["after rollback"] == "ok"
    # … and the other gave up after the timeout, in the process's queue (not SQLite's busy handler)
    assert "waited for this process's other writers" in outcome["while held"]
