"""Django's SQLite backend, with one queue for the write transactions of this process.

SQLite lets one writer at a time hold the database (`BEGIN IMMEDIATE`, settings.py). A second
thread that asks while the lock is taken does not queue: SQLite's busy handler makes it sleep
1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms … and try again, so under load a waiting
check-in often sleeps well past the moment the lock came free. In the redeem benchmark py-spy
showed the request threads spending most of a transaction in `BEGIN IMMEDIATE`.

Here the threads of one process queue on a `threading.Lock` before `BEGIN IMMEDIATE` and get
the database the moment the previous writer commits or rolls back. Other processes (a
management command next to the server) still meet SQLite's own busy handler. The wait is
bounded by the same `timeout` option as SQLite's; past it the transaction fails with
"database is locked", as it would without this queue. In-memory databases (the test suite's)
are left as Django makes them.
"""

from __future__ import annotations

import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base

_WRITERS = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_writer_lock = False

    def _start_transaction_under_autocommit(self):
        if self.transaction_mode != "IMMEDIATE" or self.is_in_memory_db():
            return super()._start_transaction_under_autocommit()
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        if not _WRITERS.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for this process's other writers)")
        self._holds_writer_lock = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _release_writer_lock(self) -> None:
        if self._holds_writer_lock:
            self._holds_writer_lock = False
            _WRITERS.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer_lock()
