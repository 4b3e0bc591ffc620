"""The shared cache (Redis in production) holds throttling counters only: failed sign-ins and API request rates.
While Redis is unreachable those are not counted, and the request goes on; refusing every request with an error
would turn a broker restart into an outage of labeling, which needs only the database."""

import logging

from django.core.cache.backends.redis import RedisCache
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


class FailOpenRedisCache(RedisCache):
    """Django's Redis cache whose reads answer "nothing cached" and whose writes do nothing while Redis is down."""

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
