"""Two pieces of per-request work Twisted does for daphne that nobody uses.

Measured with py-spy on the redeem benchmark (bench/README.md), about 8 % and 2.5 % of the
server's CPU:

* Twisted's HTTP request parses the Content-Type of every POST with the `email` package, to
  decode HTML form submissions into `request.args`. Daphne never reads `request.args` (it hands
  the raw body to the ASGI application), so we use Twisted's own switch for it,
  `Request(parsePOSTFormSubmission=False)`.
* Twisted's HTTP factory formats a combined-log line for every request and writes it to
  Twisted's legacy log, which daphne never starts. Daphne's own access log (`--access-log`) is
  written by daphne itself and stays as it is.

Applied once, by backend.asgi, when daphne is the server.
"""

from __future__ import annotations

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    try:
        from daphne import http_protocol
    except ImportError:  # another ASGI server
        return
    request_init = http_protocol.WebRequest.__init__

    def init_without_form_parsing(self, *args, **kwargs):
        kwargs["parsePOSTFormSubmission"] = False
        request_init(self, *args, **kwargs)

    http_protocol.WebRequest.__init__ = init_without_form_parsing
    http_protocol.HTTPFactory.log = lambda self, request: None
    _applied = True
