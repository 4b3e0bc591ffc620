"""The queue while rankings commit beside it: annotators are never told "empty" while open items remain, never
wait on a ranking being written, and see the old order or the new, never a mix. Real worker processes, both
databases."""

import signal
import threading
import time

import numpy as np
import pytest
from django.db import connection, connections

from active_learning import services, training
from active_learning.models import LearningRun
from annotation.models import Annotation, DataKind, Item, ItemStatus, Project, RankedItem, Ranking, Role
from annotation.schemas import ItemInsight
from core.db import write_transaction
from tests.factories import UserFactory, add_member, make_project
from tests.integration.conftest import client_for
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
COLUMNS = [f"x{j}" for j in range(6)]


def blobs_project(owner, n_items: int, batch_size: int = 5) -> Project:
    """A table of three well-separated classes (the label is the blob's index, kept in external_id)."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, n_items)
    X = rng.normal(size=(n_items, len(COLUMNS))) + 4.0 * np.eye(3, len(COLUMNS))[truth]
    project = make_project(
        owner=owner,
        name="Blobs",
        data_kind=DataKind.TABULAR,
        labels=[{"name": f"blob {c}"} for c in range(3)],
        feature_columns=COLUMNS,
    )
    project.columns = [{"name": name, "type": "numeric"} for name in COLUMNS]
    project.save(update_fields=["columns"])
    Item.objects.bulk_create(
        Item(project=project, external_id=f"blob-{t}-{i}", data=dict(zip(COLUMNS, row.tolist(), strict=True)))
        for i, (t, row) in enumerate(zip(truth, X, strict=True))
    )
    client_for(owner).put(
        f"/api/v1/projects/{project.id}/learning/strategy/", {"batch_size": batch_size}, format="json"
    )
    return project


def rankings_done(project) -> int:
    return LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK, status="done").count()


def annotators(project, n: int):
    users = [UserFactory(username=f"annotator{k}") for k in range(n)]
    for user in users:
        add_member(project, user, Role.ANNOTATOR)
    return users


def label_loop(
    project, user, cycles: int, answers: list, empties: list, latencies: list, until=None, pause_s: float = 0
) -> None:
    """One annotator: next -> submit with the true label, `cycles` times (or until `until()` holds), over the API,
    pausing `pause_s` after each answer."""
    api = client_for(user)
    labels = list(project.labels.order_by("position").values_list("id", flat=True))
    try:
        for cycle in range(cycles):
            if until is not None and until():
                break
            started = time.monotonic()
            served = api.post(f"/api/v1/projects/{project.id}/queue/next/")
            latencies.append(("next", time.monotonic() - started))
            assert served.status_code in (200, 204), served.content
            if served.status_code == 204:
                empties.append(Item.objects.filter(project=project, status=ItemStatus.OPEN).count())
                continue
            item = served.json()["item"]
            started = time.monotonic()
            submit = api.post(
                f"/api/v1/projects/{project.id}/annotations/",
                {
                    "item_id": item["id"],
                    "label_ids": [labels[int(item["external_id"].split("-")[1])]],
                    "client_key": f"{user.id}-{cycle}",
                },
                format="json",
            )
            latencies.append(("submit", time.monotonic() - started))
            answers.append((item["id"], submit.status_code))
            time.sleep(pause_s)
    finally:
        connection.close()


def test_the_queue_never_says_empty_while_rankings_commit(celery_worker, personas, settings):
    # These annotators loop far faster than people, whom the per-user rate limit is sized for.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "100000/min"},
    }
    project = blobs_project(personas.manager, n_items=3000)
    services.training_run_request(project=project, reason="request", user=personas.manager)
    wait_until(lambda: rankings_done(project) >= 1, 120, "the first ranking")
    users = annotators(project, 4)
    before = rankings_done(project)

    def three_rankings_committed():
        return rankings_done(project) - before >= 3

    answers, empties, latencies = [], [], []
    # Up to 700 answers each (2,800 of the 3,000 items), a pause of 50 ms after each so that the rankings' worker
    # gets its share of a loaded machine's cores.
    threads = [
        threading.Thread(
            target=label_loop,
            args=(project, user, 700, answers, empties, latencies, three_rankings_committed, 0.05),
        )
        for user in users
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert three_rankings_committed(), "fewer than three rankings committed while the annotators worked"
    assert empties == [], f"told 'empty' with {empties} open items left"
    assert {status for _, status in answers} == {201}
    assert len({item_id for item_id, _ in answers}) == len(answers)  # no item handed to two annotators
    assert Annotation.objects.filter(item__project=project).count() == len(answers)


def test_a_ranking_being_made_current_locks_no_item_the_queue_serves(personas):
    """The swap is one small transaction that touches no item row: held open, annotators still get items and
    submit (on PostgreSQL; SQLite has one writer at a time, so there the swap must simply be short)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises every write transaction; the swap's length is what matters there")
    project = blobs_project(personas.manager, n_items=600)
    embed = services.training_run_request(project=project, reason="request", user=personas.manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    rank = LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK).latest("id")
    inside, release = threading.Event(), threading.Event()
    finish = training._finish

    def finish_and_hold(writes, result, **fields):  # the last write of the swap transaction, held open
        done = finish(writes, result, **fields)
        inside.set()
        release.wait(30)
        return done

    def rank_in_background():
        try:
            training.rank_run_execute(run_id=rank.id)
        finally:
            connections.close_all()

    training._finish = finish_and_hold
    worker = threading.Thread(target=rank_in_background)
    try:
        worker.start()
        assert inside.wait(120), "the ranking never reached its swap"
        answers, empties, latencies = [], [], []
        for user in annotators(project, 3):
            label_loop(project, user, 3, answers, empties, latencies)
    finally:
        release.set()
        worker.join(60)
        training._finish = finish
    assert empties == []
    assert {status for _, status in answers} == {201}
    assert max(seconds for _, seconds in latencies) < 2.0, latencies
    project.refresh_from_db()
    assert project.current_ranking.run_id == rank.id


def _insight(rank: int) -> dict:
    """What a ranking stores for an item at this rank, before any model (schemas.ItemInsight)."""
    return ItemInsight(
        ranking_run=1,
        model_version=None,
        rank=rank,
        picked_by="score",
        reason="ranked by the strategy's score",
        scores={"novelty": 0.5},
        suggestion=None,
    ).model_dump(mode="json")


def test_the_queue_serves_the_current_ranking_in_order_and_then_every_other_open_item(personas):
    project = blobs_project(personas.manager, n_items=30)
    items = list(Item.objects.filter(project=project).order_by("id"))
    old = Ranking.objects.create(project=project, run_id=None, size=2)
    new = Ranking.objects.create(project=project, run_id=None, size=3)
    for ranking, head in ((old, items[:2]), (new, [items[7], items[3], items[5]])):
        RankedItem.objects.bulk_create(
            RankedItem(ranking=ranking, rank=r, item=item, priority=1.0 - r / 10, insight=_insight(r))
            for r, item in enumerate(head, start=1)
        )
    Project.objects.filter(id=project.id).update(current_ranking=new)
    api = client_for(personas.manager)

    served = []
    for _ in range(5):
        item = api.post(f"/api/v1/projects/{project.id}/queue/next/").json()["item"]
        served.append((item["id"], item["insight"]))
        labels = list(project.labels.values_list("id", flat=True))
        api.post(
            f"/api/v1/projects/{project.id}/annotations/",
            {"item_id": item["id"], "label_ids": labels[:1]},
            format="json",
        )
    assert served[:3] == [(items[7].id, _insight(1)), (items[3].id, _insight(2)), (items[5].id, _insight(3))]
    assert served[3:] == [(items[0].id, None), (items[1].id, None)]  # beyond the head: by priority, then id


def test_old_rankings_are_pruned_and_the_replaced_one_is_kept(personas):
    project = blobs_project(personas.manager, n_items=200)
    embed = services.training_run_request(project=project, reason="request", user=personas.manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    made = []
    for _ in range(3):
        run = LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK).latest("id")
        if run.status != "queued":
            run = services.ranking_request(project=project, reason="request")
        training.rank_run_execute(run_id=run.id)
        made.append(run.id)
    project.refresh_from_db()
    kept = list(Ranking.objects.filter(project=project).order_by("id").values_list("run_id", flat=True))
    assert kept == made[-2:]
    assert project.current_ranking.run_id == made[-1]
    assert RankedItem.objects.filter(ranking__project=project).count() == 2 * 200


def test_a_worker_frozen_mid_ranking_does_not_delay_submits(start_worker, personas):
    """Frozen while it computes (on SQLite a process frozen inside a write holds every writer until the lock
    timeout answers 503: the ranking's writes are kept to milliseconds for that reason)."""
    project = blobs_project(personas.manager, n_items=20_000, batch_size=5)
    worker = start_worker()
    services.training_run_request(project=project, reason="request", user=personas.manager)
    wait_until(lambda: rankings_done(project) >= 1, 240, "the first ranking")
    rank = services.ranking_request(project=project, reason="request")
    wait_until(lambda: LearningRun.objects.filter(id=rank.id, status="running").exists(), 120, "the ranking under way")
    # On SQLite this holds the write queue and the write lock: the worker is frozen outside a write of its own.
    with write_transaction():
        worker.send_signal(signal.SIGSTOP)
    try:
        answers, empties, latencies = [], [], []
        for user in annotators(project, 2):
            label_loop(project, user, 5, answers, empties, latencies)
    finally:
        worker.send_signal(signal.SIGCONT)
    assert empties == []
    assert {status for _, status in answers} == {201}
    assert max(seconds for _, seconds in latencies) < 2.0, latencies


def test_submits_completing_a_batch_together_queue_one_ranking(personas):
    """Concurrent requests each pass the "is one pending?" read before any has written: the database keeps one."""
    project = blobs_project(personas.manager, n_items=50)
    embed = services.training_run_request(project=project, reason="request", user=personas.manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK).delete()
    start, made = threading.Barrier(6), []

    def request():
        try:
            start.wait()
            made.append(services.ranking_request(project=project, reason="labels").id)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(made) == 6
    assert set(made) == set(LearningRun.objects.filter(project=project, kind="rank").values_list("id", flat=True))
    assert len(set(made)) == 1
