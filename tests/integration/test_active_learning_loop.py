"""Active learning inside Loupe, with real Celery worker processes: train -> embed -> rank -> label a batch ->
re-rank, a worker killed mid-run, duplicated deliveries, and a broker that goes away."""

import hashlib
import json
import signal
import socket
import subprocess
import time

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.datasets import load_digits, load_wine

from active_learning import services, training
from active_learning.models import LabelIssue, LearningRun, ModelVersion
from active_learning.tasks import run_rank
from annotation.demo import _wine, digit_png
from annotation.models import Annotation, Item, JobStatus, Role
from annotation.schemas import ItemInsight
from tests.factories import add_member, make_project, most_novel_items
from tests.integration.conftest import client_for
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
WINE = load_wine().target


def done_run(project, kind, after_id=0, timeout=90.0):
    def check():
        run = LearningRun.objects.filter(project=project, kind=kind, id__gt=after_id).order_by("-id").first()
        if run is not None and run.status == JobStatus.FAILED:
            pytest.fail(f"{kind} run failed: {run.failure}")
        return run if run is not None and run.status == JobStatus.DONE else None

    return wait_until(check, timeout, f"a finished {kind} run")


def truth(item) -> int:
    return int(WINE[int(item.external_id.split("-")[1])])


def label_ids(project):
    return [label.id for label in project.labels.order_by("position")]


def test_the_loop_runs_end_to_end_with_a_real_worker(celery_worker, personas):
    """import -> embed -> rank -> label a batch through the API -> the queue serves the new ranking."""
    manager = personas.user("manager")
    cultivars = [{"name": f"cultivar {c}"} for c in range(3)]
    project = make_project(owner=manager, name="Wine", data_kind="tabular", labels=cultivars)
    api = client_for(manager)
    assert (
        api.put(f"/api/v1/projects/{project.id}/learning/strategy/", {"batch_size": 5}, format="json").status_code
        == 200
    )
    wine = load_wine(as_frame=True).frame.drop(columns="target")
    wine.insert(0, "id", [f"wine-{i:03d}" for i in range(len(wine))])
    upload = SimpleUploadedFile("wine.csv", wine.to_csv(index=False).encode())
    answer = api.post(
        f"/api/v1/projects/{project.id}/imports/",
        {"files": [upload], "options": json.dumps({"id_column": "id"})},
        format="multipart",
    )
    assert answer.status_code == 202, answer.content

    embed = done_run(project, LearningRun.Kind.EMBED)  # asked for by the import, once its items were in
    assert embed.reason == "import"
    assert embed.n_items == 178
    assert embed.artifact
    first = done_run(project, LearningRun.Kind.RANK)
    assert len(first.result["batch_item_ids"]) == 5

    labels = label_ids(project)
    for _ in range(5):  # label one batch through the API, item by item as the queue hands them out
        served = api.post(f"/api/v1/projects/{project.id}/queue/next/").json()["item"]
        assert served["insight"]["ranking_run"] == first.id
        assert served["id"] in first.result["batch_item_ids"]
        item = Item.objects.get(id=served["id"])
        submit = api.post(
            f"/api/v1/projects/{project.id}/annotations/",
            {"item_id": item.id, "label_ids": [labels[truth(item)]], "client_key": f"k{item.id}"},
            format="json",
        )
        assert submit.status_code == 201, submit.content

    second = done_run(project, LearningRun.Kind.RANK, after_id=first.id)
    assert second.reason == "labels"
    assert second.n_labels == 5
    served = api.post(f"/api/v1/projects/{project.id}/queue/next/").json()["item"]
    assert served["insight"]["ranking_run"] == second.id
    assert served["id"] == second.result["batch_item_ids"][0]
    status = api.get(f"/api/v1/projects/{project.id}/learning/").json()
    assert status["stale"] is False, status["stale_reason"]
    assert status["budget"]["used"] == 5


def test_a_duplicated_delivery_changes_nothing(celery_worker, personas):
    manager = personas.user("manager")
    project = _wine(manager)
    labels = label_ids(project)
    for item in list(Item.objects.filter(project=project).order_by("id"))[::6]:  # every cultivar
        Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set([labels[truth(item)]])
        Item.objects.filter(id=item.id).update(annotation_count=1, status="done")
    embed = LearningRun.objects.create(project=project, kind=LearningRun.Kind.EMBED, reason="request")
    training.embed_run_execute(run_id=embed.id)  # in this process; its ranking is queued but not yet sent:
    LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK).delete()
    first = LearningRun.objects.create(
        project=project, kind=LearningRun.Kind.RANK, reason="request", embedding=embed
    )  # so that the worker sees only the deliveries below
    run_rank.delay(first.id)
    run_rank.delay(first.id)  # the same message delivered twice
    done = done_run(project, LearningRun.Kind.RANK)
    assert done.id == first.id
    snapshot = list(
        Item.objects.with_ranking().filter(project=project).order_by("id").values_list("ranked_priority", "insight")
    )
    run_rank(first.id)  # and once more after it finished, run here: what follows checks a delivery that ran
    done.refresh_from_db()
    assert done.attempts == 1
    assert done.status == JobStatus.DONE
    assert ModelVersion.objects.filter(project=project).count() == 1
    assert (
        list(
            Item.objects.with_ranking().filter(project=project).order_by("id").values_list("ranked_priority", "insight")
        )
        == snapshot
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_redis_broker(celery_broker):
    """A Redis server of this test's own as the broker, so that stopping it disturbs nobody else."""
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    wait_until(
        lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG",
        10,
        "redis",
    )
    celery_broker(f"redis://127.0.0.1:{port}/0")
    yield server
    if server.poll() is None:
        server.kill()


def test_with_the_broker_down_labeling_goes_on_and_training_answers_503(private_redis_broker, personas):
    manager, annotator = personas.user("manager"), personas.user("annotator")
    project = _wine(manager)
    add_member(project, annotator, Role.ANNOTATOR)
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    training.rank_run_execute(run_id=LearningRun.objects.get(project=project, kind=LearningRun.Kind.RANK).id)
    api = client_for(manager)
    assert api.post(f"/api/v1/projects/{project.id}/learning/rank/").status_code == 202  # the broker is up

    private_redis_broker.send_signal(signal.SIGTERM)
    private_redis_broker.wait(timeout=10)

    refused = api.post(f"/api/v1/projects/{project.id}/learning/train/")
    assert refused.status_code == 503
    assert "broker is unreachable" in refused.json()["detail"]
    failed = LearningRun.objects.filter(project=project, kind=LearningRun.Kind.EMBED).order_by("-id").first()
    assert failed.status == JobStatus.FAILED
    assert "broker" in failed.failure

    labeler = client_for(annotator)
    labels = label_ids(project)
    for _ in range(12):  # past a batch: the ranking it asks for cannot be sent, and labeling does not notice
        started = time.monotonic()
        item = labeler.post(f"/api/v1/projects/{project.id}/queue/next/").json()["item"]
        submit = labeler.post(
            f"/api/v1/projects/{project.id}/annotations/",
            {"item_id": item["id"], "label_ids": [labels[0]]},
            format="json",
        )
        assert submit.status_code == 201
        assert time.monotonic() - started < 5
    assert Annotation.objects.filter(item__project=project).count() == 12
    status = labeler.get(f"/api/v1/projects/{project.id}/learning/").json()
    assert status["stale"] is True
    assert status["stale_reason"]


def test_a_strategy_change_takes_effect_on_the_next_ranking(personas):
    manager = personas.user("manager")
    project = _wine(manager)
    api = client_for(manager)
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    first = LearningRun.objects.get(project=project, kind=LearningRun.Kind.RANK)
    training.rank_run_execute(run_id=first.id)
    first.refresh_from_db()
    assert first.result["strategy"] == "adaptive"

    answer = api.put(
        f"/api/v1/projects/{project.id}/learning/strategy/",
        {"strategy": "novelty", "batch_size": 7, "budget": 100},
        format="json",
    )
    assert answer.status_code == 200
    assert answer.json()["version"] == 1
    following = LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK).order_by("-id").first()
    assert following.id != first.id
    assert following.reason == "strategy"
    training.rank_run_execute(run_id=following.id)
    following.refresh_from_db()
    assert following.result["strategy"] == "novelty"
    assert len(following.result["batch_item_ids"]) == 7
    batch = Item.objects.filter(id__in=following.result["batch_item_ids"])
    assert {item.insight["picked_by"] for item in batch} == {"novelty"}
    history = api.get(f"/api/v1/projects/{project.id}/learning/strategy/history/").json()
    assert [h["spec"]["strategy"] for h in history] == ["novelty"]

    bad = api.put(f"/api/v1/projects/{project.id}/learning/strategy/", {"strategy": "mix"}, format="json")
    assert bad.status_code == 400
    assert "mix" in str(bad.json())


def test_the_why_scores_and_suggestions_are_the_engines(personas):
    """What the API shows for each item is what the engine computes from the same arrays."""
    from active_learning import artifacts
    from active_learning.core.ranking import rank_pool, strategy_from_spec

    manager = personas.user("manager")
    project = _wine(manager)
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    labels = label_ids(project)
    for item in Item.objects.filter(project=project).order_by("?")[:40]:
        Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set([labels[truth(item)]])
        Item.objects.filter(id=item.id).update(annotation_count=1, status="done")
    run = services.ranking_request(project=project, reason="request")
    training.rank_run_execute(run_id=run.id)

    embed.refresh_from_db()
    arrays = artifacts.load(embed.artifact)
    idx, y, _ = training.training_labels(project, arrays["item_ids"])
    strategy = strategy_from_spec("adaptive", random_state=0, data_kind="tabular").fit(arrays["embedding"])
    expected = rank_pool(
        strategy,
        training.ranking_classifier(0),
        arrays["features"],
        idx,
        y,
        10,
        arrays["reconstruction_error"],
        arrays["typicality"],
    )
    shown = dict(Item.objects.with_ranking().filter(project=project).values_list("id", "insight"))
    labeled_ids = set(arrays["item_ids"][idx].tolist())
    for position, item_id in enumerate(arrays["item_ids"].tolist()):
        insight = shown[item_id]
        if item_id in labeled_ids:
            continue
        for name in ("uncertainty", "typicality", "novelty"):
            assert insight["scores"][name] == pytest.approx(float(expected.why[name][position]), abs=1e-4)
        best = int(np.argmax(expected.proba[position]))
        assert insight["suggestion"]["label_ids"] == [int(expected.classes[best])]
        assert insight["suggestion"]["confidence"] == pytest.approx(float(expected.proba[position, best]), abs=1e-4)
    labeled = set(arrays["item_ids"][idx].tolist())
    assert all(shown[i] is None for i in labeled)  # no suggestion shown for what is labeled already
    head = sorted((insight for insight in shown.values() if insight), key=lambda insight: insight["rank"])
    assert all(ItemInsight.model_validate(insight).explanation for insight in head)
    strategy = [insight["percentiles"]["strategy"] for insight in head]
    assert strategy == sorted(strategy, reverse=True)  # the queue's own order, as percentiles of the pool
    uncertain = [insight for insight in head if insight["picked_by"] == "uncertainty"]
    assert uncertain
    assert all("the model splits" in insight["explanation"] for insight in uncertain)
    spread = {round(insight["percentiles"]["uncertainty"], 2) for insight in head}
    assert len(spread) > len(head) / 2  # percentiles tell the items apart
    batch = [int(arrays["item_ids"][i]) for i in expected.batch]
    assert LearningRun.objects.get(id=run.id).result["batch_item_ids"] == batch
    assert [shown[i]["rank"] for i in batch] == list(range(1, 11))
    version = ModelVersion.objects.get(project=project)
    assert version.n_labels == 40
    assert 0.5 < version.cv_accuracy <= 1.0
    assert set(version.per_class) == {str(label) for label in labels}


def test_the_simulator_picks_the_batch_the_worker_ranks_first_on_the_same_arrays(personas):
    """The library and the simulator choose a batch as the workers do: cold, and after labels."""
    from active_learning import artifacts
    from active_learning.core.ranking import strategy_from_spec
    from active_learning.core.selector import ActiveSelector

    manager = personas.user("manager")
    project = _wine(manager)
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    embed.refresh_from_db()
    assert [run["collapsed"] for run in embed.result["training_runs"]] == [None]  # trained once, and it took
    arrays = artifacts.load(embed.artifact)
    # As the simulator fits a strategy's selector on a pool: the stored embedding, no autoencoder of its own.
    selector = ActiveSelector(
        "tabular",
        strategy=strategy_from_spec("adaptive", random_state=0, data_kind="tabular"),
        classifier=training.ranking_classifier(0),
        random_state=0,
    ).fit(
        arrays["features"],
        embedding=arrays["embedding"],
        reconstruction_error=arrays["reconstruction_error"],
        typicality=arrays["typicality"],
    )
    cold = LearningRun.objects.get(project=project, kind=LearningRun.Kind.RANK)
    training.rank_run_execute(run_id=cold.id)
    cold.refresh_from_db()
    assert cold.result["phase"] == "cold_start"
    assert cold.result["batch_item_ids"] == arrays["item_ids"][selector.next_batch([], [], 10)].tolist()

    labels = label_ids(project)
    for item in Item.objects.filter(project=project).order_by("?")[:30]:
        Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set([labels[truth(item)]])
        Item.objects.filter(id=item.id).update(annotation_count=1, status="done")
    warm = services.ranking_request(project=project, reason="request")
    training.rank_run_execute(run_id=warm.id)
    warm.refresh_from_db()
    idx, y, _ = training.training_labels(project, arrays["item_ids"])
    batch = selector.next_batch(idx, y, 10)
    assert warm.result["phase"] == selector.ranking_.phase == "uncertainty"
    assert warm.result["batch_item_ids"] == arrays["item_ids"][batch].tolist()


def test_an_embedding_stored_with_unscaled_features_ranks_as_a_current_one(personas):
    """Embeddings stored before the classifier's input was standardized over the pool (an image project's raw
    embedding) give the same ranking and suggestions: the worker standardizes the stored features over the pool."""
    from active_learning import artifacts

    manager = personas.user("manager")
    project = _wine(manager)
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    labels = label_ids(project)
    for item in Item.objects.filter(project=project).order_by("id")[::4]:
        Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set([labels[truth(item)]])
        Item.objects.filter(id=item.id).update(annotation_count=1, status="done")

    def rank():
        run = services.ranking_request(project=project, reason="request")
        training.rank_run_execute(run_id=run.id)
        assert LearningRun.objects.get(id=run.id).status == JobStatus.DONE
        ranked = Item.objects.with_ranking().filter(project=project, ranked_priority__isnull=False)
        return dict(ranked.values_list("id", "ranked_priority"))

    current = rank()
    embed.refresh_from_db()
    arrays = dict(artifacts.load(embed.artifact))
    rng = np.random.default_rng(0)
    arrays["features"] = arrays["features"] * rng.uniform(5, 50, arrays["features"].shape[1]) + 3.0  # unscaled
    stored = artifacts.save(project_id=project.id, run_id=embed.id, attempt=embed.attempts, name="embed", **arrays)
    LearningRun.objects.filter(id=embed.id).update(artifact=stored)

    assert rank() == pytest.approx(current, abs=1e-4)


def test_an_image_projects_ranking_uses_the_image_default(personas):
    """The worker tunes the adaptive strategy for the project's kind: on images each group's pick weighs typicality."""
    manager = personas.user("manager")
    project = make_project(owner=manager, name="Digits", labels=[{"name": str(d)} for d in range(10)])
    digits = load_digits()
    labels = label_ids(project)
    for index, pixels in enumerate(digits.images[:200]):
        png = digit_png(pixels)
        item = Item(project=project, external_id=f"digit-{index}", content_hash=hashlib.sha256(png).hexdigest())
        item.image.save(f"d{index}.png", ContentFile(png), save=False)
        item.save()
        if index < 30:
            Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set(
                [labels[int(digits.target[index])]]
            )
            Item.objects.filter(id=item.id).update(annotation_count=1, status="done")
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    run = LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK).order_by("-id").first()
    training.rank_run_execute(run_id=run.id)

    batch = Item.objects.filter(id__in=LearningRun.objects.get(id=run.id).result["batch_item_ids"])
    reasons = sorted(item.insight["reason"] for item in batch)
    assert len(reasons) == 10
    assert reasons[:9] == ["margin, diversified, representative"] * 9, reasons
    assert reasons[9].startswith("novelty")


def test_the_engine_reads_the_labels_oldest_first(personas):
    """Which label found each class is part of the strategy's input, so labels come in the order they were given."""
    manager = personas.user("manager")
    project = _wine(manager)
    labels = label_ids(project)
    items = list(Item.objects.filter(project=project).order_by("id")[:6])
    for item in reversed(items):  # the last item is answered first
        Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set([labels[truth(item)]])
        Item.objects.filter(id=item.id).update(annotation_count=1, status="done")
    item_ids = np.array(list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True)))

    idx, y, _ = training.training_labels(project, item_ids)

    assert item_ids[idx].tolist() == [item.id for item in reversed(items)]
    assert y.tolist() == [labels[truth(item)] for item in reversed(items)]


def test_a_ranking_says_when_exploration_stopped_finding_classes(personas):
    """The most novel labeled items found no new class: the next ranking gives its novelty share to uncertainty,
    and the project's learning status says so."""
    manager = personas.user("manager")
    project = _wine(manager)
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    novel = most_novel_items(project, 4)
    items = {item.id: item for item in Item.objects.filter(project=project)}
    others = [item for item in items.values() if item not in novel]
    # One label per cultivar first, from outside the top of the novelty ranking: what comes after finds nothing new.
    first = [next(item for item in others if truth(item) == c) for c in range(3)]
    labels = label_ids(project)
    api = client_for(manager)

    def label_and_rank(batch):
        for item in batch:
            Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set([labels[truth(item)]])
            Item.objects.filter(id=item.id).update(annotation_count=1, status="done")
        run = services.ranking_request(project=project, reason="request")
        training.rank_run_execute(run_id=run.id)
        run.refresh_from_db()
        return run.result["phase"], [Item.objects.get(id=i).insight["reason"] for i in run.result["batch_item_ids"]]

    phase, reasons = label_and_rank(first + novel[:2])  # two novel items are too few to judge
    assert phase == "uncertainty"
    assert any(reason.startswith("novelty") for reason in reasons)

    phase, reasons = label_and_rank(novel[2:])  # the last three of the top four found no new class
    assert phase == "uncertainty, exploration paused"
    assert not any(reason.startswith("novelty") for reason in reasons)
    assert api.get(f"/api/v1/projects/{project.id}/learning/").json()["ranking_phase"] == phase


def test_confidently_wrong_labels_go_to_review(personas):
    manager = personas.user("manager")
    project = _wine(manager)
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    labels = label_ids(project)
    items = list(Item.objects.filter(project=project).order_by("id"))
    wrong = {3: 2, 100: 2, 140: 0}  # item position -> a wrong cultivar, in three different cultivars
    flipped = {items[i].id for i in wrong}
    for position, item in enumerate(items):
        given = wrong.get(position, truth(item))
        Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set([labels[given]])
    Item.objects.filter(project=project).update(annotation_count=1, status="done")
    run = services.ranking_request(project=project, reason="request")
    training.rank_run_execute(run_id=run.id)
    found = set(LabelIssue.objects.filter(run=run).values_list("item_id", flat=True))
    assert len(found & flipped) >= 2, (found, flipped)
    assert len(found) <= 10  # a second look for a few, not for everything
    answer = client_for(manager).get(f"/api/v1/projects/{project.id}/learning/label-issues/").json()
    assert {row["item"]["id"] for row in answer["results"]} == found


def test_learning_endpoints_respect_roles(personas):
    manager, annotator, outsider = personas.user("manager"), personas.user("annotator"), personas.user("outsider")
    project = _wine(manager)
    add_member(project, annotator, Role.ANNOTATOR)
    url = f"/api/v1/projects/{project.id}/learning/"
    assert client_for(annotator).get(url).status_code == 200
    assert client_for(annotator).put(url + "strategy/", {"batch_size": 3}, format="json").status_code == 403
    assert client_for(annotator).post(url + "train/").status_code == 403
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(outsider).get(url + "map/").status_code == 404


def test_the_map_and_novelty_lists_show_the_latest_ranking(personas):
    manager = personas.user("manager")
    project = _wine(manager)
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    run = LearningRun.objects.get(project=project, kind=LearningRun.Kind.RANK)
    training.rank_run_execute(run_id=run.id)
    run.refresh_from_db()
    api = client_for(manager)
    points = api.get(f"/api/v1/projects/{project.id}/learning/map/").json()["points"]
    assert len(points) == 178
    states = {p["item_id"]: p["state"] for p in points}
    assert {states[i] for i in run.result["batch_item_ids"]} == {"queued"}
    novel = api.get(f"/api/v1/projects/{project.id}/learning/novel-items/").json()
    assert [item["id"] for item in novel] == run.result["novel_item_ids"][:100]
    scores = [item["insight"]["scores"]["novelty"] for item in novel]
    assert scores == sorted(scores, reverse=True)


def test_a_replay_draws_learning_curves_of_the_projects_strategy_against_random(personas):
    manager = personas.user("manager")
    project = _wine(manager)
    embed = services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    training.embed_run_execute(run_id=embed.id)
    labels = label_ids(project)
    for item in Item.objects.filter(project=project):
        Annotation.objects.create(item=item, annotator=manager, schema_version=1).labels.set([labels[truth(item)]])
    Item.objects.filter(project=project).update(annotation_count=1, status="done")
    api = client_for(manager)
    url = f"/api/v1/projects/{project.id}/learning/simulations/"
    refused = api.post(url, {"strategies": ["mix", "random"]}, format="json")
    assert refused.status_code == 400
    assert "strategies" in refused.json()
    mix = {"strategy": "mix", "mix": {"margin": 0.7, "novelty": 0.3}}
    assert api.put(f"/api/v1/projects/{project.id}/learning/strategy/", mix, format="json").status_code == 200
    answer = api.post(url, {"strategies": ["mix", "random"], "budget": 40, "batch_size": 10, "seeds": 1}, format="json")
    assert answer.status_code == 202, answer.content
    training.simulate_run_execute(run_id=answer.json()["id"])
    run = LearningRun.objects.get(id=answer.json()["id"])
    assert run.status == JobStatus.DONE, run.failure
    for name in ("mix", "random"):
        (replay,) = run.result["strategies"][name]["runs"]
        assert replay["n_labels"] == [10, 20, 30, 40]
        assert all(0 <= a <= 1 for a in replay["accuracy"])
    assert [r["id"] for r in api.get(url).json()] == [run.id]


def test_a_task_for_another_kind_of_run_claims_nothing(personas):
    manager = personas.user("manager")
    project = _wine(manager)
    rank = LearningRun.objects.create(project=project, kind=LearningRun.Kind.RANK, reason="request")
    training.embed_run_execute(run_id=rank.id)  # a stray run_embed message carrying a rank run's id
    rank.refresh_from_db()
    assert (rank.status, rank.attempts, rank.artifact) == (JobStatus.QUEUED, 0, "")
