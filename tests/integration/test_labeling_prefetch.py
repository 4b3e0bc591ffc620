"""Prefetch on the queue (`POST queue/next/?prefetch=N`): the labeling page shows the next item the moment one is
submitted, because it already holds it."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.db.models import Count
from django.utils import timezone

from annotation.labeling import annotation_submit, items_next_for_user
from annotation.models import Annotation, Item, Label, Lease
from tests.factories import Role, UserFactory, add_member, make_project
from tests.integration.conftest import client_for


@pytest.fixture
def team(db):
    manager = UserFactory(username="manager", is_staff=True)
    project = make_project(owner=manager)
    annotators = [UserFactory(username=f"ann{i}") for i in range(2)]
    for user in annotators:
        add_member(project, user, Role.ANNOTATOR)
    items = [Item.objects.create(project=project, external_id=f"i{n}", priority=float(n)) for n in range(5)]
    cat = Label.objects.get(project=project, name="cat").id
    return {"project": project, "annotators": annotators, "items": items, "cat": cat}


def url(team, tail):
    return f"/api/v1/projects/{team['project'].id}/{tail}"


def prefetch(user, team, n=1):
    return client_for(user).post(url(team, f"queue/next/?prefetch={n}"))


def ids(answer) -> list[int]:
    return [answer.data["item"]["id"]] + [upcoming["item"]["id"] for upcoming in answer.data["upcoming"]]


def submit(user, team, item_id, key):
    body = {"item_id": item_id, "label_ids": [team["cat"]], "client_key": key}
    return client_for(user).post(url(team, "annotations/"), body, format="json")


def test_prefetch_leases_the_next_items_in_queue_order_and_a_reload_returns_the_same(team):
    ann0, ann1 = team["annotators"]
    items = team["items"]
    first = prefetch(ann0, team)

    assert first.status_code == 200
    assert ids(first) == [items[4].id, items[3].id]
    assert set(Lease.objects.filter(user=ann0).values_list("item_id", flat=True)) == {items[4].id, items[3].id}
    assert ids(prefetch(ann0, team)) == [items[4].id, items[3].id]  # a reload: the same two, nothing new leased
    assert Lease.objects.filter(user=ann0).count() == 2
    assert ids(prefetch(ann1, team)) == [items[2].id, items[1].id]  # never an item someone else holds


def test_after_a_submit_the_prefetched_item_comes_first_and_one_more_is_leased(team):
    ann0 = team["annotators"][0]
    shown, upcoming = ids(prefetch(ann0, team))
    assert submit(ann0, team, shown, "k1").status_code == 201

    assert ids(prefetch(ann0, team)) == [upcoming, team["items"][2].id]


def test_without_prefetch_the_answer_is_unchanged(team):
    answer = client_for(team["annotators"][0]).post(url(team, "queue/next/"))
    assert set(answer.data) == {"item", "lease_expires_at", "draft", "predictions"}
    assert Lease.objects.count() == 1


def test_prefetch_near_the_end_returns_what_is_left_then_204(team):
    ann0 = team["annotators"][0]
    Item.objects.filter(id__in=[item.id for item in team["items"][1:]]).update(status="done")
    answer = prefetch(ann0, team, 3)
    assert ids(answer) == [team["items"][0].id]
    assert answer.data["upcoming"] == []
    submit(ann0, team, team["items"][0].id, "last")
    assert prefetch(ann0, team).status_code == 204


def test_prefetch_brings_back_drafts_and_the_undone_item_first(team):
    ann0 = team["annotators"][0]
    shown, upcoming = ids(prefetch(ann0, team))
    submit(ann0, team, shown, "k1")
    assert client_for(ann0).post(url(team, "annotations/undo/")).status_code == 200

    answer = prefetch(ann0, team)
    assert ids(answer)[:2] == [shown, upcoming]
    assert answer.data["draft"]["label_ids"] == [team["cat"]]


def test_a_lapsed_prefetched_lease_is_not_returned_once_someone_else_took_the_item(team):
    ann0, ann1 = team["annotators"]
    shown, upcoming = ids(prefetch(ann0, team))
    Lease.objects.filter(user=ann0, item_id=upcoming).update(expires_at=timezone.now() - timedelta(seconds=1))
    taken = ids(prefetch(ann1, team))
    assert upcoming in taken
    assert upcoming not in ids(prefetch(ann0, team))
    assert shown not in taken


def test_prefetch_is_bounded_and_checked(team):
    assert prefetch(team["annotators"][0], team, 9).status_code == 400


def test_prefetch_reads_a_fixed_number_of_queries(team, django_assert_max_num_queries):
    ann0 = team["annotators"][0]
    prefetch(ann0, team, 3)  # holds four items now
    with django_assert_max_num_queries(14):
        assert len(ids(prefetch(ann0, team, 3))) == 4


@pytest.mark.django_db(transaction=True)
def test_annotators_prefetching_concurrently_never_share_an_item_or_lose_work():
    """4 threads each hold two items, submit the first, ask again, until the queue is empty."""
    project = make_project(owner=UserFactory())
    Item.objects.bulk_create(Item(project=project, external_id=str(n), priority=n % 5) for n in range(40))
    label_id = Label.objects.filter(project=project).first().id
    users = [UserFactory() for _ in range(4)]
    for user in users:
        add_member(project, user, Role.ANNOTATOR)

    def annotate(user) -> list[int]:
        done = []
        try:
            while found := items_next_for_user(user=user, project=project, count=2):
                item, _ = found[0]
                annotation, created = annotation_submit(
                    user=user, project=project, item_id=item.id, label_ids=[label_id], client_key=f"{item.id}"
                )
                assert created
                done.append(annotation.id)
        finally:
            connections.close_all()
        return done

    with ThreadPoolExecutor(len(users)) as pool:
        submitted = [a for batch in pool.map(annotate, users) for a in batch]

    assert len(submitted) == Annotation.objects.count() == 40
    assert set(Annotation.objects.values("item_id").annotate(n=Count("id")).values_list("n", flat=True)) == {1}
    assert not Lease.objects.exists()
