"""Queue benchmark: N annotator processes loop next -> submit against one project.

Prints p50/p95/p99 latency of `item_next_for_user` and `annotation_submit` (the services the API calls, with
their real transactions and locks; no HTTP), throughput, and the correctness checks: items annotated more
often than the overlap allows, lost submissions, leases left behind.

    .venv/bin/python bench/queue_bench.py --db sqlite --items 100000 --annotators 8 --seconds 20
    .venv/bin/python bench/queue_bench.py --db postgres --items 100000 --annotators 32 --seconds 20

The database is a scratch one (a temporary SQLite file, or PostgreSQL database `loupe_bench` on
127.0.0.1:5432, dropped and recreated): never point it at real data.
"""

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_URL = "postgres://postgres@127.0.0.1:5432/loupe_bench"


def configure(db: str, scratch: str) -> None:
    os.environ["LOUPE_DATA_DIR"] = scratch
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/bench.sqlite3" if db == "sqlite" else PG_BENCH_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loupe.settings")


def recreate_postgres() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS loupe_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE loupe_bench")


def setup_project(n_items: int, n_annotators: int, overlap: int) -> tuple[int, list[int], int]:
    import django

    django.setup()
    from django.core.management import call_command

    from annotation.models import Item, Label, Membership, Role
    from annotation.services import project_create
    from core.db import tables_analyze
    from core.models import User

    call_command("migrate", verbosity=0)
    owner = User.objects.create_user("owner", password="x")
    project = project_create(
        creator=owner, spec={"name": "bench", "data_kind": "tabular", "labels": [{"name": "a"}, {"name": "b"}]}
    )
    project.overlap = overlap
    project.save()
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    batch = 10_000
    for start in range(0, n_items, batch):
        Item.objects.bulk_create(
            Item(project=project, external_id=str(n), data={"x": float(n)}, priority=float(p))
            for n, p in zip(range(start, min(start + batch, n_items)), rng.random(batch), strict=False)
        )
    tables_analyze(Item)  # what an import does after its last batch
    print(f"  inserted {n_items:,} items in {time.perf_counter() - started:.1f} s")
    users = [User.objects.create_user(f"ann{i}", password="x") for i in range(n_annotators)]
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users)
    label_id = Label.objects.filter(project=project).first().id
    return project.id, [u.id for u in users], label_id


def annotator(args) -> dict:
    project_id, user_id, label_id, seconds, barrier = args
    import django

    django.setup()
    from annotation.labeling import annotation_submit, item_next_for_user
    from annotation.models import Project
    from core.models import User

    user, project = User.objects.get(id=user_id), Project.objects.get(id=project_id)
    next_ms, submit_ms, submitted, errors = [], [], [], []
    barrier.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        found = item_next_for_user(user=user, project=project)
        t1 = time.perf_counter()
        next_ms.append((t1 - t0) * 1000)
        if found is None:
            break
        item, _ = found
        try:
            annotation, _ = annotation_submit(
                user=user,
                project=project,
                item_id=item.id,
                label_ids=[label_id],
                client_key=f"{user_id}-{item.id}",
                time_spent_ms=1000,
            )
            submitted.append(annotation.id)
        except Exception as exc:  # counted and reported: a benchmark must show failures, not hide them
            errors.append(f"{type(exc).__name__}: {exc}")
        submit_ms.append((time.perf_counter() - t1) * 1000)
    return {"next": next_ms, "submit": submit_ms, "submitted": submitted, "errors": errors}


def check(project_id: int, submitted: list[int], overlap: int) -> dict:
    from django.db.models import Count
    from django.utils import timezone

    from annotation.models import Annotation, Lease

    over = (
        Annotation.objects.filter(item__project_id=project_id, status="active")
        .values("item_id")
        .annotate(n=Count("id"))
        .filter(n__gt=overlap)
        .count()
    )
    stored = set(Annotation.objects.filter(item__project_id=project_id).values_list("id", flat=True))
    return {
        "over_overlap": over,
        "lost": len(set(submitted) - stored),
        "stuck_leases": Lease.objects.filter(item__project_id=project_id, expires_at__gt=timezone.now()).count(),
    }


def pct(values: list[float]) -> str:
    a = np.asarray(values)
    return f"p50 {np.percentile(a, 50):6.1f}  p95 {np.percentile(a, 95):6.1f}  p99 {np.percentile(a, 99):6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--overlap", type=int, default=1)
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="loupe-bench-")
    configure(args.db, scratch)
    if args.db == "postgres":
        recreate_postgres()
    print(
        f"queue bench: {args.db}, {args.items:,} items, {args.annotators} annotators, overlap {args.overlap}, "
        f"{args.seconds:g} s, {os.cpu_count()} CPUs"
    )
    project_id, user_ids, label_id = setup_project(args.items, args.annotators, args.overlap)
    from django.db import connections

    connections.close_all()  # children open their own connections
    ctx = mp.get_context("fork")
    barrier = ctx.Manager().Barrier(args.annotators)
    with ctx.Pool(args.annotators) as pool:
        results = pool.map(annotator, [(project_id, u, label_id, args.seconds, barrier) for u in user_ids])
    next_ms = [v for r in results for v in r["next"]]
    submit_ms = [v for r in results for v in r["submit"]]
    submitted = [v for r in results for v in r["submitted"]]
    errors = [e for r in results for e in r["errors"]]
    print(f"  next-item  {pct(next_ms)}  ({len(next_ms):,} calls)")
    print(f"  submit     {pct(submit_ms)}  ({len(submit_ms):,} calls)")
    print(
        f"  throughput {len(submitted) / args.seconds:.0f} annotations/s; errors {len(errors)}"
        + (f" (first: {errors[0]})" if errors else "")
    )
    print(f"  checks     {check(project_id, submitted, args.overlap)}")
    print(f"  progress   {progress_timing(project_id)}")


def progress_timing(project_id: int) -> str:
    """The progress selector (counts per status, label, annotator; rates; median time) on this project."""
    from annotation.models import Project
    from annotation.selectors import project_progress

    project = Project.objects.get(id=project_id)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        project_progress(project=project)
        timings.append((time.perf_counter() - started) * 1000)
    return f"project_progress median {np.median(timings):.0f} ms over 5 calls"


if __name__ == "__main__":
    main()
