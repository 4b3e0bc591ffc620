"""The review page: disagreements first; accept, reject with a comment and correct, all by keyboard."""

import pytest
from playwright.sync_api import expect

from annotation.models import AnnotationStatus, Item, Label, Review
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_annotation, make_project

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reviewed():
    """Three done records with two answers each; w1's annotators disagree."""
    manager = UserFactory(username="maria", is_staff=True)
    reviewer = UserFactory(username="rita")
    project = make_project(owner=manager, name="Wine", data_kind="tabular", labels=[{"name": "red"}, {"name": "white"}])
    project.overlap = 2
    project.save(update_fields=["overlap"])
    add_member(project, reviewer, Role.REVIEWER)
    annotators = [UserFactory(username=name) for name in ("ann1", "ann2")]
    for annotator in annotators:
        add_member(project, annotator, Role.ANNOTATOR)
    red, white = Label.objects.filter(project=project).order_by("id")
    answers = {"w0": (red, red), "w1": (red, white), "w2": (white, white)}
    items = {}
    for n, (name, labels) in enumerate(answers.items()):
        item = Item.objects.create(project=project, external_id=name, data={"alcohol": 12 + n}, content_hash=name)
        for annotator, label in zip(annotators, labels, strict=True):
            make_annotation(item, annotator, label)
        agreement = 1.0 if labels[0] == labels[1] else 0.5
        Item.objects.filter(id=item.id).update(status="done", annotation_count=2, agreement=agreement)
        items[name] = item
    return {"project": project, "items": items, "red": red, "white": white}


def test_reviewer_rejects_accepts_and_corrects_by_keyboard(page, live_server, reviewed, browser_errors):
    log_in(page, live_server, "rita", PASSWORD)
    page.get_by_role("link", name="Review Wine").click()
    name, status = page.get_by_test_id("item-name"), page.get_by_test_id("review-status")

    expect(name).to_have_text("w1")  # the disagreement first
    expect(page.get_by_test_id("agreement")).to_contain_text("1 of 2 annotators agree")
    expect(page.get_by_test_id("answers")).to_contain_text("ann1: red")
    expect(page.get_by_test_id("answers")).to_contain_text("ann2: white")
    expect(page.get_by_test_id("queue-count")).to_have_text("3 to review")

    page.keyboard.press("r")
    expect(page.get_by_label("Why are these answers wrong?")).to_be_focused()
    page.keyboard.type("The colour column says white; look again.")
    page.keyboard.press("Enter")
    expect(status).to_have_text("Rejected and sent back: w1.")

    expect(name).to_have_text("w0")
    page.keyboard.press("j")
    expect(name).to_have_text("w2")
    page.keyboard.press("k")
    expect(name).to_have_text("w0")
    expect(page.get_by_test_id("answers")).to_contain_text("ann2: red")
    page.keyboard.press("a")
    expect(status).to_have_text("Accepted: w0.")

    expect(name).to_have_text("w2")
    expect(page.get_by_test_id("answers")).to_contain_text("ann1: white")
    page.keyboard.press("c")
    expect(page.get_by_role("button", name="white (key 2)")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("1")
    expect(page.get_by_role("button", name="red (key 1)")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Enter")
    expect(status).to_have_text("Corrected: w2.")
    expect(page.get_by_test_id("review-empty")).to_be_visible()

    items = reviewed["items"]
    rejected = Review.objects.get(item=items["w1"])
    assert (rejected.decision, rejected.comment) == ("reject", "The colour column says white; look again.")
    w1 = Item.objects.get(id=items["w1"].id)
    assert (w1.status, w1.annotation_count) == ("open", 0)
    assert set(w1.annotations.values_list("status", flat=True)) == {AnnotationStatus.REJECTED}
    assert Review.objects.get(item=items["w0"]).decision == "accept"
    assert Item.objects.get(id=items["w0"].id).review_status == "accepted"
    corrected = Review.objects.get(item=items["w2"])
    assert corrected.decision == "correct"
    assert list(corrected.labels.values_list("name", flat=True)) == ["red"]


def test_review_page_is_for_reviewers_and_managers_only(page, live_server, reviewed, browser_errors):
    browser_errors.allow("403")
    log_in(page, live_server, "ann1", PASSWORD)
    expect(page.get_by_role("link", name="Label Wine")).to_be_visible()
    expect(page.get_by_role("link", name="Review Wine")).to_have_count(0)
    response = page.goto(f"{live_server.url}/projects/{reviewed['project'].id}/review/")
    assert response.status == 403
