"""The review loop closes: an item a reviewer rejects goes back to its annotator first, with the reviewer's comment
on the labeling page, and the annotator sees how many of their answers were corrected."""

import pytest
from playwright.sync_api import expect

from annotation.models import Annotation, AnnotationStatus, Item, Label
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_annotation, make_project, rank_queue

pytestmark = pytest.mark.django_db(transaction=True)

COMMENT = "The colour column says white: look again."


@pytest.fixture
def project():
    """Wine records: w8 and w9 answered "red" by ann1 and waiting for review; w0-w3 open and ranked first."""
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(owner=manager, name="Wine", data_kind="tabular", labels=[{"name": "red"}, {"name": "white"}])
    project.columns = [{"name": "alcohol", "type": "numeric"}]
    project.save(update_fields=["columns"])
    add_member(project, UserFactory(username="rita"), Role.REVIEWER)
    annotator = UserFactory(username="ann1")
    add_member(project, annotator, Role.ANNOTATOR)
    red = Label.objects.get(project=project, name="red")
    items = {
        name: Item.objects.create(project=project, external_id=name, data={"alcohol": 12 + n}, content_hash=name)
        for n, name in enumerate(["w0", "w1", "w2", "w3", "w8", "w9"])
    }
    for name in ("w8", "w9"):
        make_annotation(items[name], annotator, red)
        Item.objects.filter(id=items[name].id).update(status="done", annotation_count=1, agreement=1.0)
    rank_queue(project, [items[name] for name in ("w0", "w1", "w2", "w3", "w8", "w9")])
    return {"project": project, "items": items, "annotator": annotator}


def test_a_rejected_item_comes_back_first_to_its_annotator_with_the_comment(page, live_server, project, browser_errors):
    log_in(page, live_server, "rita", PASSWORD)
    page.get_by_role("link", name="Review Wine").click()
    name, status = page.get_by_test_id("item-name"), page.get_by_test_id("review-status")
    expect(name).to_have_text("w8")
    page.keyboard.press("c")  # w8: corrected to white
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(status).to_have_text("Corrected: w8.")
    expect(name).to_have_text("w9")
    page.keyboard.press("r")  # w9: rejected, with a comment for the annotator
    page.keyboard.type(COMMENT)
    page.keyboard.press("Enter")
    expect(status).to_have_text("Rejected and sent back: w9.")
    page.get_by_role("button", name="Log out").click()

    log_in(page, live_server, "ann1", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project['project'].id}/label/")
    name = page.get_by_test_id("item-name")
    expect(name).to_have_text("w9")  # before the ranked head
    expect(page.get_by_test_id("rejection")).to_contain_text("Sent back to you by rita")
    expect(page.get_by_test_id("rejection-comment")).to_have_text(COMMENT)
    feedback = page.get_by_test_id("review-feedback")
    expect(feedback).to_contain_text("Reviewed: 1 of your answers corrected, 1 sent back")
    feedback.locator("summary").click()
    expect(feedback).to_contain_text("w8: you said red; rita set white")

    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(name).to_have_text("w0")
    expect(page.get_by_test_id("rejection")).to_be_hidden()
    expect(page.get_by_test_id("sync-status")).to_have_text("All answers saved.")

    answers = Annotation.objects.filter(item=project["items"]["w9"], annotator=project["annotator"])
    assert sorted((a.status, a.labels.get().name) for a in answers) == [
        (AnnotationStatus.ACTIVE, "white"),
        (AnnotationStatus.REJECTED, "red"),
    ]
