"""The Redis cache shares one pool and one client per process (backend/redis_cache.py).

Django builds a cache object per context and every request runs in a fresh one, so with the
stock RedisCache each request opened a new Redis connection. Redis always runs on the
development machines and in CI (.ci/run starts it), so there is no skip.
"""

from __future__ import annotations

import contextvars
import os
import threading
import uuid

from django.core.cache import CacheHandler

from backend import ratelimit
from backend.errors import RateLimited
from backend.redis_cache import SharedRedisCache

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def own_url() -> str:
    """A location no other cache of this process uses (so its pool starts empty)."""
    return f"{REDIS_URL}?client_name=vm_test_{uuid.uuid4().hex[:12]}"


def settings_for(prefix: str) -> dict:
    return {"default": {"BACKEND": "backend.redis_cache.SharedRedisCache", "LOCATION": own_url(),
                        "KEY_PREFIX": prefix}}


def test_cache_objects_of_fresh_contexts_share_one_client_and_connection():
    prefix = f"vm_test_cache_{uuid.uuid4().hex}"
    caches = CacheHandler(settings_for(prefix))

    def one_request(i: int):  # as a request would: its own context, its own cache object
        cache = caches["default"]
        cache.set(f"k{i}", i, 30)
        return cache, cache.get(f"k{i}")

    results = [contextvars.copy_context().run(one_request, i) for i in range(50)]
    objects = {id(cache) for cache, _ in results}
    assert len(objects) == 50  # Django really made a cache object per context …
    assert [value for _, value in results] == list(range(50))
    clients = {id(cache._cache.get_client()) for cache, _ in results}
    assert len(clients) == 1  # … and they all talk through one client
    pool = results[0][0]._cache.get_client().connection_pool
    assert pool._created_connections == 1  # one TCP connection for 50 requests, one at a time
    results[0][0].delete_many([f"k{i}" for i in range(50)])


def test_threads_share_the_pool_and_each_gets_its_own_connection():
    cache = SharedRedisCache(own_url(), {"KEY_PREFIX": f"vm_test_cache_{uuid.uuid4().hex}"})
    errors = []
    barrier = threading.Barrier(4)

    def worker(n: int):
        try:
            barrier.wait(5)
            for i in range(50):
                cache.set(f"t{n}:{i}", (n, i), 30)
                assert cache.get(f"t{n}:{i}") == (n, i)
        except Exception as exc:  # noqa: BLE001 - collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert cache._cache.get_client().connection_pool._created_connections <= 4


def test_other_locations_get_their_own_client():
    a = SharedRedisCache(REDIS_URL, {})
    b = SharedRedisCache(REDIS_URL.rsplit("/", 1)[0] + "/14", {})
    assert a._cache.get_client() is not b._cache.get_client()


def test_rate_limit_checks_every_ident_in_one_call(settings):
    """`check(name, *idents)`: any ident that used up its failures refuses the attempt."""
    allowed = ratelimit.LIMITS["code"][0]
    for _ in range(allowed):
        ratelimit.record_failure("code", "ip:10.0.0.9")
    ratelimit.check("code", "user:1")  # the user alone is fine
    ratelimit.check("code")  # nobody to count: nothing to check (and no empty MGET)
    try:
        ratelimit.check("code", "user:1", "ip:10.0.0.9")
    except RateLimited as exc:
        assert exc.extra["retry_after"] >= 1
    else:
        raise AssertionError("the IP's limit was not applied")
