"""Django's Redis cache with one connection pool and one client per process (rate limits).

Django keeps a cache object per *context* (`django.core.cache.caches` is an asgiref Local),
and every request here runs in a fresh context (backend/asgi_pool.py), so the stock
`RedisCache` built a new client, a new connection pool and a new TCP connection to Redis for
every request that touched the cache — the rate-limit check of every scan. py-spy on the
production redeem bench put that at 32 % of a daphne process's Python time: connection set-up,
redis-py reading its own package metadata for every new connection, and a fresh `redis.Redis`
(with its table of several hundred response callbacks) for every command.

Here every cache object of the process shares one pool and one `redis.Redis` per server URL
and options. Both are thread-safe (a command checks a connection out of the pool and back in)
and redis-py's pool resets itself in a forked child.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_lock = threading.Lock()
_clients: dict[tuple, object] = {}


class SharedRedisCacheClient(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        shared = (self._servers[index], self._pool_class,
                  tuple(sorted((name, repr(value)) for name, value in self._pool_options.items())))
        client = _clients.get(shared)
        if client is None:
            with _lock:
                client = _clients.get(shared)
                if client is None:
                    pool = self._pool_class.from_url(self._servers[index], **self._pool_options)
                    client = _clients[shared] = self._client(connection_pool=pool)
        return client


class SharedRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedRedisCacheClient
