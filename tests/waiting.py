"""One way for tests to wait on work done by other processes."""

import time

import pytest


def wait_until(condition, timeout: float, what: str = "the condition", interval: float = 0.1):
    """Poll `condition()` until it returns something truthy, and return that; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
