"""backend.daphne_tuning: Twisted's unused per-request work is switched off under daphne.

That form posts still reach Django intact through a real daphne is covered by the browser
tests (the client page posts its forms through tests/browser's daphne)."""

from __future__ import annotations

import pytest
from daphne import http_protocol
from twisted.web import http

import backend.asgi  # noqa: F401  (applies the tuning, as daphne loading the app does)
from backend import daphne_tuning


class Stop(Exception):
    pass


def test_daphne_requests_do_not_parse_form_bodies(monkeypatch):
    daphne_tuning.apply()  # idempotent
    seen = {}

    def request_init(self, *args, **kwargs):
        seen.update(kwargs)
        raise Stop  # the rest of WebRequest.__init__ needs a live server

    monkeypatch.setattr(http.Request, "__init__", request_init)
    with pytest.raises(Stop):
        http_protocol.WebRequest(object())
    assert seen == {"parsePOSTFormSubmission": False}


def test_twisted_writes_no_access_log_line_per_request():
    daphne_tuning.apply()

    class Request:
        def __getattr__(self, name):  # the log formatter would read the request
            raise AssertionError(f"read {name}")

    assert http_protocol.HTTPFactory.log(object(), Request()) is None
