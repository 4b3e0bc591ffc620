"""Failed sign-ins and tokens throttled per account and per address; the API's rate limit; the page policy."""

import uuid

import pytest
from django.test import Client
from rest_framework.throttling import SimpleRateThrottle

from core.services import api_token_create
from tests.factories import PASSWORD, UserFactory, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


def sign_in(path: str, username: str, password: str, address: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302


@pytest.fixture
def limits(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 5
    return settings


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_right_password_is_refused_after_too_many_failures_for_the_account(limits, path):
    UserFactory(username="alice", is_staff=True)
    for _ in range(3):
        assert not signed_in(sign_in(path, "alice", "wrong"))
    response = sign_in(path, "alice", PASSWORD, address="10.0.0.2")  # another address: the account counts
    assert not signed_in(response)
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "Try again in 15 minutes" in response.content.decode()


def test_account_lockout_counts_names_case_insensitively(limits):
    UserFactory(username="alice")
    for name in ("alice", "ALICE", "Alice"):
        sign_in("/login/", name, "wrong")
    assert not signed_in(sign_in("/login/", "alice", PASSWORD))


def test_right_password_before_the_limit_signs_in_and_clears_the_count(limits):
    UserFactory(username="alice")
    for _ in range(2):
        sign_in("/login/", "alice", "wrong")
    assert signed_in(sign_in("/login/", "alice", PASSWORD))
    for _ in range(2):
        sign_in("/login/", "alice", "wrong")
    assert signed_in(sign_in("/login/", "alice", PASSWORD))


def test_one_address_guessing_many_accounts_is_refused(limits):
    UserFactory(username="zoe")
    for n in range(5):
        sign_in("/login/", f"someone{n}", "wrong", address="10.9.9.9")
    assert not signed_in(sign_in("/login/", "zoe", PASSWORD, address="10.9.9.9"))
    assert signed_in(sign_in("/login/", "zoe", PASSWORD, address="10.0.0.7"))


def test_lockout_ends_when_the_window_has_passed(limits, monkeypatch):
    import time as real_time

    UserFactory(username="alice")
    for _ in range(3):
        sign_in("/login/", "alice", "wrong")
    later = real_time.time() + limits.LOGIN_LOCKOUT_S + 1
    monkeypatch.setattr("core.throttling.time.time", lambda: later)
    assert signed_in(sign_in("/login/", "alice", PASSWORD))


def test_bad_api_tokens_from_one_address_are_throttled_with_retry_after(limits):
    user = UserFactory()
    _, key = api_token_create(user=user, name="good")
    client = Client(REMOTE_ADDR="10.1.1.1")
    for n in range(5):
        assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer wrong-{n}").status_code == 401
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed" in response.json()["detail"]
    other = Client(REMOTE_ADDR="10.1.1.2").get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert other.status_code == 200


def test_api_rate_limit_answers_429_with_retry_after_per_user(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/min"},
    }
    busy, calm = UserFactory(), UserFactory()
    for _ in range(3):
        assert client_for(busy).get("/api/v1/me/").status_code == 200
    response = client_for(busy).get("/api/v1/me/")
    assert response.status_code == 429
    # Up to two windows: a full minute's count still weighs on the first part of the next one.
    assert 0 < int(response["Retry-After"]) <= 120
    assert client_for(calm).get("/api/v1/me/").status_code == 200


@pytest.fixture
def redis_cache(settings):
    """The shared cache on the real Redis, in a key space of this test's own."""
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.FailOpenRedisCache",
            "LOCATION": "redis://127.0.0.1:6379/13",
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    return settings


@pytest.fixture(params=["file", "redis"])
def either_cache(request, settings):
    """The settings, with the shared cache in files (no Redis configured) or on the real Redis."""
    return request.getfixturevalue("redis_cache") if request.param == "redis" else settings


def user_rate(settings, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": rate},
    }


def test_api_rate_limit_counts_in_redis_with_retry_after(redis_cache):
    user_rate(redis_cache, "3/min")
    busy, calm = UserFactory(), UserFactory()
    assert [client_for(busy).get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert 0 < int(client_for(busy).get("/api/v1/me/")["Retry-After"]) <= 120  # up to two windows
    assert client_for(calm).get("/api/v1/me/").status_code == 200


def test_api_rate_limit_holds_across_the_edge_of_a_counting_window(either_cache, monkeypatch):
    user_rate(either_cache, "3/min")
    user = UserFactory()
    clock = [60 * 1_000_000 + 59.5]  # half a second before a minute's counter ends
    monkeypatch.setattr("core.api.throttling.time.time", lambda: clock[0])
    assert [client_for(user).get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    clock[0] += 1  # the next minute's counter: the last minute's requests still count, nearly in full
    refused = client_for(user).get("/api/v1/me/")
    assert refused.status_code == 429
    wait_s = int(refused["Retry-After"])
    assert 0 < wait_s <= 60
    clock[0] += wait_s  # as long as it was told to wait
    assert client_for(user).get("/api/v1/me/").status_code == 200


def test_a_client_that_filled_its_window_and_waits_as_told_gets_in(either_cache, monkeypatch):
    user_rate(either_cache, "3/min")
    user = UserFactory()
    clock = [60 * 1_000_000 + 1.0]  # a second into a minute's counter, nothing counted before
    monkeypatch.setattr("core.api.throttling.time.time", lambda: clock[0])
    assert [client_for(user).get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]
    wait_s = int(client_for(user).get("/api/v1/me/")["Retry-After"])
    assert 60 < wait_s <= 120  # into the next minute, until this one's three have shrunk to two
    clock[0] += wait_s - 2
    assert client_for(user).get("/api/v1/me/").status_code == 429  # not yet
    clock[0] += 2
    assert client_for(user).get("/api/v1/me/").status_code == 200


def test_counts_outlive_the_caches_default_timeout(monkeypatch):
    """Without Redis the counters are files, whose default timeout (5 minutes) must not end an hour's count."""
    from core.cache import window_counts

    clock = [3600 * 1_000_000 + 1.0]
    monkeypatch.setattr("time.time", lambda: clock[0])  # the cache's expiry reads the same clock
    key = f"test:{uuid.uuid4().hex}"
    assert [window_counts(f"{key}:0", f"{key}:1", timeout=7201)[1] for _ in range(3)] == [1, 2, 3]
    clock[0] += 6 * 60
    assert window_counts(f"{key}:0", f"{key}:1", timeout=7201) == (0, 4)


def test_anonymous_requests_are_limited_per_address(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "1/min"},
    }
    client = Client(REMOTE_ADDR="10.2.2.2")
    assert [client.get("/api/schema/").status_code for _ in range(2)] == [200, 429]
    assert Client(REMOTE_ADDR="10.2.2.3").get("/api/schema/").status_code == 200


def test_health_probes_are_never_rate_limited(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "1/min"},
    }
    client = Client(REMOTE_ADDR="10.3.3.3")
    assert all(client.get("/api/v1/health/").status_code != 429 for _ in range(3))


def test_default_rates_leave_room_for_an_annotator_at_work(settings):
    """An annotator sends about 2 requests a second at most; the default limit is ten times that."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]  # on by default
    requests, seconds = SimpleRateThrottle.parse_rate(None, rates["user"])
    assert requests / seconds >= 20


def test_an_annotators_burst_is_not_throttled_by_default():
    user = UserFactory()
    statuses = {client_for(user).get("/api/v1/me/").status_code for _ in range(60)}
    assert statuses == {200}


@pytest.mark.parametrize("path", ["/login/", "/", "/admin/login/", "/projects/{project}/label/"])
def test_every_html_page_carries_a_strict_content_security_policy(path):
    manager = UserFactory(username="manager", is_staff=True)
    project = make_project(owner=manager)
    client = Client()
    if "login" not in path:
        client.force_login(manager)
    response = client.get(path.format(project=project.id))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


def test_html_pages_have_no_inline_script_or_style():
    manager = UserFactory(username="manager", is_staff=True)
    project = make_project(owner=manager)
    client = Client()
    client.force_login(manager)
    for path in ("/", f"/projects/{project.id}/label/", f"/projects/{project.id}/review/", "/tokens/"):
        html = client.get(path).content.decode()
        assert " style=" not in html, path
        assert "<script>" not in html, path
        assert " onclick=" not in html, path
