"""The item browser: filtering, the item page's correction, bulk labeling from checkboxes and from a lasso drawn
around a cluster on the map."""

import numpy as np
import pytest
from playwright.sync_api import expect

from active_learning import artifacts
from active_learning.models import LearningRun
from annotation.labeling import item_recount
from annotation.models import Annotation, Item, ItemEvent, Label, Review
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_annotation, make_project

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shelf():
    """Eight fruit records f0..f7: f0-f2 answered "apple" by ann, f3 answered "pear"; the rest unanswered."""
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(
        owner=manager, name="Fruit", data_kind="tabular", labels=[{"name": "apple"}, {"name": "pear"}],
        shown_columns=[],
    )  # fmt: skip
    project.columns = [{"name": "weight", "type": "numeric"}]
    project.save(update_fields=["columns"])
    reviewer, ann = UserFactory(username="rita"), UserFactory(username="ann")
    add_member(project, reviewer, Role.REVIEWER)
    add_member(project, ann, Role.ANNOTATOR)
    apple, pear = Label.objects.filter(project=project).order_by("id")
    items = [Item.objects.create(project=project, external_id=f"f{n}", data={"weight": 100 + n}) for n in range(8)]
    for n, label in ((0, apple), (1, apple), (2, apple), (3, pear)):
        make_annotation(items[n], ann, label)
        item_recount(items[n], project)
    return {"project": project, "items": items, "apple": apple, "pear": pear, "reviewer": reviewer}


def rows(page):
    return page.get_by_test_id("item-row")


def open_browser(page, live_server, shelf):
    log_in(page, live_server, "rita", PASSWORD)
    page.get_by_role("link", name="Items of Fruit").click()
    expect(page.get_by_test_id("item-count")).to_have_text("8 items match")


def test_filters_narrow_the_list_and_clearing_them_brings_everything_back(page, live_server, shelf, browser_errors):
    open_browser(page, live_server, shelf)
    expect(rows(page)).to_have_count(8)

    page.get_by_label("Final label").select_option("apple")
    expect(page.get_by_test_id("item-count")).to_have_text("3 items match")
    expect(rows(page).first).to_contain_text("f0")
    page.get_by_label("Status").select_option("open")
    expect(page.get_by_test_id("results-empty")).to_be_visible()
    page.get_by_role("button", name="Clear filters").click()
    expect(rows(page)).to_have_count(8)
    page.get_by_label("Search").fill("f7")
    expect(page.get_by_test_id("item-count")).to_have_text("1 item match")
    expect(rows(page)).to_have_count(1)


def test_a_reviewer_corrects_an_item_on_its_page(page, live_server, shelf, browser_errors):
    open_browser(page, live_server, shelf)
    page.get_by_role("link", name="f3").click()
    expect(page.get_by_test_id("item-name")).to_have_text("f3")
    expect(page.get_by_test_id("final-label")).to_have_text("pear")
    expect(page.get_by_test_id("answers")).to_contain_text("ann: pear")
    expect(page.get_by_test_id("record")).to_contain_text("103")

    page.get_by_role("button", name="apple").click()
    page.get_by_label("Comment (optional)").fill("the stalk says apple")
    page.get_by_test_id("save-correction").click()

    expect(page.get_by_test_id("correct-status")).to_have_text("Saved: the final label is now apple.")
    expect(page.get_by_test_id("final-label")).to_have_text("apple")
    expect(page.get_by_test_id("history")).to_contain_text("rita corrected the label to apple — “the stalk says apple”")
    review = Review.objects.get(item=shelf["items"][3])
    assert (review.decision, review.comment) == ("correct", "the stalk says apple")
    assert list(review.labels.values_list("name", flat=True)) == ["apple"]


def test_selected_items_are_labeled_in_bulk_as_the_reviewers_answers(page, live_server, shelf, browser_errors):
    open_browser(page, live_server, shelf)
    page.get_by_label("Status").select_option("open")
    expect(page.get_by_test_id("item-count")).to_have_text("4 items match")
    page.get_by_label("Select f4").check()
    page.get_by_label("Select f5").check()
    expect(page.get_by_test_id("selected-count")).to_have_text("2 selected")
    page.get_by_label("Action").select_option("label")
    page.get_by_test_id("bulk-label").select_option("pear")
    page.get_by_test_id("apply-bulk").click()

    expect(page.get_by_test_id("bulk-status")).to_have_text("Labeled 2 items.")
    expect(page.get_by_test_id("item-count")).to_have_text("2 items match")  # f4, f5 have their answer now
    answers = Annotation.objects.filter(annotator=shelf["reviewer"])
    assert sorted(a.item.external_id for a in answers) == ["f4", "f5"]
    assert {label.name for a in answers for label in a.labels.all()} == {"pear"}


@pytest.fixture
def mapped():
    """Two clusters of 30 unlabeled records each ("round" near (0, 0), "long" near (10, 10)) on a stored map."""
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(
        owner=manager, name="Shapes", data_kind="tabular", labels=[{"name": "round"}, {"name": "long"}]
    )
    rng = np.random.default_rng(0)
    items = [Item.objects.create(project=project, external_id=f"s{n}", data={"n": n}) for n in range(60)]
    coords = np.array([[0, 0] if n < 30 else [10, 10] for n in range(60)]) + rng.normal(scale=1, size=(60, 2))
    ids = np.array([item.id for item in items], dtype=np.int64)
    path = artifacts.save(project_id=project.id, run_id=1, attempt=1, name="embed", item_ids=ids, map=coords)
    LearningRun.objects.create(
        project=project, kind="embed", reason="request", status="done", artifact=path, result={"map": "umap"}
    )
    return {"project": project, "items": items, "manager": manager}


def test_a_lasso_around_a_cluster_labels_it_in_one_gesture(page, live_server, mapped, browser_errors):
    log_in(page, live_server, "maria", PASSWORD)
    page.goto(f"{live_server.url}/projects/{mapped['project'].id}/items/")
    expect(page.get_by_test_id("map-note")).to_contain_text("60 items, placed by UMAP")
    canvas = page.get_by_test_id("map")
    box = canvas.bounding_box()
    # The "round" cluster sits in the lower left quarter of the map: loop around that quarter.
    left, top, width, height = box["x"], box["y"], box["width"], box["height"]
    loop = [(0.01, 0.45), (0.45, 0.45), (0.45, 0.99), (0.01, 0.99), (0.01, 0.46)]
    page.mouse.move(left + loop[0][0] * width, top + loop[0][1] * height)
    page.mouse.down()
    for fx, fy in loop[1:]:
        page.mouse.move(left + fx * width, top + fy * height, steps=8)
    page.mouse.up()

    expect(page.get_by_test_id("bulk-status")).to_have_text("The lasso added 30 items to the selection.")
    expect(page.get_by_test_id("selected-count")).to_have_text("30 selected")
    page.get_by_test_id("bulk-label").select_option("round")
    page.get_by_test_id("apply-bulk").click()

    expect(page.get_by_test_id("bulk-status")).to_have_text("Labeled 30 items.")
    labeled = Annotation.objects.filter(annotator=mapped["manager"]).values_list("item__external_id", flat=True)
    assert sorted(labeled, key=lambda name: int(name[1:])) == [f"s{n}" for n in range(30)]
    assert ItemEvent.objects.filter(kind="submitted", comment="labeled in bulk").count() == 30
