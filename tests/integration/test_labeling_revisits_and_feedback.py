"""An annotator's way back to their own work: skipped items listed and taken back, items a reviewer rejected
handed to their annotator first with the comment, and a count of the answers reviewers corrected."""

import pytest

from annotation.models import Annotation, AnnotationStatus, Item, ItemEvent, Label, Skip
from annotation.review import item_review
from tests.factories import Role, UserFactory, add_member, make_annotation, make_project, rank_queue
from tests.integration.conftest import client_for


@pytest.fixture
def team(db):
    manager = UserFactory(username="manager", is_staff=True)
    project = make_project(owner=manager)
    annotators = [UserFactory(username=f"ann{i}") for i in range(2)]
    for user in annotators:
        add_member(project, user, Role.ANNOTATOR)
    reviewer = UserFactory(username="rev")
    add_member(project, reviewer, Role.REVIEWER)
    items = [Item.objects.create(project=project, external_id=f"i{n}") for n in range(6)]
    labels = {label.name: label for label in Label.objects.filter(project=project)}
    return {"project": project, "annotators": annotators, "reviewer": reviewer, "items": items, "labels": labels}


def url(team, tail):
    return f"/api/v1/projects/{team['project'].id}/{tail}"


def next_id(user, team) -> int | None:
    answer = client_for(user).post(url(team, "queue/next/"))
    return None if answer.status_code == 204 else answer.data["item"]["id"]


def answered(team, item, user, label="cat"):
    make_annotation(item, user, team["labels"][label])
    Item.objects.filter(id=item.id).update(status="done", annotation_count=1, agreement=1.0)


def test_skipped_items_are_listed_latest_first_and_taken_back_to_label(team):
    ann0 = team["annotators"][0]
    first, second = team["items"][:2]
    client = client_for(ann0)
    assert client.post(url(team, f"items/{first.id}/skip/"), {"reason": "blurry"}, format="json").status_code == 204
    assert client.post(url(team, f"items/{second.id}/skip/"), {}, format="json").status_code == 204

    listed = client.get(url(team, "skips/"))
    assert listed.status_code == 200
    assert [(row["external_id"], row["reason"]) for row in listed.data["results"]] == [("i1", ""), ("i0", "blurry")]

    back = client.post(url(team, f"items/{first.id}/unskip/"))
    assert back.status_code == 200
    assert back.data["item"]["id"] == first.id
    assert not Skip.objects.filter(item=first, user=ann0).exists()
    assert next_id(ann0, team) == first.id  # leased to them: the item they hold comes first
    assert ItemEvent.objects.filter(item=first, kind=ItemEvent.Kind.UNSKIPPED).count() == 1
    assert [row["external_id"] for row in client.get(url(team, "skips/")).data["results"]] == ["i1"]


def test_taking_back_a_skip_is_refused_precisely(team):
    ann0, ann1 = team["annotators"]
    item = team["items"][0]
    client = client_for(ann0)
    assert client.post(url(team, f"items/{item.id}/unskip/")).status_code == 404  # never skipped
    client.post(url(team, f"items/{item.id}/skip/"), {}, format="json")
    answered(team, item, ann1)  # meanwhile someone else gave the one answer it needed

    refused = client.post(url(team, f"items/{item.id}/unskip/"))

    assert refused.status_code == 409
    assert "has all the answers it needs" in refused.data["detail"]
    assert client_for(ann1).post(url(team, f"items/{item.id}/unskip/")).status_code == 404  # not theirs
    assert client.post(url(team, "items/999999/unskip/")).status_code == 404


def test_a_rejected_item_goes_to_its_annotator_first_with_the_reviewers_comment(team):
    ann0, ann1 = team["annotators"]
    items = team["items"]
    rank_queue(team["project"], items)  # i0 heads the queue
    answered(team, items[5], ann0)
    item_review(reviewer=team["reviewer"], project=team["project"], item_id=items[5].id, decision="reject",
                comment="Look at the ears.")  # fmt: skip

    answer = client_for(ann0).post(url(team, "queue/next/?prefetch=1"))

    assert answer.data["item"]["id"] == items[5].id
    assert answer.data["rejection"]["comment"] == "Look at the ears."
    assert answer.data["rejection"]["reviewer"] == "rev"
    assert answer.data["upcoming"][0]["rejection"] is None
    assert next_id(ann1, team) == items[1].id  # others follow the ranking (i0 is held by ann0's prefetch)


def test_corrections_of_ones_answers_are_counted_with_both_labels(team):
    ann0, ann1 = team["annotators"]
    items = team["items"]
    for item in items[:3]:
        answered(team, item, ann0)
    answered(team, items[3], ann1)
    review = {"reviewer": team["reviewer"], "project": team["project"]}
    dog = team["labels"]["dog"].id
    item_review(**review, item_id=items[0].id, decision="correct", label_ids=[dog], comment="a puppy")
    item_review(**review, item_id=items[1].id, decision="accept")
    item_review(**review, item_id=items[2].id, decision="reject", comment="unclear")
    item_review(**review, item_id=items[3].id, decision="correct", label_ids=[dog])

    feedback = client_for(ann0).get(url(team, "review/feedback/"))

    assert feedback.status_code == 200
    assert (feedback.data["corrected"], feedback.data["sent_back"]) == (1, 1)
    (correction,) = feedback.data["latest_corrections"]
    assert correction["item"] == "i0"
    assert correction["yours"] == [team["labels"]["cat"].id]
    assert correction["final"] == [dog]
    assert correction["comment"] == "a puppy"
    assert Annotation.objects.filter(annotator=ann0, status=AnnotationStatus.REJECTED).count() == 1


def test_a_label_hotkey_that_zooms_the_image_is_refused(team):
    manager = UserFactory(username="boss", is_staff=True)
    body = {"name": "Digits", "data_kind": "image", "labels": [{"name": "plus", "hotkey": "+"}]}

    answer = client_for(manager).post("/api/v1/projects/", body, format="json")

    assert answer.status_code == 400
    assert "zooms the image in on the labeling page" in str(answer.data)
