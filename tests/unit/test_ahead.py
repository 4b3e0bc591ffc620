"""core.ahead: values made by a thread one step ahead arrive in order, errors cross over, and a caller that
stops early stops the thread."""

import threading
import time

import pytest

from core.ahead import read_ahead


def test_values_arrive_in_order_and_the_thread_ends():
    assert list(read_ahead(lambda: iter(range(100)), depth=2, name="ahead-test")) == list(range(100))
    assert not [t for t in threading.enumerate() if t.name == "ahead-test"]


def test_an_error_of_the_producer_is_raised_to_the_caller_after_the_values_before_it():
    def produce():
        yield 1
        raise ValueError("bad row")

    values = read_ahead(produce)
    assert next(values) == 1
    with pytest.raises(ValueError, match="bad row"):
        next(values)


def test_a_caller_that_stops_early_stops_the_producer_and_closes_it_in_its_own_thread():
    made, closed_in = [], []

    def produce():
        try:
            for n in range(1_000):
                made.append(n)
                yield n
        finally:
            closed_in.append(threading.current_thread().name)

    values = read_ahead(produce, depth=1, name="ahead-stop")
    assert next(values) == 0
    time.sleep(0.05)
    values.close()
    assert closed_in == ["ahead-stop"]
    assert len(made) <= 4  # one taken, one waiting, one handed over while the caller stops, one made: not more
