"""The API tokens page: create a token (its key shown once), use it, revoke it."""

import pytest
from playwright.sync_api import expect
from rest_framework.test import APIClient

from core.models import ApiToken
from core.services import api_token_digest
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def me_with(key: str) -> int:
    return APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code


def test_user_creates_a_token_sees_its_key_once_and_revokes_it(page, live_server, browser_errors):
    user = UserFactory(username="ali")
    UserFactory(username="other")
    log_in(page, live_server, "ali", PASSWORD)
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_test_id("no-tokens")).to_be_visible()

    page.get_by_label("Name").fill("nightly export")
    page.get_by_label("Name").press("Enter")
    key_field = page.get_by_test_id("token-key")
    expect(key_field).to_be_focused()
    key = key_field.input_value()
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.digest) == (user, "nightly export", api_token_digest(key))
    assert me_with(key) == 200
    row = page.get_by_test_id("token-row")
    expect(row).to_contain_text("nightly export")
    expect(row).to_contain_text(token.prefix)
    expect(row).to_contain_text("active")

    page.reload()  # shown once: a reload (GET) does not show the key again
    expect(page.get_by_test_id("token-key")).to_have_count(0)
    assert key not in page.content()

    page.get_by_role("button", name="Revoke nightly export").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    expect(page.get_by_test_id("token-row")).to_contain_text("revoked")
    assert ApiToken.objects.get().revoked_at is not None
    assert me_with(key) == 401


def test_a_token_needs_a_name(page, live_server, browser_errors):
    browser_errors.allow("400")
    UserFactory(username="ali")
    log_in(page, live_server, "ali", PASSWORD)
    page.goto(f"{live_server.url}/tokens/")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("alert")).to_contain_text("required")
    assert not ApiToken.objects.exists()
