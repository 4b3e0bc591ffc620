"""The API's rate limits, read from settings at each request (so tests and deployments can change them)."""

from rest_framework import throttling
from rest_framework.settings import api_settings


class _RatesFromSettings:
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserRateThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    """Per user: a token's requests count as its user's."""


class AnonRateThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    """Per client address, for requests without a user."""
