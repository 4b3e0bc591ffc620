import os

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
