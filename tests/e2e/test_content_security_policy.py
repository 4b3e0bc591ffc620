"""The browser refuses code injected into our pages: the Content-Security-Policy is on for every page."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in
from tests.factories import PASSWORD, UserFactory, make_project
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def manager():
    user = UserFactory(username="maria", is_staff=True)
    make_project(owner=user, name="Cats", labels=[{"name": "cat", "hotkey": "1", "color": "#ff0000"}])
    return user


def test_injected_inline_script_does_not_run(page, live_server, manager, csp_violations):
    log_in(page, live_server, "maria", PASSWORD)
    expect(page.get_by_test_id("current-user")).to_have_text("maria")
    ran = page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.append(script);
            return window.injected === true;
        }"""
    )
    assert ran is False
    # The violation is reported asynchronously, through Playwright's events: they arrive while the page waits.
    wait_until(lambda: csp_violations.seen, 2, "the violation report", 0.02, lambda s: page.wait_for_timeout(s * 1000))
    assert any("script-src" in message for message in csp_violations.seen)
    csp_violations.expected = True  # provoked on purpose


def test_label_colours_and_progress_bars_are_drawn_without_inline_styles(page, live_server, manager):
    log_in(page, live_server, "maria", PASSWORD)
    expect(page.get_by_test_id("project-row")).to_have_count(1)
    width = page.locator(".bar span").first.evaluate("node => node.style.width")
    assert width == "0%"
