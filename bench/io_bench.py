"""Import/export benchmark.

    .venv/bin/python bench/io_bench.py --db sqlite          # or --db postgres (--pg-database, recreated)
    .venv/bin/python bench/io_bench.py --db sqlite --rows 20000 --images 2000   # a quicker run

Measures, on a scratch database and data directory:
- a 100,000-row, 10-column CSV: upload through the API (web side) and the import job (worker side), each with its
  wall time and its peak memory (each runs in its own process, so peak RSS is that side's alone);
- 10,000 PNG images in a zip, imported with thumbnails (worker side);
- exports of the 100,000 labeled rows as CSV, JSONL and Parquet, with the peak memory of an export of 1/5 of
  the rows next to it (flat memory means the two peaks are close).
"""

import argparse
import io
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(fn, *args):
    """Run fn(*args) in a fresh process (forked before Django opened connections); returns its result."""
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def setup(db: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_csv(rows: int) -> bytes:
    rng = np.random.default_rng(0)
    lines = ["id,f1,f2,f3,f4,f5,color,size,flag,label"]
    colors, sizes, labels = ["red", "green", "blue"], ["S", "M", "L", "XL"], ["a", "b", "c"]
    values = rng.normal(size=(rows, 5)).round(4)
    for n in range(rows):
        f = values[n]
        lines.append(
            f"r{n},{f[0]},{f[1]},{f[2]},{f[3]},{f[4]},{colors[n % 3]},{sizes[n % 4]},{n % 2 == 0},{labels[n % 3]}"
        )
    return ("\n".join(lines) + "\n").encode()


def make_zip(images: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    rng = np.random.default_rng(1)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for n in range(images):
            pixels = rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)
            png = io.BytesIO()
            Image.fromarray(pixels).save(png, format="PNG")
            archive.writestr(f"class{n % 10}/{n}.png", png.getvalue())
    return buffer.getvalue()


def web_upload(project_id: int, name: str, data: bytes, options: str) -> tuple[int, float, float]:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from annotation.models import Project
    from core.models import User

    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(username="owner"))
    # Warm up as a running web process would be: broker connection made, queue declared, code paths loaded.
    warmup = Project.objects.get(name="warmup").id
    client.post(f"/api/v1/projects/{warmup}/imports/", {"files": [SimpleUploadedFile("w.csv", b"x\n1\n")]})
    started = time.perf_counter()
    response = client.post(
        f"/api/v1/projects/{project_id}/imports/", {"files": [SimpleUploadedFile(name, data)], "options": options}
    )
    assert response.status_code == 202, response.content
    return response.json()["id"], time.perf_counter() - started, peak_mb()


def worker_import(job_id: int) -> tuple[float, float, dict]:
    from annotation.jobs import import_job_execute
    from annotation.models import ImportJob

    started = time.perf_counter()
    import_job_execute(job_id=job_id)
    job = ImportJob.objects.get(id=job_id)
    return (
        time.perf_counter() - started,
        peak_mb(),
        {
            "status": job.status,
            "created": job.created_count,
            "labels": job.annotation_count,
            "errors": job.error_count,
            "failure": job.failure,
        },
    )


def export(project_id: int, fmt: str, fraction: float) -> tuple[float, float, int]:
    from annotation.io import exporters
    from annotation.models import Item, Project

    project = Project.objects.get(id=project_id)
    filters = {}
    if fraction < 1:  # the first fifth of the items, by agreement filter on a copy: use a status-free id window
        last = Item.objects.filter(project=project).order_by("id").values_list("id", flat=True)
        cutoff = list(last)[int(len(last) * fraction)]
        Item.objects.filter(project=project, id__gte=cutoff).update(status="open")
        filters = {"status": "done"}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        count = exporters.write(project, fmt, filters, out)
    elapsed = time.perf_counter() - started
    if fraction < 1:
        Item.objects.filter(project=project).update(status="done")
    return elapsed, peak_mb(), count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--pg-database", default="loupe_bench", help="dropped and created again")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="loupe-io-bench-")
    os.environ["LOUPE_DATA_DIR"] = scratch
    os.environ["DJANGO_SETTINGS_MODULE"] = "loupe.settings"
    if args.db == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/bench.sqlite3"
    else:
        from io_targets import recreate_postgres

        os.environ["DATABASE_URL"] = recreate_postgres(args.pg_database)
    setup(args.db)
    from django.db import connections

    from annotation.services import project_create
    from core.models import User

    owner = User.objects.create_user("owner", password="x", is_staff=True)
    table = project_create(
        creator=owner,
        spec={"name": "table", "data_kind": "tabular", "labels": [{"name": "a"}, {"name": "b"}, {"name": "c"}]},
    )
    images = project_create(
        creator=owner,
        spec={"name": "images", "data_kind": "image", "labels": [{"name": f"class{n}"} for n in range(10)]},
    )
    project_create(creator=owner, spec={"name": "warmup", "data_kind": "tabular"})
    csv_bytes, zip_bytes = make_csv(args.rows), make_zip(args.images)
    connections.close_all()
    print(
        f"io bench: {args.db}, {os.cpu_count()} CPUs; CSV {len(csv_bytes) / 2**20:.1f} MiB, "
        f"zip {len(zip_bytes) / 2**20:.1f} MiB"
    )

    job_id, web_s, web_mb = in_child(
        web_upload, table.id, "table.csv", csv_bytes, '{"id_column": "id", "label_column": "label"}'
    )
    work_s, work_mb, outcome = in_child(worker_import, job_id)
    print(
        f"  import {args.rows:,} CSV rows: upload {web_s:.2f} s (web peak {web_mb:.0f} MB), "
        f"import {work_s:.2f} s (worker peak {work_mb:.0f} MB), end to end {web_s + work_s:.2f} s; {outcome}"
    )
    job_id, web_s, web_mb = in_child(web_upload, images.id, "images.zip", zip_bytes, '{"labels_from_folders": true}')
    work_s, work_mb, outcome = in_child(worker_import, job_id)
    print(
        f"  import {args.images:,} PNGs from a zip: upload {web_s:.2f} s, import with thumbnails {work_s:.2f} s "
        f"(worker peak {work_mb:.0f} MB); {outcome}"
    )
    for fmt in ("csv", "jsonl", "parquet"):
        small_s, small_mb, small_n = in_child(export, table.id, fmt, 0.2)
        full_s, full_mb, full_n = in_child(export, table.id, fmt, 1.0)
        print(
            f"  export {fmt:8s} {full_n:,} rows {full_s:.2f} s (peak {full_mb:.0f} MB); "
            f"{small_n:,} rows {small_s:.2f} s (peak {small_mb:.0f} MB)"
        )


if __name__ == "__main__":
    main()
