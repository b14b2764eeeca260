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
    window = LIMITS[name][1]
    bucket = int(time.time() // window)
    # Idents come from user input (usernames, IPs): hash them into a safe, bounded cache key.
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{NAMESPACE}:{name}:{digest}:{bucket}"


def check(name: str, ident: str) -> None:
    allowed, window = LIMITS[name]
    try:
        count = cache.get(_key(name, ident), 0)
    except Exception:  # noqa: BLE001 — cache (Redis) down: fail open, the door keeps working
        log.warning("rate-limit cache unavailable; %s not checked", name)
        return
    if count >= allowed:
        retry = window - int(time.time() % window)
        raise RateLimited(max(retry, 1))


def record_failure(name: str, ident: str) -> None:
    key = _key(name, ident)
    window = LIMITS[name][1]
    try:
        if not cache.add(key, 1, timeout=window):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, timeout=window)
    except Exception:  # noqa: BLE001 — see check()
        log.warning("rate-limit cache unavailable; %s failure not counted", name)


@contextlib.contextmanager
def login_guard(request, username: str):
    """Brute-force protection: failures are counted per IP and per username."""
    idents = [f"ip:{client_ip(request)}", f"user:{username.lower()[:150]}"]
    for ident in idents:
        check("login", ident)
    try:
        yield
    except Unauthenticated:
        for ident in idents:
            record_failure("login", ident)
        raise
