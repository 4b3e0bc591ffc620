import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; ORM calls in the test body would
# raise SynchronousOnlyOperation without this (tests only).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": CHROMIUM_ARGS,
    }


def log_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": VIEWPORT, "accept_downloads": True}


class BrowserErrors:
    """Console errors and uncaught exceptions of a page; `allow(text)` for errors a test provokes on purpose."""

    def __init__(self, page):
        self.seen: list[str] = []
        self.allowed: list[str] = []
        page.on("console", lambda message: self.seen.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.seen.append(f"uncaught: {error}"))

    def allow(self, text: str) -> None:
        self.allowed.append(text)

    def unexpected(self) -> list[str]:
        return [error for error in self.seen if not any(text in error for text in self.allowed)]


@pytest.fixture
def browser_errors(page):
    """Fails the test when the page logs a console error or throws, unless the test allowed that error."""
    errors = BrowserErrors(page)
    yield errors
    assert errors.unexpected() == [], "browser console errors"


CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`);
});
"""


class CspViolations:
    """Content-Security-Policy violations seen on a page (reported by the browser, or by our listener)."""

    def __init__(self, page):
        self.seen: list[str] = []
        self.expected = False
        page.add_init_script(CSP_REPORTER)
        page.on("console", self._record)

    def _record(self, message) -> None:
        if "CSP violation" in message.text or "Content Security Policy" in message.text:
            self.seen.append(message.text)


@pytest.fixture(autouse=True)
def csp_violations(request):
    """Every browser test fails on a Content-Security-Policy violation (inline code or a foreign resource that
    the policy refused): pages must run with the policy on. A test that provokes one sets `expected`."""
    if "page" not in request.fixturenames:
        yield None
        return
    violations = CspViolations(request.getfixturevalue("page"))
    yield violations
    if not violations.expected:
        assert violations.seen == [], "Content-Security-Policy violations"


def save_screenshot(page, name: str, **options) -> None:
    """Write `name` (a PNG) into $LOUPE_SCREENSHOT_DIR, which only `make screenshots` sets: a normal test run
    never rewrites the tracked pictures in docs/screenshots/."""
    folder = os.environ.get("LOUPE_SCREENSHOT_DIR", "")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(folder) / name), **options)
