"""The API's rate limits, read from settings at each request (so tests and deployments can change them).

Counted per window in the shared cache, one round trip a request (two more for a refused one): the current
window's counter goes up by one and the previous window's is read, and the rate is estimated as the previous
count weighted by the share of it still inside the sliding window, plus the current count (the "sliding window
counter"); refused requests are not counted. That holds a client to its rate across window edges, which plain
fixed windows would let it double, without storing every request's time as a log of requests does (a get and a
set of a list of up to `rate` times, each request).
"""

import math
import time

from rest_framework import throttling
from rest_framework.settings import api_settings

from core.cache import window_counts, window_uncount


class _SlidingWindowCounter(throttling.SimpleRateThrottle):
    """DRF's throttle interface (`get_cache_key` says whom to count), counted as the module says."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        limit, duration = int(self.num_requests or 0), int(self.duration or 1)
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        window, elapsed = divmod(time.time(), duration)
        key = f"{ident}:{int(window)}"
        previous, current = window_counts(f"{ident}:{int(window) - 1}", key, timeout=2 * duration + 1)
        if previous * (1 - elapsed / duration) + current <= limit:
            return True
        window_uncount(key, timeout=2 * duration + 1)  # a refused request is not counted
        self._wait = wait_s(limit, duration, previous, current - 1, elapsed)
        return False

    def wait(self) -> float:
        return max(1, math.ceil(self._wait))


def wait_s(limit: int, duration: int, previous: int, kept: int, elapsed: float) -> float:
    """Seconds until one more request fits, with `previous` and `kept` (this window's count without the refused
    request) as they stand, `elapsed` seconds into this window: within it if the previous window's share can
    shrink enough, else into the next, where this window's count is the one that shrinks."""
    left = duration - elapsed
    if previous and kept + 1 <= limit:
        within = duration * (1 - (limit - kept - 1) / previous) - elapsed
        if within <= left:
            return within
    return left + (max(0.0, duration * (1 - (limit - 1) / kept)) if kept else 0.0)


class UserRateThrottle(_SlidingWindowCounter, throttling.UserRateThrottle):
    """Per user: a token's requests count as its user's."""


class AnonRateThrottle(_SlidingWindowCounter, throttling.AnonRateThrottle):
    """Per client address, for requests without a user."""
