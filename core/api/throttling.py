"""The API's rate limits, read from settings at each request (so tests and deployments can change them).

Counted per window in the shared cache, one round trip a request: the current window's counter goes up by one
and the previous window's is read, and the rate is estimated as the previous count weighted by the share of it
still inside the sliding window, plus the current count (the "sliding window counter"); refused requests are
not counted. That holds a client to its rate across window edges, which plain fixed windows would let it
double, without storing every request's time as a log of requests does (a get and a set of a list of up to
`rate` times, each request).
"""

import math
import time

from rest_framework import throttling
from rest_framework.settings import api_settings

from core.cache import window_counts, window_uncount


class _SlidingWindowCounter(throttling.SimpleRateThrottle):
    """DRF's throttle interface (`get_cache_key` says whom to count), counted as the module says."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        now = time.time()
        window, elapsed = divmod(now, self.duration)
        key = f"{ident}:{int(window)}"
        previous, current = window_counts(f"{ident}:{int(window) - 1}", key, timeout=2 * self.duration + 1)
        carried = previous * (1 - elapsed / self.duration)
        if carried + current <= self.num_requests:
            return True
        window_uncount(key)  # a refused request does not count, so waiting as told is enough
        left = self.duration - elapsed
        if current > self.num_requests or previous == 0:
            self._wait = left  # only the next window can let it in
        else:  # until the previous window's share has shrunk enough
            self._wait = min(left, self.duration * (1 - (self.num_requests - current) / previous) - elapsed)
        return False

    def wait(self) -> float:
        return max(1, math.ceil(self._wait))


class UserRateThrottle(_SlidingWindowCounter, throttling.UserRateThrottle):
    """Per user: a token's requests count as its user's."""


class AnonRateThrottle(_SlidingWindowCounter, throttling.AnonRateThrottle):
    """Per client address, for requests without a user."""
