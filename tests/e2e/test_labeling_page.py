"""The labeling page, driven by the keyboard only: tabular and image projects, undo, the model's suggestion,
prefetch, and a submit that survives a network blip."""

import hashlib
import io
import statistics

import pytest
from django.core.files.base import ContentFile
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from active_learning.models import StrategySetting
from annotation.models import Annotation, Item, ItemEvent, Label, Lease
from tests.e2e.conftest import log_in, save_screenshot
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_project, rank_queue
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

LONG_NOTE = "Tasting notes: " + "dark cherry, plum and a hint of cedar; " * 8


def insight(label_ids: list[int], confidence: float, explanation: str = "") -> dict:
    return {
        "ranking_run": 1,
        "model_version": 1,
        "rank": 1,
        "picked_by": "uncertainty",
        "reason": "The model hesitates between two labels here.",
        "scores": {"uncertainty": 0.62, "typicality": 0.4, "novelty": None},
        "percentiles": {"strategy": 0.99, "uncertainty": 0.97, "typicality": 0.4, "novelty": None},
        "explanation": explanation,
        "suggestion": {"label_ids": label_ids, "confidence": confidence},
    }


@pytest.fixture
def annotator():
    return UserFactory(username="ali")


@pytest.fixture
def wine(annotator):
    """A single-label table of 12 records; its labels have no hotkeys, so they get 1 and 2 by position."""
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(owner=manager, name="Wine", data_kind="tabular", labels=[{"name": "red"}, {"name": "white"}])
    project.columns = [
        {"name": "alcohol", "type": "numeric"},
        {"name": "color_intensity", "type": "numeric"},
        {"name": "region", "type": "categorical"},
        {"name": "note", "type": "text"},
    ]
    project.save(update_fields=["columns"])
    add_member(project, annotator, Role.ANNOTATOR)
    Item.objects.bulk_create(
        Item(
            project=project,
            external_id=f"wine-{n:02d}",
            data={
                "alcohol": 12.5 + n / 10,
                "color_intensity": 1234.5678 * (n + 1),
                "region": "Barolo" if n % 2 else "Rioja",
                "note": LONG_NOTE if n == 0 else None,
            },
            content_hash=f"w{n}",
        )
        for n in range(12)
    )
    labels = {label.name: label for label in Label.objects.filter(project=project)}
    return {"project": project, "labels": labels, "items": list(Item.objects.filter(project=project).order_by("id"))}


def png(n: int) -> bytes:
    """A real 240x180 PNG: a coloured background with a shape and the item's number."""
    image = Image.new("RGB", (240, 180), ((40 * n) % 256, 90, 200 - 10 * n))
    draw = ImageDraw.Draw(image)
    draw.ellipse((60, 30, 180, 150), fill=(250, 230, 80), outline=(0, 0, 0), width=4)
    draw.text((110, 80), str(n), fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def photos(annotator):
    """A multi-label image project of 12 PNGs; labels with their own hotkeys and one without (3 by position)."""
    project = photos_project(UserFactory(username="maria", is_staff=True), annotator)
    labels = {label.name: label for label in Label.objects.filter(project=project)}
    return {"project": project, "labels": labels, "items": list(Item.objects.filter(project=project).order_by("id"))}


def photos_project(manager, annotator):
    """ "Pets": 12 PNGs, multi-label, labels cat (key c), dog (key d) and bird (3 by position); `annotator` labels."""
    project = make_project(
        owner=manager,
        name="Pets",
        task_type="multi_label",
        labels=[{"name": "cat", "hotkey": "c"}, {"name": "dog", "hotkey": "d"}, {"name": "bird"}],
    )
    add_member(project, annotator, Role.ANNOTATOR)
    for n in range(12):
        data = png(n)
        item = Item(
            project=project,
            external_id=f"pet-{n:02d}.png",
            width=240,
            height=180,
            content_hash=hashlib.sha256(data).hexdigest(),
        )
        item.image.save(f"pet-{n:02d}.png", ContentFile(data), save=False)
        item.save()
    return project


def open_labeling(page, live_server, project):
    log_in(page, live_server, "ali", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/label/")
    return page.get_by_test_id("item-name")


def answers(project, user) -> dict[str, list[str]]:
    rows = Annotation.objects.filter(item__project=project, annotator=user, status="active").prefetch_related("labels")
    return {a.item.external_id: sorted(label.name for label in a.labels.all()) for a in rows.select_related("item")}


def switch_times(page) -> list[float]:
    return page.evaluate("performance.getEntriesByName('loupe:next-item').map(e => e.duration)")


@pytest.mark.screenshots
def test_tabular_items_are_labeled_with_the_keyboard_undo_and_suggestion(
    page, live_server, wine, annotator, browser_errors
):
    items, white = wine["items"], wine["labels"]["white"]
    why = "Picked because the model is unsure: the model splits 87% / 13% between white and red."
    rank_queue(wine["project"], items, {items[4].id: insight([white.id], 0.87, why)})
    StrategySetting.objects.create(project=wine["project"], version=1, spec={"budget": 50})
    name = open_labeling(page, live_server, wine["project"])
    label_button = {label: page.get_by_role("button", name=f"{label} (key") for label in ("red", "white")}

    expect(name).to_have_text("wine-00")
    record = page.get_by_test_id("record")
    expect(record).to_contain_text("Rioja")
    expect(record).to_contain_text("1,234.5678")  # numbers grouped
    expect(record.get_by_role("button", name="Show all")).to_be_visible()  # the long note is folded
    expect(page.get_by_test_id("insight")).to_contain_text("No model yet")
    expect(label_button["red"]).to_contain_text("1")  # no hotkey of its own: 1 by position
    expect(page.get_by_test_id("budget")).to_contain_text("0 / 50 labeled")

    for expected in ("wine-00", "wine-01", "wine-02"):
        expect(name).to_have_text(expected)
        page.keyboard.press("1")
        expect(label_button["red"]).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("Enter")
    expect(name).to_have_text("wine-03")

    page.keyboard.press("z")  # undo: wine-02 comes back with its label chosen
    expect(name).to_have_text("wine-02")
    expect(label_button["red"]).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("2")
    expect(label_button["white"]).to_have_attribute("aria-pressed", "true")
    expect(label_button["red"]).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Enter")

    expect(name).to_have_text("wine-03")  # the item that was on screen before the undo
    page.keyboard.press("1")
    page.keyboard.press("Enter")

    expect(name).to_have_text("wine-04")
    insight_box = page.get_by_test_id("insight")
    expect(insight_box).to_contain_text("Suggests white · 87% sure")
    expect(insight_box.get_by_test_id("why")).to_contain_text(why)
    expect(insight_box.get_by_test_id("percentiles")).to_have_text(
        "Percentile among unlabeled items: strategy 99 · uncertainty 97 · typicality 40"
    )
    expect(label_button["white"]).to_have_class("label-btn suggested")  # the suggestion stands out in the list
    expect(label_button["white"]).to_contain_text("suggested")
    expect(label_button["red"]).not_to_contain_text("suggested")
    save_screenshot(page, "labeling-tabular.png")
    page.keyboard.press("a")

    for expected in ("wine-05", "wine-06", "wine-07", "wine-08", "wine-09"):
        expect(name).to_have_text(expected)
        page.keyboard.press("2" if expected == "wine-07" else "1")
        page.keyboard.press("Enter")
    expect(name).to_have_text("wine-10")
    expect(page.get_by_test_id("sync-status")).to_have_text("All answers saved.")
    expect(page.get_by_test_id("my-count")).to_have_text("you: 10")
    expect(page.get_by_test_id("progress")).to_have_text("10 / 12 done")
    expect(page.get_by_test_id("budget")).to_contain_text("10 / 50 labeled")

    assert answers(wine["project"], annotator) == {
        **{f"wine-{n:02d}": ["red"] for n in (0, 1, 3, 5, 6, 8, 9)},
        "wine-02": ["white"],
        "wine-04": ["white"],
        "wine-07": ["white"],
    }
    accepted = Annotation.objects.filter(annotator=annotator, accepted_suggestion=True)
    assert [a.item.external_id for a in accepted] == ["wine-04"]
    assert Annotation.objects.get(item=items[4]).suggested_label_ids == [white.id]
    assert ItemEvent.objects.filter(item=items[2], kind="undone").count() == 1
    times = switch_times(page)
    assert len(times) >= 10
    assert statistics.median(times) < 100, times  # the next item is on screen at once (prefetched)


@pytest.mark.screenshots
def test_image_items_are_labeled_with_the_keyboard_zoom_undo_and_suggestion(
    page, live_server, photos, annotator, browser_errors
):
    items, labels = photos["items"], photos["labels"]
    rank_queue(photos["project"], items, {items[2].id: insight([labels["cat"].id, labels["dog"].id], 0.64)})
    name = open_labeling(page, live_server, photos["project"])
    image = page.get_by_role("img", name="Image pet-00.png")
    button = {label: page.get_by_role("button", name=f"{label} (key") for label in ("cat", "dog", "bird")}

    expect(image).to_be_visible()
    assert page.evaluate("document.getElementById('image').naturalWidth") == 240
    expect(page.get_by_text("100%")).to_be_attached()
    page.keyboard.press("+")
    expect(page.locator("#zoom-level")).to_have_text("125%")
    page.keyboard.press("Home")  # fits the image; digits are label keys only
    expect(page.locator("#zoom-level")).to_have_text("100%")
    expect(button["bird"]).to_contain_text("3")

    page.keyboard.press("c")  # multi-label: keys toggle
    page.keyboard.press("d")
    page.keyboard.press("d")
    page.keyboard.press("3")
    expect(button["cat"]).to_have_attribute("aria-pressed", "true")
    expect(button["dog"]).to_have_attribute("aria-pressed", "false")
    expect(button["bird"]).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Enter")

    expect(name).to_have_text("pet-01.png")
    page.keyboard.press("d")
    page.keyboard.press("Enter")
    expect(name).to_have_text("pet-02.png")
    expect(page.get_by_test_id("insight")).to_contain_text("Suggests cat, dog · 64% sure")
    expect(page.get_by_role("img", name="Image pet-02.png")).to_be_visible()
    save_screenshot(page, "labeling-image.png")
    page.keyboard.press("Control+z")  # undo brings pet-01 back
    expect(name).to_have_text("pet-01.png")
    expect(button["dog"]).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("c")
    page.keyboard.press("Enter")
    expect(name).to_have_text("pet-02.png")
    page.keyboard.press("a")

    for n in range(3, 10):
        expect(name).to_have_text(f"pet-{n:02d}.png")
        expect(page.get_by_role("img", name=f"Image pet-{n:02d}.png")).to_be_visible()
        page.keyboard.press("c")
        page.keyboard.press("Enter")
    expect(name).to_have_text("pet-10.png")
    expect(page.get_by_test_id("sync-status")).to_have_text("All answers saved.")

    assert answers(photos["project"], annotator) == {
        "pet-00.png": ["bird", "cat"],
        "pet-01.png": ["cat", "dog"],
        "pet-02.png": ["cat", "dog"],
        **{f"pet-{n:02d}.png": ["cat"] for n in range(3, 10)},
    }
    accepted = Annotation.objects.get(annotator=annotator, accepted_suggestion=True)
    assert accepted.item_id == items[2].id
    assert statistics.median(switch_times(page)) < 100


def test_a_choice_not_yet_submitted_survives_a_reload(page, live_server, wine, annotator, browser_errors):
    name = open_labeling(page, live_server, wine["project"])
    expect(name).to_have_text("wine-00")
    white = page.get_by_role("button", name="white (key")
    with page.expect_response(lambda r: r.request.method == "PUT" and "/draft/" in r.url) as saved:
        page.keyboard.press("2")
    assert saved.value.status == 204

    page.reload()

    expect(name).to_have_text("wine-00")  # still leased to this annotator
    expect(white).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Enter")
    expect(name).to_have_text("wine-01")
    expect(page.get_by_test_id("sync-status")).to_have_text("All answers saved.")
    assert answers(wine["project"], annotator) == {"wine-00": ["white"]}


def test_skip_moves_on_and_the_queue_ends_with_a_message(page, live_server, wine, annotator, browser_errors):
    Item.objects.filter(id__in=[item.id for item in wine["items"][2:]]).update(status="done")
    name = open_labeling(page, live_server, wine["project"])
    expect(name).to_have_text("wine-00")
    page.keyboard.press("z")
    expect(page.get_by_test_id("sync-status")).to_contain_text("Nothing to undo")
    page.get_by_test_id("skip-reason").select_option("no label fits")
    page.keyboard.press("s")
    expect(name).to_have_text("wine-01")
    expect(page.get_by_test_id("skip-reason")).to_have_value("")  # a reason is for one item
    page.get_by_test_id("skip-reason").focus()
    page.keyboard.press("Escape")  # leaves the list: the keys label again
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    assert answers(wine["project"], annotator) == {"wine-01": ["red"]}
    assert wine["items"][0].skips.get(user=annotator).reason == "no label fits"


def test_a_submit_lost_in_a_network_blip_is_retried_and_lands_exactly_once(
    page, live_server, wine, annotator, browser_errors
):
    browser_errors.allow("net::ERR_")  # the blip itself, as the browser reports it
    sent = []

    def blip(route):
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            route.fetch()  # the server gets it and saves it, but the answer never comes back
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(f"**/api/v1/projects/{wine['project'].id}/annotations/", blip)
    name = open_labeling(page, live_server, wine["project"])
    expect(name).to_have_text("wine-00")
    page.keyboard.press("2")
    page.keyboard.press("Enter")

    expect(name).to_have_text("wine-01")  # the page moved on at once
    sync = page.get_by_test_id("sync-status")
    expect(sync).to_have_attribute("data-state", "retrying")
    expect(sync).to_contain_text("sending your answer again")
    expect(sync).to_have_text("All answers saved.")

    assert len(sent) == 2
    assert sent[0]["client_key"] == sent[1]["client_key"]  # the retry is the same request
    assert answers(wine["project"], annotator) == {"wine-00": ["white"]}
    assert Annotation.objects.count() == 1


def test_the_lease_is_renewed_while_the_page_sits_on_an_item(page, live_server, wine, annotator, browser_errors):
    wine["project"].lease_seconds = 60  # renewed every 20 s
    wine["project"].save(update_fields=["lease_seconds"])
    page.clock.install()
    name = open_labeling(page, live_server, wine["project"])
    expect(name).to_have_text("wine-00")
    first = {lease.item.external_id: lease.expires_at for lease in Lease.objects.select_related("item")}
    assert set(first) == {"wine-00", "wine-01", "wine-02"}  # the item on screen and the two prefetched

    page.clock.run_for(21_000)

    def renewed():
        now = {lease.item.external_id: lease.expires_at for lease in Lease.objects.select_related("item")}
        return all(now[key] > first[key] for key in first)

    wait_until(renewed, 5, "every lease renewed", sleep=lambda s: page.wait_for_timeout(s * 1000))
