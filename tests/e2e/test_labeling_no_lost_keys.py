"""Nothing typed on the labeling page is lost: keys pressed while the next item loads land on the items that come
next (or are refused with a message), skipped items come back on request, and undo works after a reload."""

import pytest
from playwright.sync_api import expect

from annotation.models import Item, Skip
from tests.e2e.conftest import log_in
from tests.e2e.test_labeling_page import answers
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_project

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def annotator():
    return UserFactory(username="ali")


@pytest.fixture
def wine(annotator):
    """A single-label table of 8 records, labels red (key 1) and white (key 2)."""
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(owner=manager, name="Wine", data_kind="tabular", labels=[{"name": "red"}, {"name": "white"}])
    project.columns = [{"name": "alcohol", "type": "numeric"}]
    project.save(update_fields=["columns"])
    add_member(project, annotator, Role.ANNOTATOR)
    Item.objects.bulk_create(
        Item(project=project, external_id=f"wine-{n:02d}", data={"alcohol": 12 + n / 10}, content_hash=f"w{n}")
        for n in range(8)
    )
    return project


class Gate:
    """Holds the page's requests to one API path until `release()`: a server that answers slowly."""

    def __init__(self, page, pattern: str):
        self.closed = False
        self.waiting = []
        page.route(pattern, self._arrive)

    def _arrive(self, route):
        if self.closed:
            self.waiting.append(route)
        else:
            route.continue_()

    def close(self) -> None:
        self.closed = True

    def release(self) -> None:
        self.closed = False
        for route in self.waiting:
            route.continue_()
        self.waiting.clear()


def open_labeling(page, live_server, project):
    log_in(page, live_server, "ali", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/label/")
    return page.get_by_test_id("item-name")


def test_keys_pressed_while_the_next_item_loads_land_on_the_items_that_come(
    page, live_server, wine, annotator, browser_errors
):
    name = open_labeling(page, live_server, wine)
    expect(name).to_have_text("wine-00")
    sync = page.get_by_test_id("sync-status")
    slow_queue = Gate(page, "**/queue/next/**")
    slow_queue.close()

    for expected in ("wine-00", "wine-01", "wine-02"):  # the item on screen and the two prefetched ones
        expect(name).to_have_text(expected)
        page.keyboard.press("1")
        page.keyboard.press("Enter")
    expect(name).to_have_text("Loading the next item…")

    page.keyboard.press("1")
    expect(sync).to_have_text("Loading the next item… 1 key held for it: 1 (Esc drops them).")
    page.keyboard.press("Escape")
    expect(sync).to_have_text("Dropped the keys typed while loading (1).")
    for key in ("2", "Enter", "1", "Enter"):
        page.keyboard.press(key)
    expect(sync).to_have_text("Loading the next item… 4 keys held for it: 2 Enter 1 Enter (Esc drops them).")
    assert slow_queue.waiting, "the next-item request is held"

    slow_queue.release()

    expect(name).to_have_text("wine-05")
    expect(sync).to_have_text("All answers saved.")
    assert answers(wine, annotator) == {
        "wine-00": ["red"],
        "wine-01": ["red"],
        "wine-02": ["red"],
        "wine-03": ["white"],
        "wine-04": ["red"],
    }


def test_keys_pressed_while_loading_are_refused_with_a_message_when_nothing_comes(
    page, live_server, wine, annotator, browser_errors
):
    Item.objects.filter(project=wine).exclude(external_id="wine-00").update(status="done")
    name = open_labeling(page, live_server, wine)
    expect(name).to_have_text("wine-00")
    slow_submit = Gate(page, "**/annotations/")
    slow_submit.close()
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(name).to_have_text("Loading the next item…")  # the answer is still on its way
    page.keyboard.press("1")
    page.keyboard.press("Enter")

    slow_submit.release()

    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    expect(page.get_by_test_id("sync-status")).to_have_text(
        "Nothing left to label here: the keys typed while loading (1 Enter) were not applied."
    )
    assert answers(wine, annotator) == {"wine-00": ["white"]}


def test_skipped_items_come_back_and_undo_works_after_a_reload(page, live_server, wine, annotator, browser_errors):
    name = open_labeling(page, live_server, wine)
    expect(name).to_have_text("wine-00")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(name).to_have_text("wine-01")
    page.keyboard.press("s")
    expect(name).to_have_text("wine-02")
    skipped = page.get_by_test_id("skipped")
    expect(skipped).to_contain_text("Skipped by you (1)")

    page.reload()

    expect(name).to_have_text("wine-02")
    page.keyboard.press("z")  # the answer given before the reload comes back
    expect(name).to_have_text("wine-00")
    expect(page.get_by_role("button", name="red (key")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(name).to_have_text("wine-02")

    skipped.locator("summary").click()
    skipped.get_by_role("button", name="Label wine-01").click()
    expect(name).to_have_text("wine-01")
    expect(skipped).to_be_hidden()  # no skips left
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(name).to_have_text("wine-02")
    expect(page.get_by_test_id("sync-status")).to_have_text("All answers saved.")

    assert answers(wine, annotator) == {"wine-00": ["white"], "wine-01": ["white"]}
    assert not Skip.objects.filter(user=annotator).exists()
