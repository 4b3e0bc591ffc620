"""The shared cache (Redis in production) holds throttling counters only: failed sign-ins and API request rates.
While Redis is unreachable those are not counted, and the request goes on; refusing every request with an error
would turn a broker restart into an outage of labeling, which needs only the database."""

import contextlib
import logging
from typing import Any

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def _fail_open(method, fallback):
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except RedisError as exc:
            logger.warning("Shared cache unreachable (%s): %s not counted", exc, method.__name__)
            return fallback(*args, **kwargs)

    call.__name__ = method.__name__
    return call


def _default(key, default=None, *args, **kwargs):
    return default


class _ReusedClients(RedisCacheClient):
    """Django builds a new `redis.Redis` for every cache call, and building one (its table of reply parsers) cost
    more than the round trip. A client is safe to share: its pool hands each command a connection of its own.
    (With read replicas, each thread's cache then reads from one of them.)"""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[bool, Any] = {}

    def get_client(self, key=None, *, write=False):
        client = self._clients.get(write)
        if client is None:
            client = self._clients[write] = super().get_client(key, write=write)
        return client


class FailOpenRedisCache(RedisCache):
    """Django's Redis cache whose reads answer "nothing cached" and whose writes do nothing while Redis is down;
    its Redis clients are made once, not per call."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusedClients

    def _window_counts(self, previous_key: str, current_key: str, *, timeout: int) -> tuple[int, int]:
        current_key, previous_key = self.make_and_validate_key(current_key), self.make_and_validate_key(previous_key)
        pipe = self._cache.get_client(current_key, write=True).pipeline(transaction=False)
        pipe.incr(current_key)
        pipe.expire(current_key, timeout)
        pipe.get(previous_key)
        current, _, previous = pipe.execute()
        return int(previous or 0), int(current)

    window_counts = _fail_open(_window_counts, lambda *a, **k: (0, 0))

    get = _fail_open(RedisCache.get, _default)
    get_many = _fail_open(RedisCache.get_many, lambda keys, *a, **k: {})
    has_key = _fail_open(RedisCache.has_key, lambda *a, **k: False)
    set = _fail_open(RedisCache.set, lambda *a, **k: None)
    add = _fail_open(RedisCache.add, lambda *a, **k: False)
    set_many = _fail_open(RedisCache.set_many, lambda data, *a, **k: list(data))
    touch = _fail_open(RedisCache.touch, lambda *a, **k: False)
    delete = _fail_open(RedisCache.delete, lambda *a, **k: False)
    delete_many = _fail_open(RedisCache.delete_many, lambda *a, **k: None)
    incr = _fail_open(RedisCache.incr, lambda key, delta=1, *a, **k: delta)


def window_counts(previous_key: str, current_key: str, *, timeout: int) -> tuple[int, int]:
    """Rate counting: add one to the counter at `current_key` (kept `timeout` seconds) and read the one at
    `previous_key`; returns (previous, current). One round trip on Redis; (0, 0), counting nothing, while it is
    unreachable."""
    if hasattr(cache, "window_counts"):  # `cache` is a proxy: isinstance() would not see through it
        return cache.window_counts(previous_key, current_key, timeout=timeout)
    cache.add(current_key, 0, timeout)
    try:
        current = cache.incr(current_key)
    except ValueError:  # expired between the two calls
        cache.set(current_key, current := 1, timeout)
    cache.touch(current_key, timeout)  # incr() writes the value back with the cache's default timeout
    return cache.get(previous_key, 0), current


def window_uncount(key: str, *, timeout: int) -> None:
    """Take back one count of `window_counts` (a refused request)."""
    with contextlib.suppress(ValueError):  # the counter expired meanwhile: nothing to take back
        cache.decr(key)
        cache.touch(key, timeout)
