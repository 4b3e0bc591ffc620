"""Every working screen from 360 px up: the project list, labeling and review by touch on a phone (the item above
the labels, big tap targets, no sideways scroll) and by keyboard on a desktop."""

import pytest
from playwright.sync_api import expect

from annotation.models import Annotation, Item, Label, Review
from tests.e2e.conftest import BrowserErrors, log_in
from tests.e2e.test_labeling_page import photos_project
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_annotation, make_project

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
SMALLEST = {"width": 360, "height": 640}
DESKTOP = {"width": 1280, "height": 800}
TAP_TARGET_PX = 44


@pytest.fixture
def people():
    manager = UserFactory(username="maria", is_staff=True)
    return {"manager": manager, "annotator": UserFactory(username="ali"), "reviewer": UserFactory(username="rita")}


@pytest.fixture
def photos(people):
    project = photos_project(people["manager"], people["annotator"])
    add_member(project, people["reviewer"], Role.REVIEWER)
    return project


@pytest.fixture
def wine(people):
    """A table whose three records ali answered and whose long values must wrap, not widen the page."""
    project = make_project(
        owner=people["manager"], name="Wine with a rather long project name", data_kind="tabular",
        labels=[{"name": "red"}, {"name": "white"}, {"name": "rosé or something in between"}],
    )  # fmt: skip
    project.columns = [{"name": "a_long_column_name_without_spaces_at_all", "type": "text"}]
    project.save(update_fields=["columns"])
    add_member(project, people["annotator"], Role.ANNOTATOR)
    add_member(project, people["reviewer"], Role.REVIEWER)
    red = Label.objects.get(project=project, name="red")
    for n in range(3):
        item = Item.objects.create(
            project=project, external_id=f"w{n}", data={"a_long_column_name_without_spaces_at_all": "x" * 120},
            content_hash=f"w{n}", status="done", annotation_count=1, agreement=1.0,
        )  # fmt: skip
        make_annotation(item, people["annotator"], red)
    Item.objects.create(
        project=project, external_id="w3", data={"a_long_column_name_without_spaces_at_all": "y" * 120},
        content_hash="w3",
    )  # fmt: skip
    return project


@pytest.fixture
def screen(browser, request):
    """A page in a fresh browser context of the size asked for; phones touch, desktops have a mouse."""
    size = request.param
    phone = size["width"] < 800
    context = browser.new_context(viewport=size, has_touch=phone, is_mobile=phone)
    page = context.new_page()
    errors = BrowserErrors(page)
    yield page, phone
    context.close()
    assert errors.unexpected() == [], "browser console errors"


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None
    return found


@pytest.mark.parametrize("screen", [SMALLEST, PHONE, DESKTOP], indirect=True, ids=["360", "phone", "desktop"])
def test_project_list_fits_the_screen(screen, live_server, wine, photos):
    page, phone = screen
    log_in(page, live_server, "maria", PASSWORD)  # a manager: every link, a setup menu open
    expect(page.get_by_test_id("project-list")).to_be_visible()
    page.get_by_text("Set up").first.click()  # the menu of Pets, the first project
    expect(page.get_by_role("link", name="Invite people to Pets")).to_be_visible()
    no_sideways_scroll(page)
    links = page.get_by_role("link", name="Review").all()
    assert len(links) == 2
    if phone:
        assert all(box(link)["height"] >= TAP_TARGET_PX for link in links)
        links[0].tap()
    else:
        links[0].click()
    expect(page.get_by_test_id("review")).to_be_visible()


@pytest.mark.parametrize("screen", [SMALLEST, PHONE, DESKTOP], indirect=True, ids=["360", "phone", "desktop"])
def test_image_labeling_shows_the_item_above_the_labels_and_takes_taps_or_keys(screen, live_server, photos, people):
    page, phone = screen
    log_in(page, live_server, "ali", PASSWORD)
    page.goto(f"{live_server.url}/projects/{photos.id}/label/")
    name = page.get_by_test_id("item-name")
    expect(name).to_have_text("pet-00.png")
    image = page.get_by_test_id("image-view")
    expect(page.get_by_role("img", name="Image pet-00.png")).to_be_visible()
    no_sideways_scroll(page)
    labels = page.locator(".label-btn")
    if phone:
        assert box(image)["y"] + box(image)["height"] <= box(labels.first)["y"]  # the item above the labels
        assert box(image)["height"] >= 200
        assert all(box(button)["height"] >= TAP_TARGET_PX for button in labels.all())
        assert box(page.get_by_test_id("submit"))["height"] >= TAP_TARGET_PX
        page.get_by_role("button", name="cat (key").tap()
        page.get_by_role("button", name="bird (key").tap()
        page.get_by_test_id("submit").tap()
    else:
        assert box(image)["x"] + box(image)["width"] <= box(labels.first)["x"]  # side by side on a desktop
        page.keyboard.press("c")
        page.keyboard.press("3")
        page.keyboard.press("Enter")
    expect(name).to_have_text("pet-01.png")
    no_sideways_scroll(page)
    expect(page.get_by_test_id("sync-status")).to_have_text("All answers saved.")
    answer = Annotation.objects.get(annotator=people["annotator"], item__external_id="pet-00.png")
    assert sorted(label.name for label in answer.labels.all()) == ["bird", "cat"]


@pytest.mark.parametrize("screen", [SMALLEST, PHONE, DESKTOP], indirect=True, ids=["360", "phone", "desktop"])
def test_tabular_review_and_labeling_fit_the_screen(screen, live_server, wine):
    page, phone = screen
    log_in(page, live_server, "rita", PASSWORD)
    page.goto(f"{live_server.url}/projects/{wine.id}/review/")
    name = page.get_by_test_id("item-name")
    expect(name).to_have_text("w0")
    expect(page.get_by_test_id("record")).to_contain_text("xxxx")
    no_sideways_scroll(page)
    accept = page.get_by_test_id("accept")
    if phone:
        assert box(page.get_by_test_id("record"))["y"] < box(accept)["y"]  # the item above the controls
        assert box(accept)["height"] >= TAP_TARGET_PX
        accept.tap()
    else:
        page.keyboard.press("a")
    expect(page.get_by_test_id("review-status")).to_have_text("Accepted: w0.")
    expect(name).to_have_text("w1")
    no_sideways_scroll(page)
    assert Review.objects.filter(item__external_id="w0", decision="accept").count() == 1

    page.goto(f"{live_server.url}/projects/{wine.id}/label/")
    expect(name).to_have_text("w3")
    no_sideways_scroll(page)
    white = page.get_by_role("button", name="white (key")
    if phone:
        assert box(page.get_by_test_id("record"))["y"] < box(white)["y"]
        white.tap()
        page.get_by_test_id("submit").tap()
    else:
        page.keyboard.press("2")
        page.keyboard.press("Enter")
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    assert Annotation.objects.get(item__external_id="w3").labels.get().name == "white"
