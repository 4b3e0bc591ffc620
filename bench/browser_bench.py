"""Item browser benchmark: a big project, then every filter and sort of the browser timed over HTTP.

Builds a scratch tabular project of N items (default 100,000): a fifth answered (some disagreeing, some reviewed or
corrected), some skipped, a current ranking of 5,000 scored items, 50 flagged as possible mistakes. Then starts
gunicorn as `make run` does (one process, four threads) and asks each browser query for its first page, the page
after it (by the keyset cursor) and a page deep in the list, `--repeat` times; prints the median and the worst
time per query; with `--explain` (PostgreSQL), the plan of each query's slowest SQL statement.

    .venv/bin/python bench/browser_bench.py --db sqlite --items 100000
    .venv/bin/python bench/browser_bench.py --db postgres --items 1000000 --repeat 3 --explain

The database is a scratch one (a temporary SQLite file, or PostgreSQL database `loupe_bench` on 127.0.0.1:5432,
dropped and recreated): never point it at real data.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VENV_BIN = ROOT / ".venv" / "bin"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_URL = "postgres://postgres@127.0.0.1:5432/loupe_bench"
CHUNK = 20_000


def configure(db: str, scratch: str, reuse: bool = False) -> dict[str, str]:
    env = {
        "LOUPE_DATA_DIR": scratch,
        "DATABASE_URL": f"sqlite:///{scratch}/bench.sqlite3" if db == "sqlite" else PG_BENCH_URL,
        "DJANGO_SETTINGS_MODULE": "loupe.settings",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{scratch}/broker.sqlite3",
        "CELERY_QUEUE": "loupe-browser-bench",
    }
    os.environ.update(env)
    if db == "postgres" and not reuse:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS loupe_bench WITH (FORCE)")
            conn.execute("CREATE DATABASE loupe_bench")
    return env


def build(n_items: int) -> dict:
    """The scratch project; returns its id, an API token, label ids and a few item ids."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from active_learning.models import LabelIssue, LearningRun
    from annotation.models import Annotation, Item, Label, Membership, Project, RankedItem, Ranking, Role, Skip
    from annotation.services import project_create
    from core.db import bulk_insert, tables_analyze
    from core.models import User
    from core.services import api_token_create

    call_command("migrate", verbosity=0)
    owner = User.objects.create_user("owner", password="x", is_staff=True)
    annotators = [User.objects.create_user(f"ann{i}", password="x") for i in range(4)]
    labels = [{"name": name} for name in ("cat", "dog", "bird")]
    project = project_create(creator=owner, spec={"name": "bench", "data_kind": "tabular", "labels": labels})
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.ANNOTATOR) for u in annotators)
    label_ids = list(Label.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    answered = rng.random(n_items) < 0.2
    start_time = timezone.now() - timedelta(days=30)
    fields = ["project", "external_id", "data", "image", "thumbnail", "content_hash", "status", "annotation_count"]
    fields += ["priority", "random_key", "agreement", "review_status", "created_at"]
    for start in range(0, n_items, CHUNK):
        rows = []
        for n in range(start, min(start + CHUNK, n_items)):
            done = bool(answered[n])
            review = "unreviewed" if not done or n % 50 else ("corrected" if n % 100 == 0 else "accepted")
            agreement = (0.5 if n % 40 == 1 else 1.0) if done else None
            created = start_time + timedelta(seconds=30 * 86400 * n / n_items)
            data = json.dumps({"x": float(n % 997), "name": f"record {n}"})
            rows.append(
                (project.id, f"rec-{n:07d}", data, "", "", "", "done" if done else "open", 1 if done else 0, 0.0,
                 float(rng.random()), agreement, review, created)
            )  # fmt: skip
        with transaction.atomic():
            bulk_insert(Item, fields, rows)
    ids = np.array(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    print(f"  inserted {n_items:,} items in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    done_ids = ids[answered]
    now = timezone.now()
    for start in range(0, len(done_ids), CHUNK):
        chunk = done_ids[start : start + CHUNK]
        rows = [
            (int(i), annotators[k % 4].id, 1, "active", "", False, now, now)
            for k, i in enumerate(chunk.tolist(), start=start)
        ]
        with transaction.atomic():
            made = bulk_insert(
                Annotation,
                ["item", "annotator", "schema_version", "status", "client_key", "accepted_suggestion", "created_at",
                 "updated_at"],
                rows,
                returning=["id", "item_id"],
            )  # fmt: skip
            through = Annotation.labels.through
            bulk_insert(through, ["annotation", "label"], [(a, label_ids[item % 3]) for a, item in made])
    skipped = ids[~answered][::200]
    Skip.objects.bulk_create(Skip(item_id=int(i), user=annotators[0]) for i in skipped)
    open_ids = ids[~answered]
    head = open_ids[rng.permutation(len(open_ids))[:5000]]
    ranking = Ranking.objects.create(project=project, size=len(head))
    rows = []
    for rank, item_id in enumerate(head.tolist(), start=1):
        u, nov, conf = (float(v) for v in rng.random(3))
        insight = {
            "ranking_run": 1, "model_version": 1, "rank": rank, "picked_by": "uncertainty", "reason": "unsure",
            "scores": {"uncertainty": u, "typicality": 0.5, "novelty": nov},
            "suggestion": {"label_ids": [label_ids[rank % 3]], "confidence": 0.34 + 0.66 * conf},
        }  # fmt: skip
        rows.append((ranking.id, rank, item_id, 2.0 - rank / 5000, json.dumps(insight)))
    bulk_insert(RankedItem, ["ranking", "rank", "item", "priority", "insight"], rows)
    Project.objects.filter(id=project.id).update(current_ranking=ranking)
    run = LearningRun.objects.create(project=project, kind="rank", reason="labels", status="done")
    LabelIssue.objects.bulk_create(
        LabelIssue(run=run, item_id=int(i), given_label_ids=[label_ids[0]], suggested_label_id=label_ids[1],
                   confidence=0.9, quality=0.1, rank=r)
        for r, i in enumerate(done_ids[:: max(len(done_ids) // 50, 1)][:50].tolist(), start=1)
    )  # fmt: skip
    tables_analyze(Item, Annotation, Annotation.labels.through, RankedItem, Skip)
    print(f"  answers, skips, ranking in {time.perf_counter() - started:.1f} s", flush=True)
    _, key = api_token_create(user=owner, name="bench")
    return {
        "project": project.id,
        "token": key,
        "labels": label_ids,
        "deep": {"id": int(ids[int(len(ids) * 0.9)]), "-id": int(ids[int(len(ids) * 0.1)])},
        "date": (start_time + timedelta(days=27)).date().isoformat(),
    }


def existing() -> dict:
    """The setup of the project a previous run built (PostgreSQL, with --reuse)."""
    import django

    django.setup()
    from annotation.models import Item, Label, Project
    from core.models import User
    from core.services import api_token_create

    project = Project.objects.get(name="bench")
    ids = np.array(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    first = Item.objects.filter(project=project).order_by("id").values_list("created_at", flat=True).first()
    _, key = api_token_create(user=User.objects.get(username="owner"), name="bench")
    return {
        "project": project.id,
        "token": key,
        "labels": list(Label.objects.filter(project=project).order_by("id").values_list("id", flat=True)),
        "deep": {"id": int(ids[int(len(ids) * 0.9)]), "-id": int(ids[int(len(ids) * 0.1)])},
        "date": (first + timedelta(days=27)).date().isoformat(),
    }


def queries(setup: dict) -> dict[str, str]:
    cat, dog = setup["labels"][:2]
    return {
        "all, import order": "",
        "newest first": "sort=-id",
        "status open": "status=open",
        "status done": "status=done",
        "final label cat": f"label={cat}",
        "annotator ann1": "annotator=ann1",
        "skipped": "skipped=true",
        "reviewed": "reviewed=true",
        "disagreement": "disagreement=true",
        "least agreement first": "sort=agreement",
        "model suggests dog": f"suggestion={dog}",
        "confidence <= 50%": "confidence_max=0.5",
        "uncertainty >= 80%, most uncertain first": "uncertainty_min=0.8&sort=-uncertainty",
        "novelty, most novel first": "sort=-novelty",
        "queue order": "sort=rank",
        "flagged": "flagged=true",
        "imported after a date": f"imported_after={setup['date']}",
        "search": "search=rec-00123",
        "open + not skipped + label-less": "status=open&skipped=false&reviewed=false",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, token: str) -> tuple[float, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return (time.perf_counter() - started) * 1000, json.loads(body)


def deep_cursor(sort: str, item_id: int) -> str:
    import base64

    raw = json.dumps([sort, item_id, item_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def explain_slowest(setup: dict, name: str, query: str) -> None:
    """Run one browser query in this process and print the plan of its slowest SQL statement (PostgreSQL)."""
    from django.db import connection
    from django.http import QueryDict
    from django.test.utils import CaptureQueriesContext

    from annotation.api.browser import ItemBrowseApi, _filters
    from annotation.item_browser import item_browse
    from annotation.models import Project

    project = Project.objects.get(id=setup["project"])
    data = ItemBrowseApi.InputSerializer(data=QueryDict(query))
    data.is_valid(raise_exception=True)
    parsed = data.validated_data
    with CaptureQueriesContext(connection) as captured:
        item_browse(project=project, filters=_filters(project, parsed), sort=parsed["sort"], limit=50)
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
        plan = [row[0] for row in cursor.fetchall()]
    print(f"\n--- {name}: slowest statement {float(slowest['time']) * 1000:.1f} ms of {len(captured)} ---")
    print("\n".join(plan[:14] + ([f"  ... {len(plan) - 16} more lines"] if len(plan) > 16 else []) + plan[-2:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="PostgreSQL: print each query's slowest plan")
    parser.add_argument("--reuse", action="store_true", help="PostgreSQL: time the project the last run built")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="loupe-browser-bench-")
    reuse = args.reuse and args.db == "postgres"
    env = {**os.environ, **configure(args.db, scratch, reuse)}
    if reuse:
        setup = existing()
        print(f"Reusing the last run's project: {Path(scratch)}", flush=True)
    else:
        print(f"Building {args.items:,} items on {args.db} in {scratch}", flush=True)
        setup = build(args.items)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(Path(scratch) / "web.log", "ab")  # noqa: SIM115 - kept open for the server's life
    web = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "loupe.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/api/v1/health/", timeout=2).read()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.3)
        api = f"{base}/api/v1/projects/{setup['project']}/browse/?limit=50&"
        fetch(api, setup["token"])  # warm the process (imports, the ranking's head in memory)
        print(f"\n{'query':44} {'page':>6} {'median ms':>10} {'max ms':>8} {'rows':>5} {'count':>8}")
        worst = []
        for name, query in queries(setup).items():
            times: dict[str, list[float]] = {"first": [], "next": [], "deep": []}
            for _ in range(args.repeat):
                ms, first = fetch(api + query, setup["token"])
                times["first"].append(ms)
                if first["next_cursor"]:
                    ms, _ = fetch(api + query + f"&cursor={first['next_cursor']}", setup["token"])
                    times["next"].append(ms)
                if "sort=" not in query or "sort=-id" in query:
                    sort = "-id" if "sort=-id" in query else "id"
                    ms, _ = fetch(api + query + f"&cursor={deep_cursor(sort, setup['deep'][sort])}", setup["token"])
                    times["deep"].append(ms)
            for page, values in times.items():
                if values:
                    rows = len(first["results"]) if page == "first" else ""
                    count = f"{first['count']}{'+' if first['count_capped'] else ''}" if page == "first" else ""
                    med = statistics.median(values)
                    worst.append((max(values), name, page))
                    print(f"{name:44} {page:>6} {med:10.1f} {max(values):8.1f} {rows!s:>5} {count:>8}", flush=True)
        worst.sort(reverse=True)
        print(f"\nslowest: {worst[0][1]} ({worst[0][2]} page) {worst[0][0]:.1f} ms")
        medians_over = [w for w in worst if w[0] > 300]
        print(f"pages over 300 ms (worst of {args.repeat}): {len(medians_over)}")
        if args.explain and args.db == "postgres":
            for name, query in queries(setup).items():
                explain_slowest(setup, name, query)
    finally:
        web.terminate()
        web.wait(timeout=10)


if __name__ == "__main__":
    main()
