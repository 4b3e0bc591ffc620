"""Failed sign-ins, counted per account and per client address in the shared cache (so every web process sees
them): past settings.LOGIN_FAILURES_PER_ACCOUNT or LOGIN_FAILURES_PER_ADDRESS failures within
LOGIN_LOCKOUT_S, sign-in is refused, right password or not, until that window has passed. Failed API tokens
count against the address too."""

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle


def client_address(request) -> str:
    """The client's address as the API's throttles see it (X-Forwarded-For only behind our own proxy)."""
    return BaseThrottle().get_ident(request) or "unknown"


def _account_key(username: str) -> str:
    return "signin-failures:account:" + hashlib.sha256(username.strip().casefold().encode()).hexdigest()


def _address_key(address: str) -> str:
    return "signin-failures:address:" + hashlib.sha256(address.encode()).hexdigest()


# Every API request checks its address. An address with no failure counted is remembered as such by the process
# for a second (a failure it records forgets it), which spares a cache read on nearly every request; a failure
# counted by another process, or by another thread between this one's read and its note, is seen within that
# second. Each new failure forgets the address again, so the extra tries this allows are few, and API keys are far
# too long to guess anyway.
CLEAN_ADDRESS_MEMO_S = 1.0
_clean_addresses: dict[str, float] = {}  # address -> until when it is known to have no failure counted


def sign_in_wait_s(*, username: str | None, address: str) -> int:
    """Seconds until this account and address may try to sign in again; 0 when they may now."""
    now = time.time()
    if not username and _clean_addresses.get(address, 0.0) > now:
        return 0
    limits = [(_address_key(address), settings.LOGIN_FAILURES_PER_ADDRESS)]
    if username:
        limits.append((_account_key(username), settings.LOGIN_FAILURES_PER_ACCOUNT))
    counts = [(cache.get(key), limit) for key, limit in limits]
    if not username and counts[0][0] is None:
        if len(_clean_addresses) > 10_000:
            _clean_addresses.clear()
        _clean_addresses[address] = now + CLEAN_ADDRESS_MEMO_S
    waits = [
        window_end - now
        for count_and_end, limit in counts
        if count_and_end is not None
        for count, window_end in [count_and_end]
        if count >= limit and window_end > now
    ]
    return math.ceil(max(waits)) if waits else 0


def sign_in_refusal_message(
    wait_s: int, *, what: str = "sign-in attempts", source: str = "this account or address"
) -> str:
    minutes = max(1, math.ceil(wait_s / 60))
    return f"Too many failed {what} from {source}. Try again in {minutes} minute{'s' * (minutes > 1)}."


def sign_in_failure_record(*, username: str | None, address: str) -> None:
    # get-then-set is not atomic: two failures at the same instant may count as one, which only makes the
    # limit a little looser, never refuses anyone early.
    _clean_addresses.pop(address, None)
    keys = [_address_key(address)] + ([_account_key(username)] if username else [])
    now = time.time()
    for key in keys:
        count, window_end = cache.get(key) or (0, now + settings.LOGIN_LOCKOUT_S)
        if window_end <= now:
            count, window_end = 0, now + settings.LOGIN_LOCKOUT_S
        cache.set(key, (count + 1, window_end), timeout=math.ceil(window_end - now) + 1)


def sign_in_success_record(*, username: str) -> None:
    """A right password clears the account's count (not the address's: one good account must not reset an
    address that is guessing at others)."""
    cache.delete(_account_key(username))
