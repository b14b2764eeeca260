"""Rate limits on failed attempts, in the Django cache (Redis when REDIS_URL is set, so the
limit holds across processes). Successful attempts are not counted: a busy door scanning
valid invitations is never throttled.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time

from django.core.cache import cache

from backend.errors import RateLimited, Unauthenticated

LIMITS = {
    # name: (failures allowed, window in seconds)
    "login": (10, 300),
    "code": (30, 60),
    "pairing": (10, 300),
    "client_token": (30, 300),
}


log = logging.getLogger(__name__)

# Tests set a fresh namespace per test, so counters never leak between tests (or between
# parallel test runs sharing one Redis).
NAMESPACE = "rl"


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(name: str, ident: str) -> str:
    # Idents come from user input (usernames, IPs): hash them into a safe, bounded cache key.
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{NAMESPACE}:{name}:{digest}"


def check(name: str, *idents: str) -> None:
    """Raise RateLimited when any of `idents` has used up its failures (one cache round trip
    for all of them). The window starts at the first failure (not at a clock boundary), so a
    burst is never split over two windows."""
    allowed, window = LIMITS[name]
    if not idents:
        return
    keys = [_key(name, ident) for ident in idents]
    try:
        values = cache.get_many([k for key in keys for k in (key, f"{key}:since")])
    except Exception:  # noqa: BLE001 — cache (Redis) down: fail open, the door keeps working
        log.warning("rate-limit cache unavailable; %s not checked", name)
        return
    for key in keys:
        if values.get(key, 0) >= allowed:
            since = values.get(f"{key}:since", time.time())
            raise RateLimited(max(1, int(window - (time.time() - since))))


def record_failure(name: str, ident: str) -> None:
    key = _key(name, ident)
    window = LIMITS[name][1]
    try:
        if cache.add(key, 1, timeout=window):
            cache.set(f"{key}:since", time.time(), timeout=window)
        else:
            try:
                cache.incr(key)  # keeps the key's expiry: the window does not move
            except ValueError:  # expired between add() and incr()
                cache.set(key, 1, timeout=window)
                cache.set(f"{key}:since", time.time(), timeout=window)
    except Exception:  # noqa: BLE001 — see check()
        log.warning("rate-limit cache unavailable; %s failure not counted", name)


@contextlib.contextmanager
def login_guard(request, username: str):
    """Brute-force protection: failures are counted per IP and per username."""
    idents = [f"ip:{client_ip(request)}", f"user:{username.lower()[:150]}"]
    check("login", *idents)
    try:
        yield
    except Unauthenticated:
        for ident in idents:
            record_failure("login", ident)
        raise
