"""Bulk actions on a selection of items: label, send to review, re-queue, raise priority."""

import pytest

from annotation import labeling
from annotation.item_actions import MAX_BULK_ITEMS
from annotation.labeling import annotation_skip, item_recount
from annotation.models import Annotation, Item, ItemEvent, Label, Skip
from annotation.review import item_review
from annotation.selectors import review_queue
from tests.factories import Role, UserFactory, add_member, make_annotation, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(owner=manager, name="Pets", data_kind="tabular")
    reviewer, annotator = UserFactory(username="rita"), UserFactory(username="anna")
    add_member(project, reviewer, Role.REVIEWER)
    add_member(project, annotator, Role.ANNOTATOR)
    cat, dog = Label.objects.filter(project=project).order_by("id")
    items = [Item.objects.create(project=project, external_id=f"p{n}", data={"n": n}) for n in range(6)]
    other = make_project(owner=UserFactory(username="olga", is_staff=True), name="Other", data_kind="tabular")
    stranger_item = Item.objects.create(project=other, external_id="x", data={"n": 0})
    return {"project": project, "items": items, "cat": cat, "dog": dog, "manager": manager, "reviewer": reviewer,
            "annotator": annotator, "stranger_item": stranger_item}  # fmt: skip


def bulk(desk, user, **body):
    return client_for(user).post(f"/api/v1/projects/{desk['project'].id}/items/bulk/", body, format="json")


def ids(desk, *numbers):
    return [desk["items"][n].id for n in numbers]


def test_bulk_label_records_the_users_own_reviewable_answers(desk, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = bulk(desk, desk["reviewer"], action="label", item_ids=ids(desk, 0, 1, 2), label_ids=[desk["dog"].id])

    assert response.status_code == 200, response.data
    assert response.data["changed"] == ids(desk, 0, 1, 2)
    answers = Annotation.objects.filter(annotator=desk["reviewer"], status="active")
    assert sorted(a.item_id for a in answers) == ids(desk, 0, 1, 2)
    assert {label.id for a in answers for label in a.labels.all()} == {desk["dog"].id}
    assert set(Item.objects.filter(id__in=ids(desk, 0, 1, 2)).values_list("status", "annotation_count")) == {
        ("done", 1)
    }
    assert ItemEvent.objects.filter(kind="submitted", actor=desk["reviewer"]).count() == 3
    assert {item.id for item in review_queue(project=desk["project"])} == set(ids(desk, 0, 1, 2))
    assert len(callbacks) == 1  # asks for a new ranking once, after commit


def test_bulk_label_leaves_answered_done_and_reviewed_items_as_they_are(desk):
    cat, dog, reviewer, project = desk["cat"], desk["dog"], desk["reviewer"], desk["project"]
    first, second, third = desk["items"][:3]
    make_annotation(first, reviewer, cat)
    item_recount(first, project)
    make_annotation(second, desk["annotator"], cat)
    item_recount(second, project)
    item_review(reviewer=desk["manager"], project=project, item_id=second.id, decision="accept")
    make_annotation(third, desk["annotator"], cat)
    item_recount(third, project)

    response = bulk(desk, reviewer, action="label", item_ids=ids(desk, 0, 1, 2, 3), label_ids=[dog.id])

    assert response.data["changed"] == ids(desk, 3)
    assert response.data["unchanged"] == {
        "already answered by you": ids(desk, 0),
        "already reviewed": ids(desk, 1),
        "already has all its answers": ids(desk, 2),
    }


def test_send_to_review_puts_answered_items_back_in_the_review_queue(desk):
    project, annotator, cat = desk["project"], desk["annotator"], desk["cat"]
    for item in desk["items"][:2]:
        make_annotation(item, annotator, cat)
        item_recount(item, project)
    item_review(reviewer=desk["reviewer"], project=project, item_id=desk["items"][0].id, decision="accept")
    assert [i.id for i in review_queue(project=project)] == ids(desk, 1)

    response = bulk(desk, desk["reviewer"], action="send_to_review", item_ids=ids(desk, 0, 1, 2))

    assert response.data["changed"] == ids(desk, 0)
    assert response.data["unchanged"] == {"already waiting for review": ids(desk, 1), "no answers yet": ids(desk, 2)}
    assert sorted(i.id for i in review_queue(project=project)) == ids(desk, 0, 1)
    assert ItemEvent.objects.filter(kind="to_review").count() == 1


def test_requeue_sets_answers_aside_and_brings_skipped_items_back(desk):
    project, annotator, cat = desk["project"], desk["annotator"], desk["cat"]
    answered, skipped = desk["items"][:2]
    make_annotation(answered, annotator, cat)
    item_recount(answered, project)
    annotation_skip(user=annotator, project=project, item_id=skipped.id)

    response = bulk(desk, desk["reviewer"], action="requeue", item_ids=ids(desk, 0, 1, 2), comment="blurry batch")

    assert response.data["changed"] == ids(desk, 0, 1)
    assert response.data["unchanged"] == {"already in the queue": ids(desk, 2)}
    answered.refresh_from_db()
    assert (answered.status, answered.annotation_count) == ("open", 0)
    assert Annotation.objects.get(item=answered).status == "rejected"
    assert not Skip.objects.filter(item=skipped).exists()
    assert ItemEvent.objects.filter(kind="requeued").first().comment == "blurry batch"


def test_raised_items_are_served_before_the_rest_of_the_queue(desk):
    project, annotator = desk["project"], desk["annotator"]
    response = bulk(desk, desk["manager"], action="raise_priority", item_ids=ids(desk, 4, 5))
    assert response.data["changed"] == ids(desk, 4, 5)

    served = []
    for _ in range(3):
        item, _lease = labeling.item_next_for_user(user=annotator, project=project)
        labeling.annotation_submit(user=annotator, project=project, item_id=item.id, label_ids=[desk["cat"].id])
        served.append(item.id)
    assert served == ids(desk, 4, 5, 0)


def test_raising_priority_is_for_managers(desk):
    response = bulk(desk, desk["reviewer"], action="raise_priority", item_ids=ids(desk, 0))
    assert response.status_code == 403
    assert Item.objects.filter(priority__gt=0).count() == 0


@pytest.mark.parametrize("action", ["label", "send_to_review", "requeue"])
def test_annotators_and_outsiders_cannot_act_on_a_selection(desk, action):
    body = {"action": action, "item_ids": ids(desk, 0), "label_ids": [desk["cat"].id] if action == "label" else []}
    assert bulk(desk, desk["annotator"], **body).status_code == 403
    assert bulk(desk, UserFactory(username="stranger"), **body).status_code == 404


def test_items_of_another_project_refuse_the_whole_selection(desk):
    response = bulk(
        desk, desk["reviewer"], action="label", item_ids=[*ids(desk, 0), desk["stranger_item"].id],
        label_ids=[desk["cat"].id],
    )  # fmt: skip
    assert response.status_code == 400
    assert str(desk["stranger_item"].id) in str(response.data)
    assert not Annotation.objects.exists()  # all or nothing


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "label", "item_ids": [1] * 2, "label_ids": []}, "label_ids"),
        ({"action": "paint", "item_ids": [1]}, "action"),
        ({"action": "requeue", "item_ids": []}, "item_ids"),
        ({"action": "requeue", "item_ids": list(range(1, MAX_BULK_ITEMS + 2))}, "item_ids"),
        ({"action": "requeue", "item_ids": ["one"]}, "item_ids"),
        ({"action": "requeue", "item_ids": [1], "label_ids": [1]}, "label_ids"),
    ],
)
def test_bad_selections_get_a_400_naming_the_field(desk, body, field):
    if body.get("label_ids") == [] and body["action"] == "label":
        body["item_ids"] = ids(desk, 0)
    response = bulk(desk, desk["manager"], **body)
    assert response.status_code == 400
    assert field in str(response.data)


def test_labels_of_another_project_are_refused(desk):
    foreign = Label.objects.exclude(project=desk["project"]).first()
    response = bulk(desk, desk["reviewer"], action="label", item_ids=ids(desk, 0), label_ids=[foreign.id])
    assert response.status_code == 400
    assert not Annotation.objects.exists()
