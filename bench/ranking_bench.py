"""Ranking at scale: one rank run (refit the classifier, score and order the pool, write the ranking beside the
queue, make it current) on a generated table of N items, timed by phase, with the queue's next-item latency
measured while the ranking is written.

    .venv/bin/python bench/ranking_bench.py --db postgres --items 100000 1000000
    .venv/bin/python bench/ranking_bench.py --db sqlite --items 100000 --profile

Prints per size: the embedding time (once), then for a cold and a warm rank run (cold: the strategy is fitted on
the embedding first, as in a worker new to it): total, scoring, ranking write and swap seconds, and the peak RSS
of this process. The rank runs at a worker's CPU priority (nice 10, as make run starts workers), the queue's
reader at a web process's. `--profile` adds the top functions of the warm run by cumulative time.

Scratch databases only (a temporary SQLite file, or PostgreSQL `loupe_bench` on 127.0.0.1:5432, dropped and
recreated): never point it at real data.
"""

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from queue_bench import PG_BENCH_URL, recreate_postgres  # noqa: E402

N_FEATURES, N_CLASSES, N_LABELS = 16, 4, 500
WORKER_NICE = 10
EMPTY_ITEM = ("", "", "", "open", 0, 0.0, 0.5, "unreviewed")  # image, thumbnail, hash, status, count, priority...


def configure(db: str, scratch: str) -> None:
    os.environ.update(
        LOUPE_DATA_DIR=scratch,
        DATABASE_URL=f"sqlite:///{scratch}/bench.sqlite3" if db == "sqlite" else PG_BENCH_URL,
        CELERY_BROKER_URL=f"sqla+sqlite:///{scratch}/broker.sqlite3",  # nothing is sent: runs execute here
        DJANGO_SETTINGS_MODULE="loupe.settings",
    )


def make_project(n_items: int, owner):
    from django.utils import timezone

    from annotation.models import Item
    from annotation.services import project_create
    from core.db import bulk_insert, tables_analyze

    rng = np.random.default_rng(0)
    y = rng.integers(0, N_CLASSES, n_items)
    X = rng.normal(size=(n_items, N_FEATURES)) + 2.0 * np.eye(N_CLASSES, N_FEATURES)[y]
    columns = [f"f{j}" for j in range(N_FEATURES)]
    project = project_create(
        creator=owner,
        spec={
            "name": f"ranking-{n_items}",
            "data_kind": "tabular",
            "labels": [{"name": f"class {c}"} for c in range(N_CLASSES)],
            "feature_columns": columns,
        },
    )
    project.columns = [{"name": name, "type": "numeric"} for name in columns]
    project.save(update_fields=["columns"])
    now = timezone.now()
    fields = ["project", "external_id", "data", "image", "thumbnail", "content_hash", "status"]
    fields += ["annotation_count", "priority", "random_key", "review_status", "created_at"]
    for start in range(0, n_items, 50_000):
        rows = [
            (project.id, str(i), json.dumps(dict(zip(columns, map(float, X[i]), strict=True))), *EMPTY_ITEM, now)
            for i in range(start, min(start + 50_000, n_items))
        ]
        bulk_insert(Item, fields, rows)
    tables_analyze(Item)
    return project, y


def label_some(project, owner, y) -> None:
    from annotation.models import Annotation, Item

    labels = [label.id for label in project.labels.order_by("position")]
    items = list(Item.objects.filter(project=project).order_by("?")[:N_LABELS])
    for item in items:
        Annotation.objects.create(item=item, annotator=owner, schema_version=1).labels.set(
            [labels[y[int(item.external_id)]]]
        )
    Item.objects.filter(id__in=[i.id for i in items]).update(annotation_count=1, status="done")


def next_latencies(project, user, stop, out) -> None:
    """The queue's next-item call, over and over, while the ranking runs (ms). A process of its own: a thread
    would share the ranking's interpreter lock and time that instead."""
    from django.db import connections

    from annotation import labeling
    from annotation.models import Lease

    connections.close_all()  # the parent's connections stay the parent's
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # a web process's priority; the ranking runs at a worker's
    while not stop.is_set():
        started = time.perf_counter()
        labeling.item_next_for_user(user=user, project=project)
        out.append((time.perf_counter() - started) * 1000)
        Lease.objects.filter(user=user).delete()  # ask afresh each time, as a new annotator would


def rank_once(project, embed, owner, profile: bool):
    from active_learning import training
    from active_learning.models import LearningRun
    from annotation.models import Membership
    from core.models import User

    reader = User.objects.get_or_create(username="reader")[0]
    Membership.objects.get_or_create(project=project, user=reader, defaults={"role": "annotator"})
    rank = LearningRun.objects.create(project=project, kind="rank", reason="bench", embedding=embed)
    from django.db import connections

    context = multiprocessing.get_context("fork")
    stop, shared = context.Event(), context.Manager().list()
    connections.close_all()
    reading = context.Process(target=next_latencies, args=(project, reader, stop, shared))
    reading.start()
    os.setpriority(os.PRIO_PROCESS, 0, WORKER_NICE)  # as make run starts its workers
    profiler = cProfile.Profile() if profile else None
    started = time.monotonic()
    if profiler:
        profiler.enable()
    training.rank_run_execute(run_id=rank.id)
    if profiler:
        profiler.disable()
    elapsed = time.monotonic() - started
    stop.set()
    reading.join()
    latencies = list(shared)
    rank.refresh_from_db()
    if rank.status != "done":
        raise SystemExit(f"rank run failed: {rank.failure}")
    q = np.percentile(latencies, [50, 99]) if latencies else [np.nan, np.nan]
    line = (
        f"{elapsed:.2f} s (scoring {rank.result['rank_seconds']} s, write {rank.result['write_seconds']} s, "
        f"swap {rank.result['swap_seconds']} s); next item meanwhile: n={len(latencies)} "
        f"p50 {q[0]:.1f} ms, p99 {q[1]:.1f} ms, max {max(latencies, default=np.nan):.1f} ms"
    )
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        line += "\n" + text.getvalue()
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--items", type=int, nargs="+", default=[100_000])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="loupe-ranking-bench-")
    configure(args.db, scratch)
    if args.db == "postgres":
        recreate_postgres()
    import django

    django.setup()
    from django.core.management import call_command

    from active_learning import training
    from active_learning.models import LearningRun
    from core.models import User

    call_command("migrate", verbosity=0)
    owner = User.objects.create_superuser("owner", "o@example.com", "x")
    print(f"db {args.db}; cpu cores {os.cpu_count()}")
    for n_items in args.items:
        t = time.monotonic()
        project, y = make_project(n_items, owner)
        print(f"{n_items:,} items: inserted in {time.monotonic() - t:.1f} s")
        embed = LearningRun.objects.create(project=project, kind="embed", reason="bench")
        t = time.monotonic()
        training.embed_run_execute(run_id=embed.id)
        embed.refresh_from_db()
        print(f"  embedding {time.monotonic() - t:.1f} s (autoencoder {embed.result['train_seconds']} s)")
        LearningRun.objects.filter(project=project, kind="rank", status="queued").delete()  # ours run below
        label_some(project, owner, y)
        training._fitted_strategy.cache_clear()
        training._classifier_features.cache_clear()
        print(f"  rank run, {N_LABELS} labels, cold: {rank_once(project, embed, owner, False)}")
        print(f"  rank run, {N_LABELS} labels, warm: {rank_once(project, embed, owner, args.profile)}")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak RSS of this process so far: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
