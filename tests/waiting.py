"""One way for tests to wait on work done by other processes."""

import time
from collections.abc import Callable

import pytest


def wait_until(
    condition,
    timeout: float,
    what: str = "the condition",
    interval: float = 0.1,
    sleep: Callable[[float], None] = time.sleep,
):
    """Poll `condition()` until it returns something truthy, and return that; fail the test after `timeout` s.

    `sleep`: how to pass the time between polls; a browser test passes `lambda s: page.wait_for_timeout(s * 1000)`
    so that Playwright goes on delivering the page's events meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        sleep(interval)
