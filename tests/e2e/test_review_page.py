"""The review page: disagreements first; accept, reject with a comment and correct, all by keyboard; the model's
label issues ("Model disagrees") as a second source."""

import math

import pytest
from playwright.sync_api import expect
from sklearn.datasets import load_wine

from active_learning import services, training
from active_learning.models import LabelIssue, LearningRun
from active_learning.selectors import LABEL_ISSUE_MIN_CONFIDENCE
from annotation.demo import _wine
from annotation.models import Annotation, AnnotationStatus, Item, Label, Review
from annotation.review import item_review
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


WRONG = {3: 2, 100: 2, 140: 0}  # item position -> a deliberately wrong cultivar (the truth is load_wine().target)


@pytest.fixture
def mislabeled():
    """The wine demo, every item labeled by the manager (three of them wrongly), then embedded and ranked."""
    manager = UserFactory(username="maria")
    project = _wine(manager)
    labels = list(Label.objects.filter(project=project).order_by("id"))
    target = load_wine().target
    items = list(Item.objects.filter(project=project).order_by("id"))
    for position, item in enumerate(items):
        label = labels[WRONG.get(position, target[position])]
        Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set([label])
    Item.objects.filter(project=project).update(annotation_count=1, status="done")
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)  # queues its ranking quietly; run that here too
    rank = LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK).order_by("-id").first()
    training.rank_run_execute(run_id=rank.id)
    return {"project": project, "manager": manager, "items": items, "labels": labels}


def test_reviewer_corrects_a_label_the_model_disagrees_with_by_keyboard(page, live_server, mislabeled, browser_errors):
    project, items, labels = mislabeled["project"], mislabeled["items"], mislabeled["labels"]
    issues = list(LabelIssue.objects.filter(run__project=project).order_by("rank"))
    wrong = {items[position].id: labels[load_wine().target[position]].id for position in WRONG}
    assert {issue.item_id: issue.suggested_label_id for issue in issues if issue.item_id in wrong} == wrong
    assert all(issue.confidence >= LABEL_ISSUE_MIN_CONFIDENCE for issue in issues)  # only confident flags
    first, second = issues[0], issues[1]
    assert first.item_id in wrong
    # Reviewed since the ranking: listed, but marked and not decidable (the API would refuse with a 409).
    item_review(reviewer=mislabeled["manager"], project=project, item_id=second.item_id, decision="accept")
    first_item, second_item = Item.objects.get(id=first.item_id), Item.objects.get(id=second.item_id)
    by_id = {label.id: label for label in labels}
    given, suggested = by_id[first.given_label_ids[0]], by_id[first.suggested_label_id]

    log_in(page, live_server, "maria", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/review/")
    name, status = page.get_by_test_id("item-name"), page.get_by_test_id("review-status")
    expect(page.get_by_test_id("queue-count")).to_contain_text("to review")
    expect(page.get_by_label("Order").locator("option[value=issues]")).to_have_text("Model disagrees (60%+ sure)")
    page.get_by_label("Order").select_option("issues")

    expect(page.get_by_test_id("queue-count")).to_have_text(f"{len(issues)} flagged by the model")
    expect(name).to_have_text(first_item.external_id)
    expect(page.get_by_test_id("answers")).to_contain_text(f"maria: {given.name}")
    suggestion = page.get_by_test_id("model-suggestion")
    expect(suggestion).to_contain_text(f"Given: {given.name}. Model suggests {suggested.name} (")
    percent = math.floor(first.confidence * 100 + 0.5)  # JavaScript's Math.round, not Python's half-to-even
    expect(suggestion).to_contain_text(f"{percent}% confident")
    expect(suggestion).to_contain_text("F fixes it to the model's label.")
    expect(page.get_by_test_id("accept")).to_be_enabled()

    page.keyboard.press("f")  # one key: the model's label
    expect(status).to_have_text(f"Corrected: {first_item.external_id}.")
    expect(page.get_by_test_id("queue-count")).to_have_text(f"{len(issues) - 1} flagged by the model")

    expect(name).to_have_text(second_item.external_id)
    expect(suggestion).to_contain_text("Already reviewed (accepted).")
    expect(page.get_by_test_id("accept")).to_be_disabled()
    page.keyboard.press("a")
    expect(status).to_have_text("Already reviewed (accepted): nothing to decide.")

    corrected = Review.objects.get(item=first_item)
    assert corrected.decision == "correct"
    assert list(corrected.labels.values_list("id", flat=True)) == [suggested.id]
    assert Item.objects.get(id=first_item.id).review_status == "corrected"
    assert Review.objects.filter(item=second_item).count() == 1
