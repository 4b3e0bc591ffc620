"""The labeling workflow through the API: next item, leases, submit, skip, edit, undo, drafts, overlap."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation.models import Annotation, Item, ItemEvent, Label, Lease
from tests.factories import Role, UserFactory, add_member, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    manager = UserFactory(username="manager", is_staff=True)
    project = make_project(owner=manager, labels=[{"name": "cat", "hotkey": "1"}, {"name": "dog", "hotkey": "2"}])
    annotators = [UserFactory(username=f"ann{i}") for i in range(4)]
    for user in annotators:
        add_member(project, user, Role.ANNOTATOR)
    items = [Item.objects.create(project=project, external_id=f"i{n}", priority=float(n)) for n in range(5)]
    labels = {label.name: label.id for label in Label.objects.filter(project=project)}
    return {"manager": manager, "project": project, "annotators": annotators, "items": items, "labels": labels}


def url(team, tail=""):
    return f"/api/v1/projects/{team['project'].id}/{tail}"


def next_item(user, team):
    response = client_for(user).post(url(team, "queue/next/"))
    return response.data["item"]["id"] if response.status_code == 200 else response.status_code


def submit(user, team, item_id, label="cat", key="", **extra):
    body = {"item_id": item_id, "label_ids": [team["labels"][label]], "client_key": key, **extra}
    return client_for(user).post(url(team, "annotations/"), body, format="json")


def test_next_follows_priority_and_a_reload_returns_the_held_item(team):
    ann0, ann1 = team["annotators"][:2]
    first = next_item(ann0, team)
    assert first == team["items"][4].id  # highest priority first
    assert next_item(ann0, team) == first  # a reload gets the same item back
    assert next_item(ann1, team) == team["items"][3].id  # never the item someone else holds


def test_queue_is_empty_with_204_when_everything_is_done(team):
    ann0 = team["annotators"][0]
    for _ in team["items"]:
        assert submit(ann0, team, next_item(ann0, team)).status_code == 201
    assert next_item(ann0, team) == 204
    assert next_item(team["annotators"][1], team) == 204


def test_submit_with_the_same_client_key_never_makes_two_annotations(team):
    ann0 = team["annotators"][0]
    item_id = next_item(ann0, team)
    first = submit(ann0, team, item_id, key="k-1", time_spent_ms=1234)
    retry = submit(ann0, team, item_id, key="k-1", time_spent_ms=1234)

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.data["id"] == first.data["id"]
    assert Annotation.objects.count() == 1
    assert Annotation.objects.get().time_spent_ms == 1234
    assert not Lease.objects.exists()


@pytest.mark.parametrize(
    ("label_ids", "message"),
    [("none", "exactly one"), ("both", "exactly one"), ("foreign", "Not labels of this project"), ("dup", "twice")],
)
def test_submit_checks_labels_against_the_schema_and_stores_nothing(team, label_ids, message):
    ann0 = team["annotators"][0]
    item_id = next_item(ann0, team)
    cat, dog = team["labels"]["cat"], team["labels"]["dog"]
    ids = {"none": [], "both": [cat, dog], "foreign": [987654], "dup": [cat, cat]}[label_ids]
    response = client_for(ann0).post(url(team, "annotations/"), {"item_id": item_id, "label_ids": ids}, format="json")

    assert response.status_code == 400
    assert message in str(response.data)
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"label_ids": [1]}, "item_id", "required"),
        ({"item_id": "seven", "label_ids": [1]}, "item_id", "valid integer"),
        ({"item_id": 1, "label_ids": "cat"}, "label_ids", "list"),
        ({"item_id": 1, "label_ids": [1], "time_spent_ms": -5}, "time_spent_ms", "greater than or equal to 0"),
        ([1, 2], "non_field_errors", "Invalid data"),
        (None, "non_field_errors", "No data provided"),
    ],
)
def test_a_malformed_submit_is_refused_field_by_field_and_stores_nothing(team, body, field, message):
    response = client_for(team["annotators"][0]).post(
        url(team, "annotations/"), json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert not Annotation.objects.exists()


def test_retired_label_cannot_be_used_for_new_answers(team):
    from annotation.services import schema_change_apply

    schema_change_apply(
        project_id=team["project"].id,
        user=team["manager"],
        operation={"op": "retire_label", "label_id": team["labels"]["dog"]},
    )
    ann0 = team["annotators"][0]
    response = submit(ann0, team, next_item(ann0, team), label="dog")
    assert response.status_code == 400
    assert "Retired" in response.data["label_ids"][0]


def test_an_item_someone_else_holds_cannot_be_submitted_by_another(team):
    ann0, ann1 = team["annotators"][:2]
    held = next_item(ann0, team)
    response = submit(ann1, team, held)
    assert response.status_code == 409
    assert submit(ann0, team, held).status_code == 201


def test_expired_lease_frees_the_item_without_any_cleanup(team):
    ann0, ann1 = team["annotators"][:2]
    held = next_item(ann0, team)
    Lease.objects.filter(user=ann0).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert next_item(ann1, team) == held


def test_lease_renewal_extends_the_lease(team):
    ann0 = team["annotators"][0]
    held = next_item(ann0, team)
    Lease.objects.filter(user=ann0).update(expires_at=timezone.now() + timedelta(seconds=5))
    response = client_for(ann0).post(url(team, f"items/{held}/lease/"))
    assert response.status_code == 200
    assert Lease.objects.get(user=ann0).expires_at > timezone.now() + timedelta(seconds=200)


def test_skip_hides_the_item_from_that_annotator_only(team):
    ann0, ann1 = team["annotators"][:2]
    skipped = next_item(ann0, team)
    assert client_for(ann0).post(url(team, f"items/{skipped}/skip/"), {"reason": "blurry"}).status_code == 204
    assert next_item(ann0, team) != skipped
    assert next_item(ann1, team) == skipped
    assert ItemEvent.objects.get(kind="skipped").comment == "blurry"


def test_undo_takes_back_the_last_answer_and_returns_the_item_with_a_draft(team):
    ann0 = team["annotators"][0]
    item_id = next_item(ann0, team)
    submit(ann0, team, item_id, label="dog")
    response = client_for(ann0).post(url(team, "annotations/undo/"))

    assert response.status_code == 200
    assert response.data["item"]["id"] == item_id
    assert response.data["draft"]["label_ids"] == [team["labels"]["dog"]]
    assert not Annotation.objects.exists()
    assert Item.objects.get(id=item_id).status == "open"
    assert next_item(ann0, team) == item_id
    assert list(ItemEvent.objects.values_list("kind", flat=True)) == ["submitted", "undone"]


def test_edit_changes_only_ones_own_annotation(team):
    ann0, ann1 = team["annotators"][:2]
    annotation_id = submit(ann0, team, next_item(ann0, team)).data["id"]
    body = {"label_ids": [team["labels"]["dog"]]}
    assert client_for(ann1).patch(url(team, f"annotations/{annotation_id}/"), body, format="json").status_code == 404
    response = client_for(ann0).patch(url(team, f"annotations/{annotation_id}/"), body, format="json")
    assert response.status_code == 200
    assert response.data["label_ids"] == [team["labels"]["dog"]]


def test_drafts_survive_until_submit(team):
    ann0 = team["annotators"][0]
    item_id = next_item(ann0, team)
    body = {"label_ids": [team["labels"]["dog"]], "note": "tail visible"}
    assert client_for(ann0).put(url(team, f"items/{item_id}/draft/"), body, format="json").status_code == 204
    again = client_for(ann0).post(url(team, "queue/next/")).data
    assert again["draft"] == body
    submit(ann0, team, item_id)
    assert not client_for(ann0).post(url(team, "queue/next/")).data["draft"]


def test_a_draft_with_another_projects_label_is_refused_and_the_saved_one_kept(team):
    ann0 = team["annotators"][0]
    item_id = next_item(ann0, team)
    saved = {"label_ids": [team["labels"]["dog"]], "note": ""}
    assert client_for(ann0).put(url(team, f"items/{item_id}/draft/"), saved, format="json").status_code == 204
    foreign = Label.objects.filter(project=make_project(owner=team["manager"], name="Elsewhere")).first()

    response = client_for(ann0).put(url(team, f"items/{item_id}/draft/"), {"label_ids": [foreign.id]}, format="json")

    assert response.status_code == 400
    assert f"Not labels of this project: [{foreign.id}]" in str(response.data)
    assert client_for(ann0).post(url(team, "queue/next/")).data["draft"] == saved


def test_overlap_three_hands_one_item_to_three_different_annotators_started_first(team):
    client_for(team["manager"]).patch(url(team), {"overlap": 3}, format="json")
    ann0, ann1, ann2, ann3 = team["annotators"]
    first = next_item(ann0, team)
    submit(ann0, team, first)
    assert next_item(ann0, team) != first  # never the same item twice to one annotator
    assert next_item(ann1, team) == first  # started items first
    assert next_item(ann2, team) == first  # 1 answer + 1 lease: one slot left
    assert next_item(ann3, team) != first  # 1 answer + 2 leases: full
    submit(ann1, team, first)
    submit(ann2, team, first)

    assert Item.objects.get(id=first).status == "done"
    assert Annotation.objects.filter(item_id=first).count() == 3
    assert submit(ann3, team, first).status_code == 409


def test_annotators_work_blind_while_reviewers_see_all_answers(team):
    ann0 = team["annotators"][0]
    item_id = next_item(ann0, team)
    submit(ann0, team, item_id)
    assert client_for(ann0).get(url(team, f"items/{item_id}/annotations/")).status_code == 403
    response = client_for(team["manager"]).get(url(team, f"items/{item_id}/annotations/"))
    assert [a["annotator"] for a in response.data] == ["ann0"]


def test_lowering_overlap_completes_items_that_have_enough(team):
    client_for(team["manager"]).patch(url(team), {"overlap": 2}, format="json")
    ann0 = team["annotators"][0]
    item_id = next_item(ann0, team)
    submit(ann0, team, item_id)
    assert Item.objects.get(id=item_id).status == "open"
    client_for(team["manager"]).patch(url(team), {"overlap": 1}, format="json")
    assert Item.objects.get(id=item_id).status == "done"


def test_a_lapsed_lease_does_not_let_its_holder_take_the_item_back_from_the_new_holder(team):
    ann0, ann1 = team["annotators"][:2]
    item_id = next_item(ann0, team)
    Lease.objects.filter(user=ann0).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert next_item(ann1, team) == item_id

    assert submit(ann0, team, item_id).status_code == 409
    assert submit(ann1, team, item_id).status_code == 201


def test_raising_overlap_does_not_reopen_reviewed_items(team):
    ann0 = team["annotators"][0]
    item_id = next_item(ann0, team)
    submit(ann0, team, item_id)
    review = client_for(team["manager"]).post(url(team, f"items/{item_id}/review/"), {"decision": "accept"})
    assert review.status_code == 201
    client_for(team["manager"]).patch(url(team), {"overlap": 2}, format="json")
    assert Item.objects.get(id=item_id).status == "done"


def test_next_and_submit_each_cost_a_fixed_number_of_queries(team, django_assert_num_queries):
    """The labeling loop's two requests: access (the project and the caller's role in one query), then the queue's
    statements in one transaction, or the answer's writes in one; neither grows with the work already done."""
    ann0 = team["annotators"][0]
    submit(ann0, team, next_item(ann0, team), key="warm-up")  # the process's first request checks migrations
    for round_ in range(2):
        # access · held? · [sent back · raised · head · rest · (PostgreSQL: the free slot re-checked once the row is
        # locked) · lease] · item · its draft, sent-back answer and other models' predictions in one (+ savepoint)
        with django_assert_num_queries(11 + (connection.vendor == "postgresql")):
            item_id = next_item(ann0, team)
        with django_assert_num_queries(12):  # access · [lock · previous · leases · 6 writes] (+ savepoint)
            assert submit(ann0, team, item_id, key=f"k{round_}").status_code == 201
