import pytest

from annotation.models import Annotation, Item, ItemEvent, Label
from annotation.selectors import project_progress
from tests.factories import Role, UserFactory, add_member, make_annotation, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated():
    """Four items, each answered by the same three annotators (overlap 3): the textbook example whose
    agreement figures are worked out by hand below."""
    manager = UserFactory(username="manager", is_staff=True)
    project = make_project(owner=manager)
    project.overlap = 3
    project.save()
    reviewer = UserFactory(username="rev")
    add_member(project, reviewer, Role.REVIEWER)
    raters = [UserFactory(username=f"r{i}") for i in range(3)]
    cat, dog = Label.objects.filter(project=project).order_by("id")
    table = [(cat, cat, cat), (dog, dog, cat), (cat, dog, dog), (dog, dog, dog)]
    items = []
    for n, row in enumerate(table):
        item = Item.objects.create(project=project, external_id=f"i{n}", status="done", annotation_count=3)
        for rater, label in zip(raters, row, strict=True):
            make_annotation(item, rater, label)
        items.append(item)
    from annotation.labeling import item_recount

    for item in items:
        item_recount(item, project)
    return {"project": project, "manager": manager, "reviewer": reviewer, "items": items, "cat": cat, "dog": dog}


def url(rated, tail):
    return f"/api/v1/projects/{rated['project'].id}/{tail}"


def test_item_agreement_is_the_majority_share(rated):
    assert [round(item.agreement, 4) for item in Item.objects.order_by("id")] == [1.0, 0.6667, 0.6667, 1.0]


def test_project_agreement_matches_hand_computed_values(rated):
    data = client_for(rated["reviewer"]).get(url(rated, "agreement/")).data

    # Fleiss: P-bar = (1 + 1/3 + 1/3 + 1) / 4 = 2/3; P-e = (5/12)^2 + (7/12)^2 = 74/144; kappa = 0.3143.
    assert data["fleiss_kappa"] == pytest.approx(0.3143, abs=1e-4)
    # Krippendorff (nominal): 1 - (n - 1) * D_o / sum n_c n_k = 1 - 11 * 4 / 70 = 0.3714.
    assert data["alpha"] == pytest.approx(0.3714, abs=1e-4)
    pairs = {tuple(p["annotators"]): p["cohen_kappa"] for p in data["pairs"]}
    r0, r1, _ = sorted({a for p in pairs for a in p})
    # r0 = [c, d, c, d], r1 = [c, d, d, d]: p_o = 3/4, p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2, kappa = 0.5.
    assert pairs[(r0, r1)] == pytest.approx(0.5)
    assert data["items"] == 4
    assert data["annotators"] == 3


def test_review_queue_puts_disagreements_first(rated):
    data = client_for(rated["reviewer"]).get(url(rated, "review/queue/")).data
    agreements = [Item.objects.get(id=row["id"]).agreement for row in data["results"]]
    assert agreements == sorted(agreements)
    assert data["count"] == 4
    assert client_for(rated["reviewer"]).get(url(rated, "review/queue/?order=bogus")).status_code == 400


def test_reject_needs_a_comment_and_sends_the_item_back_to_the_queue(rated):
    item = rated["items"][1]
    reviewer = client_for(rated["reviewer"])
    assert reviewer.post(url(rated, f"items/{item.id}/review/"), {"decision": "reject"}).status_code == 400
    response = reviewer.post(url(rated, f"items/{item.id}/review/"), {"decision": "reject", "comment": "Look again"})

    assert response.status_code == 201
    item.refresh_from_db()
    assert (item.status, item.annotation_count, item.review_status) == ("open", 0, "unreviewed")
    assert Annotation.objects.filter(item=item, status="rejected").count() == 3
    assert ItemEvent.objects.filter(item=item, kind="rejected").get().comment == "Look again"
    rater = Annotation.objects.filter(item=item).first().annotator
    add_member(rated["project"], rater, Role.ANNOTATOR)
    queued = client_for(rater).post(url(rated, "queue/next/")).data["item"]["id"]
    assert queued == item.id  # the same annotators may answer again


def test_correct_sets_the_final_label_and_accept_keeps_consensus(rated):
    reviewer = client_for(rated["reviewer"])
    first, second = rated["items"][0], rated["items"][2]
    corrected = reviewer.post(
        url(rated, f"items/{second.id}/review/"), {"decision": "correct", "label_ids": [rated["cat"].id]}, format="json"
    )
    accepted = reviewer.post(url(rated, f"items/{first.id}/review/"), {"decision": "accept"})
    again = reviewer.post(url(rated, f"items/{first.id}/review/"), {"decision": "accept"})

    assert (corrected.status_code, accepted.status_code, again.status_code) == (201, 201, 409)
    assert Item.objects.get(id=second.id).review_status == "corrected"
    assert client_for(rated["reviewer"]).get(url(rated, "review/queue/")).data["count"] == 2


def test_annotators_cannot_review(rated):
    annotator = Annotation.objects.first().annotator
    add_member(rated["project"], annotator, Role.ANNOTATOR)
    response = client_for(annotator).post(url(rated, f"items/{rated['items'][0].id}/review/"), {"decision": "accept"})
    assert response.status_code == 403


def test_progress_counts_with_a_fixed_number_of_queries(rated, django_assert_num_queries):
    with django_assert_num_queries(4):
        progress = project_progress(project=rated["project"])
    assert progress["by_status"]["done"] == 4
    assert {row["name"]: row["annotations"] for row in progress["by_label"]} == {"cat": 5, "dog": 7}
    assert [row["annotations"] for row in progress["by_annotator"]] == [4, 4, 4]
    assert progress["labels_last_hour"] == 12


def test_final_label_is_the_correction_else_the_majority(rated):
    import io
    import json

    from annotation.io import exporters

    cat, dog = rated["cat"].name, rated["dog"].name
    third = rated["items"][2]
    client_for(rated["reviewer"]).post(
        url(rated, f"items/{third.id}/review/"), {"decision": "correct", "label_ids": [rated["cat"].id]}, format="json"
    )
    tie = Item.objects.create(project=rated["project"], external_id="tie", content_hash="tie")
    make_annotation(tie, UserFactory(), rated["cat"])
    make_annotation(tie, UserFactory(), rated["dog"])
    out = io.BytesIO()
    exporters.write(rated["project"], "jsonl", {}, out)
    final = {row["external_id"]: row["label"] for row in map(json.loads, out.getvalue().splitlines())}

    assert final["i0"] == cat  # unanimous (a single-label project's label is one name)
    assert final["i1"] == dog  # 2 of 3
    assert final["i2"] == cat  # the majority said dog; the reviewer's correction wins
    assert final["tie"] is None  # a tie has no final label
