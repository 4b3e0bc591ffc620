"""Active-learning loop benchmark, on PostgreSQL and Redis with a real Celery worker process.

1. loop: a 10,000-item tabular project (generated, 20 features, 4 classes); after the embedding and first
   ranking, annotators label one batch through the labeling service; we time from the commit of the batch's
   last label to the new ranking being served (the next queue answer carries the new ranking's id);
2. re-rank: a rank run over 100,000 items, in this process (cold: strategy fitted on the embedding; warm: the
   worker's cached fit), its phases from the run row;
3. queue latency: next+submit p50/p99 of one annotator with the worker idle, then while the worker trains the
   100,000-item autoencoder;
4. autoencoder training time of the two demo projects (digits images, wine table).

    .venv/bin/python bench/learning_bench.py            # all of it, ~5 minutes on 2 cores

Scratch database `loupe_bench` on 127.0.0.1:5432 (dropped and recreated) and Redis db 13: never real data.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from queue_bench import PG_BENCH_URL, recreate_postgres  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/13"


def configure(scratch: str) -> None:
    os.environ.update(
        LOUPE_DATA_DIR=scratch,
        DATABASE_URL=PG_BENCH_URL,
        CELERY_BROKER_URL=REDIS_URL,
        CELERY_QUEUE=f"bench-{os.getpid()}",
        DJANGO_SETTINGS_MODULE="loupe.settings",
    )


def start_worker(scratch: str) -> subprocess.Popen:
    log = open(Path(scratch) / "worker.log", "w")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "loupe", "worker", "--pool=solo", "--loglevel=WARNING"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def make_project(name: str, n_items: int, owner):
    from sklearn.datasets import make_classification

    from annotation.models import Item
    from annotation.services import project_create
    from core.db import tables_analyze

    X, y = make_classification(
        n_samples=n_items, n_features=20, n_informative=8, n_classes=4, n_clusters_per_class=2, random_state=0
    )
    columns = [f"f{j}" for j in range(20)]
    project = project_create(
        creator=owner,
        spec={
            "name": name,
            "data_kind": "tabular",
            "labels": [{"name": f"class {c}", "hotkey": str(c + 1)} for c in range(4)],
            "feature_columns": columns,
            "shown_columns": columns,
        },
    )
    Item.objects.bulk_create(
        (
            Item(project=project, external_id=str(i), data=dict(zip(columns, map(float, row), strict=True)))
            for i, row in enumerate(X)
        ),
        batch_size=5000,
    )
    tables_analyze(Item)
    return project, y


def wait_done(run_filter, timeout=600.0):
    from active_learning.models import LearningRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = LearningRun.objects.filter(**run_filter).order_by("-id").first()
        if run is not None and run.status in ("done", "failed"):
            if run.status == "failed":
                raise SystemExit(f"run {run.id} failed: {run.failure}")
            return run
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {run_filter}")


def loop(owner) -> None:
    from active_learning import services
    from active_learning.models import LearningRun
    from annotation import labeling

    project, y = make_project("loop", 10_000, owner)
    services.strategy_set(project=project, user=owner, spec={"batch_size": 20})
    started = time.monotonic()
    services.training_run_request(project=project, reason="request", user=owner)
    embed = wait_done({"project": project, "kind": "embed"})
    wait_done({"project": project, "kind": "rank"})
    print(
        f"loop: 10,000 items: embedding {embed.result['seconds']} s (autoencoder {embed.result['train_seconds']} s), "
        f"first ranking served {time.monotonic() - started:.1f} s after the request"
    )
    labels = [label.id for label in project.labels.order_by("position")]
    timings = []
    for round_ in range(5):
        last = LearningRun.objects.filter(project=project, kind="rank").order_by("-id").first()
        for _ in range(20):
            item, _ = labeling.item_next_for_user(user=owner, project=project)
            labeling.annotation_submit(
                user=owner, project=project, item_id=item.id, label_ids=[labels[y[int(item.external_id)]]]
            )
        committed = time.monotonic()
        new = wait_done({"project": project, "kind": "rank", "id__gt": last.id})
        while True:  # served: the queue's next answer carries the new ranking
            item, _ = labeling.item_next_for_user(user=owner, project=project)
            if (item.insight or {}).get("ranking_run") == new.id:
                break
            time.sleep(0.02)
        timings.append(time.monotonic() - committed)
        print(
            f"  round {round_ + 1}: {new.n_labels} labels -> served after {timings[-1]:.2f} s "
            f"(run {new.result['seconds']} s: rank {new.result['rank_seconds']} s; phase {new.result['phase']})"
        )
    print(
        f"loop: last label -> new ranking served: median {statistics.median(timings):.2f} s, max {max(timings):.2f} s"
    )


def rerank(owner):
    from active_learning import training
    from active_learning.models import LearningRun
    from annotation.models import Annotation, Item

    project, y = make_project("large", 100_000, owner)
    run = LearningRun.objects.create(project=project, kind="embed", reason="bench")
    t = time.monotonic()
    training.embed_run_execute(run_id=run.id)  # here, not in the worker: the rank runs below must be ours
    print(f"rerank: embedding 100,000 items took {time.monotonic() - t:.1f} s")
    wait_done({"project": project, "kind": "rank"})  # the worker's first ranking; the timed ones run here
    labels = [label.id for label in project.labels.order_by("position")]
    items = list(Item.objects.filter(project=project).order_by("?")[:200])
    for item in items:
        Annotation.objects.create(item=item, annotator=owner, schema_version=1).labels.set(
            [labels[y[int(item.external_id)]]]
        )
    Item.objects.filter(id__in=[i.id for i in items]).update(annotation_count=1, status="done")
    training._fitted_strategy.cache_clear()  # the embed run warmed this process: measure a cold one first
    for label in (
        "cold (a worker new to this embedding fits the strategy first)",
        "warm (the worker that embedded, and every later ranking)",
    ):
        rank = LearningRun.objects.create(project=project, kind="rank", reason="bench", embedding=run)
        t = time.monotonic()
        training.rank_run_execute(run_id=rank.id)
        rank.refresh_from_db()
        print(
            f"rerank 100,000 items, 200 labels, {label}: {time.monotonic() - t:.2f} s "
            f"(rank {rank.result['rank_seconds']} s, run total {rank.result['seconds']} s)"
        )
    return project


def queue_latency(owner, large) -> None:
    from active_learning import services
    from annotation import labeling

    project, y = make_project("latency", 5_000, owner)
    labels = [label.id for label in project.labels.order_by("position")]

    def measure(seconds: float) -> list[float]:
        out = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.monotonic()
            item, _ = labeling.item_next_for_user(user=owner, project=project)
            labeling.annotation_submit(
                user=owner, project=project, item_id=item.id, label_ids=[labels[y[int(item.external_id)]]]
            )
            out.append((time.monotonic() - t) * 1000)
        return out

    idle = measure(10)
    run = services.training_run_request(project=large, reason="bench", user=owner)
    while not type(run).objects.filter(id=run.id, status="running").exists():
        time.sleep(0.05)
    busy = measure(10)
    still = type(run).objects.get(id=run.id).status
    for name, values in (("worker idle", idle), (f"worker training 100,000 items ({still} at the end)", busy)):
        q = np.percentile(values, [50, 99])
        print(f"queue next+submit, {name}: n={len(values)} p50 {q[0]:.1f} ms, p99 {q[1]:.1f} ms")


def demo_training(owner) -> None:
    from active_learning import training
    from active_learning.models import LearningRun
    from annotation.demo import demo_load

    for project in demo_load(owner=owner):
        run = LearningRun.objects.create(project=project, kind="embed", reason="bench")
        training.embed_run_execute(run_id=run.id)
        run.refresh_from_db()
        print(
            f"demo {project.name}: {run.n_items} items, autoencoder {run.result['train_seconds']} s "
            f"({run.result['epochs']} epochs on {run.result['device']}), embedding run {run.result['seconds']} s"
        )


def main() -> None:
    scratch = tempfile.mkdtemp(prefix="loupe-learning-bench-")
    configure(scratch)
    recreate_postgres()
    import django

    django.setup()
    from django.core.management import call_command

    from core.models import User

    call_command("migrate", verbosity=0)
    subprocess.run(["redis-cli", "-n", "13", "flushdb"], check=True, capture_output=True)
    owner = User.objects.create_superuser("owner", "o@example.com", "x")
    worker = start_worker(scratch)
    try:
        loop(owner)
        large = rerank(owner)
        queue_latency(owner, large)
    finally:
        worker.kill()  # it may be in the middle of the 100,000-item training started above
        worker.wait(timeout=60)
    demo_training(owner)  # on an idle machine
    print(f"cpu cores: {os.cpu_count()}; torch threads: {__import__('torch').get_num_threads()}")


if __name__ == "__main__":
    main()
