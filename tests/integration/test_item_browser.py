"""The item browser's API: each filter and sort, keyset paging, the item's story and a reviewer's correction."""

from datetime import timedelta

import pytest
from django.utils import timezone

from active_learning.models import LabelIssue, LearningRun
from active_learning.selectors import final_labels
from annotation.labeling import annotation_skip, item_recount
from annotation.models import Item, ItemEvent, Label, RankedItem, Ranking, Review
from annotation.review import item_review
from tests.factories import Role, UserFactory, add_member, make_annotation, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf():
    """Twelve records r00..r11 of a two-annotator project (overlap 2):
    r00-r03 both annotators say cat; r04 they disagree (cat/dog); r05 both say dog, then a reviewer corrects it
    to cat; r06 ann1 alone says dog; r07-r11 unanswered, r07 skipped by ann2. The current ranking scores
    r07-r11 (r09 most uncertain, the model suggests dog for r10 and r11); the latest ranking flags r01."""
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(owner=manager, name="Pets", data_kind="tabular")
    project.overlap = 2
    project.save(update_fields=["overlap"])
    reviewer, ann1, ann2, annotator = (UserFactory(username=n) for n in ("rita", "ann1", "ann2", "anna"))
    add_member(project, reviewer, Role.REVIEWER)
    for user in (ann1, ann2, annotator):
        add_member(project, user, Role.ANNOTATOR)
    cat, dog = Label.objects.filter(project=project).order_by("id")
    items = [Item.objects.create(project=project, external_id=f"r{n:02}", data={"n": n}) for n in range(12)]
    answers = {0: (cat, cat), 1: (cat, cat), 2: (cat, cat), 3: (cat, cat), 4: (cat, dog), 5: (dog, dog), 6: (dog,)}
    for n, labels in answers.items():
        for user, label in zip((ann1, ann2), labels, strict=False):
            make_annotation(items[n], user, label)
        item_recount(items[n], project)
    item_review(reviewer=reviewer, project=project, item_id=items[5].id, decision="correct", label_ids=[cat.id])
    annotation_skip(user=ann2, project=project, item_id=items[7].id)
    ranking = Ranking.objects.create(project=project, size=5)
    scores = {7: (0.2, 0.9, 0.6), 8: (0.5, 0.1, 0.5), 9: (0.9, 0.3, 0.55), 10: (0.4, 0.5, 0.8), 11: (0.1, 0.7, 0.95)}
    for rank, (n, (uncertainty, novelty, confidence)) in enumerate(scores.items(), start=1):
        suggestion = dog if n >= 10 else cat
        insight = {
            "ranking_run": 1,
            "model_version": 1,
            "rank": rank,
            "picked_by": "uncertainty",
            "reason": "the model is unsure",
            "scores": {"uncertainty": uncertainty, "typicality": 0.5, "novelty": novelty},
            "suggestion": {"label_ids": [suggestion.id], "confidence": confidence},
        }
        RankedItem.objects.create(ranking=ranking, rank=rank, item=items[n], priority=1 - rank / 10, insight=insight)
    project.current_ranking = ranking
    project.save(update_fields=["current_ranking"])
    run = LearningRun.objects.create(project=project, kind=LearningRun.Kind.RANK, reason="labels", status="done")
    LabelIssue.objects.create(
        run=run, item=items[1], given_label_ids=[cat.id], suggested_label_id=dog.id, confidence=0.9, quality=0.1, rank=1
    )
    return {"project": project, "items": items, "cat": cat, "dog": dog, "manager": manager, "reviewer": reviewer,
            "ann1": ann1, "annotator": annotator}  # fmt: skip


def browse(shelf, query: str = "", user=None):
    client = client_for(user or shelf["reviewer"])
    response = client.get(f"/api/v1/projects/{shelf['project'].id}/browse/?{query}")
    assert response.status_code == 200, response.data
    return response.data


def names(data) -> list[str]:
    return [row["external_id"] for row in data["results"]]


def r(*numbers: int) -> list[str]:
    return [f"r{n:02}" for n in numbers]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", r(*range(12))),
        ("status=done", r(0, 1, 2, 3, 4, 5)),
        ("status=open", r(6, 7, 8, 9, 10, 11)),
        ("reviewed=true", r(5)),
        ("disagreement=true", r(4)),
        ("skipped=true", r(7)),
        ("flagged=true", r(1)),
        ("annotator=ann2", r(0, 1, 2, 3, 4, 5)),
        ("search=r1", r(10, 11)),
        ("suggestion={dog}", r(10, 11)),
        ("uncertainty_min=0.4", r(8, 9, 10)),
        ("novelty_min=0.5&novelty_max=0.8", r(10, 11)),
        ("confidence_max=0.6", r(7, 8, 9)),
        ("status=open&skipped=false&uncertainty_max=0.45", r(10, 11)),
    ],
)
def test_each_filter_lists_exactly_the_matching_items(shelf, query, expected):
    query = query.format(dog=shelf["dog"].id, cat=shelf["cat"].id)
    assert names(browse(shelf, query)) == expected


def test_final_label_filter_takes_the_correction_over_the_majority(shelf):
    # r05: both annotators said dog, a reviewer corrected it to cat; r04 is a tie (no final label); r06 has one
    # answer of the two it needs, which is its majority.
    assert names(browse(shelf, f"label={shelf['cat'].id}")) == r(0, 1, 2, 3, 5)
    assert names(browse(shelf, f"label={shelf['dog'].id}")) == r(6)


def test_imported_after_lists_items_made_since_that_moment(shelf):
    moment = timezone.now() - timedelta(days=3)
    Item.objects.filter(id__in=[i.id for i in shelf["items"][:10]]).update(created_at=moment - timedelta(days=1))
    assert names(browse(shelf, f"imported_after={moment.date().isoformat()}")) == r(10, 11)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-id", r(*reversed(range(12)))),
        ("agreement", r(4, 0, 1, 2, 3, 5, 6)),
        ("rank", r(7, 8, 9, 10, 11)),
        ("-uncertainty", r(9, 8, 10, 7, 11)),
        ("-novelty", r(7, 11, 10, 9, 8)),
        ("confidence", r(8, 9, 7, 10, 11)),
    ],
)
def test_sorts_walk_every_page_by_keyset_in_order(shelf, sort, expected):
    seen, cursor, pages = [], "", 0
    while True:
        data = browse(shelf, f"sort={sort}&limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += names(data)
        assert data["count"] == (len(expected) if pages == 0 else None)  # counted with the first page only
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == (len(expected) + 1) // 2


def test_rows_carry_final_label_scores_and_flag(shelf):
    rows = {row["external_id"]: row for row in browse(shelf)["results"]}
    assert rows["r05"]["final_label_ids"] == [shelf["cat"].id]
    assert rows["r04"]["final_label_ids"] == []
    assert rows["r01"]["flagged"] is True
    assert rows["r09"]["model"]["uncertainty"] == 0.9
    assert rows["r09"]["record"] == {"n": 9}
    assert rows["r00"]["model"] is None


def test_a_page_costs_a_fixed_number_of_queries(shelf, django_assert_max_num_queries):
    client = client_for(shelf["reviewer"])
    url = f"/api/v1/projects/{shelf['project'].id}/browse/?limit=200&label={shelf['cat'].id}"
    client.get(url)  # warm the session and the ranking's cache
    with django_assert_max_num_queries(12):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("sort=price", "sort"),
        ("limit=500", "limit"),
        ("uncertainty_min=2", "uncertainty_min"),
        ("label=999999", "label"),
        ("annotator=nobody", "annotator"),
        ("cursor=not-a-cursor", "cursor"),
        ("imported_after=yesterday", "imported_after"),
    ],
)
def test_bad_queries_get_a_400_naming_the_field(shelf, query, field):
    response = client_for(shelf["reviewer"]).get(f"/api/v1/projects/{shelf['project'].id}/browse/?{query}")
    assert response.status_code == 400
    assert field in str(response.data)


def test_a_cursor_of_another_sort_is_refused(shelf):
    cursor = browse(shelf, "sort=-id&limit=2")["next_cursor"]
    response = client_for(shelf["reviewer"]).get(f"/api/v1/projects/{shelf['project'].id}/browse/?cursor={cursor}")
    assert response.status_code == 400


def test_annotators_and_outsiders_cannot_browse(shelf):
    url = f"/api/v1/projects/{shelf['project'].id}/browse/"
    assert client_for(shelf["annotator"]).get(url).status_code == 403
    assert client_for(UserFactory(username="stranger")).get(url).status_code == 404


def test_item_story_shows_final_label_model_view_and_flag(shelf):
    client = client_for(shelf["reviewer"])
    base = f"/api/v1/projects/{shelf['project'].id}/items/"
    flagged = client.get(f"{base}{shelf['items'][1].id}/story/").data
    assert flagged["label_issue"]["suggested_label_id"] == shelf["dog"].id
    assert flagged["final_label_ids"] == [shelf["cat"].id]
    scored = client.get(f"{base}{shelf['items'][10].id}/story/").data
    assert scored["model"]["suggestion"] == [shelf["dog"].id]
    assert scored["model"]["reason"] == "the model is unsure"
    assert client.get(f"{base}{shelf['items'][7].id}/story/").data["skips"] == 1


def test_a_reviewer_corrects_any_item_and_the_correction_is_recorded(shelf):
    item, dog, cat = shelf["items"][0], shelf["dog"], shelf["cat"]
    client = client_for(shelf["reviewer"])
    url = f"/api/v1/projects/{shelf['project'].id}/items/{item.id}/correct/"
    response = client.post(url, {"label_ids": [dog.id], "comment": "the ears say dog"}, format="json")

    assert response.status_code == 201
    item.refresh_from_db()
    assert (item.status, item.review_status) == ("done", "corrected")
    assert ItemEvent.objects.filter(item=item, kind="corrected").get().comment == "the ears say dog"
    assert names(browse(shelf, f"label={dog.id}")) == r(0, 6)
    # Corrected again: the latest correction is the final label.
    assert client.post(url, {"label_ids": [cat.id]}, format="json").status_code == 201
    assert Review.objects.filter(item=item, decision="correct").count() == 2
    assert names(browse(shelf, f"label={dog.id}")) == r(6)
    assert final_labels(shelf["project"])[item.id] == [cat.id]  # what the model trains on agrees


def test_a_correction_needs_the_review_right_and_a_label_of_the_project(shelf):
    item = shelf["items"][0]
    url = f"/api/v1/projects/{shelf['project'].id}/items/{item.id}/correct/"
    assert client_for(shelf["annotator"]).post(url, {"label_ids": [shelf["cat"].id]}, format="json").status_code == 403
    assert client_for(shelf["reviewer"]).post(url, {"label_ids": [999999]}, format="json").status_code == 400
    assert client_for(shelf["reviewer"]).post(url, {"label_ids": []}, format="json").status_code == 400
