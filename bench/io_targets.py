"""Data in and out at size: peak memory and time of the importing process for a large CSV and a large zip of
images, the preview of a large file, and a 1,000,000-row Parquet export.

    nice -n 10 .venv/bin/python bench/io_targets.py --db postgres --csv-mib 1024 --zip-gib 4 --export-rows 1000000
    nice -n 10 .venv/bin/python bench/io_targets.py --db sqlite --csv-mib 100 --zip-gib 0.5 --export-rows 200000

Each measurement runs in a fresh child process, so its peak RSS is its own. The CSV has 10 columns (an id, five
numbers, three categories, a label) and about 100 bytes a row; the zip holds distinct noise PNGs of about 7.5 MB
each, stored (no compression), repeated to the size asked (a repeat is checked and stored once).
"""

import argparse
import io
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

from io_bench import in_child, setup  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_csv(path: Path, mib: float) -> int:
    """About `mib` MiB of CSV, written in blocks; returns the number of rows."""
    rng = np.random.default_rng(0)
    colors, sizes, labels = np.array(["red", "green", "blue"]), np.array(["S", "M", "L", "XL"]), np.array(["a", "b"])
    rows, block = 0, 100_000
    with path.open("w") as out:
        out.write("id,f1,f2,f3,f4,f5,color,size,flag,label\n")
        while out.tell() < mib * 2**20:
            values = rng.normal(size=(block, 5)).round(6)
            n = np.arange(rows, rows + block)
            lines = [
                f"r{i},{v[0]},{v[1]},{v[2]},{v[3]},{v[4]},{colors[i % 3]},{sizes[i % 4]},{i % 2 == 0},{labels[i % 2]}"
                for i, v in zip(n, values, strict=True)
            ]
            out.write("\n".join(lines) + "\n")
            rows += block
    return rows


def write_zip(path: Path, gib: float) -> int:
    """Stored noise PNGs (7.5 MB each, 8 distinct ones repeated) inflating to at most `gib` GiB (4 GiB is the
    importer's limit for one zip); returns entries."""
    from PIL import Image

    rng = np.random.default_rng(1)
    pngs = []
    for _ in range(8):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, size=(1600, 1600, 3), dtype=np.uint8)).save(
            buffer, "PNG", compress_level=0
        )
        pngs.append(buffer.getvalue())
    entries, total = 0, 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        while total + len(pngs[entries % len(pngs)]) <= gib * 2**30:
            data = pngs[entries % len(pngs)]
            archive.writestr(f"class{entries % 2}/{entries}.png", data)
            entries, total = entries + 1, total + len(data)
    return entries


def project(kind: str) -> int:
    from annotation.models import Project
    from annotation.services import project_create
    from core.models import User

    owner = User.objects.get(username="owner")
    name = f"{kind}-{Project.objects.count()}"
    labels = [{"name": "a"}, {"name": "b"}] if kind == "tabular" else [{"name": "class0"}, {"name": "class1"}]
    return project_create(creator=owner, spec={"name": name, "data_kind": kind, "labels": labels}).id


def local_import(project_id: int, path: str, options: dict) -> tuple[float, float, dict]:
    """The import job of a server-side file, as a worker runs it."""
    from annotation.jobs import import_job_create_local, import_job_execute
    from annotation.models import ImportJob, Project
    from core.models import User

    job = import_job_create_local(
        project=Project.objects.get(id=project_id),
        user=User.objects.get(username="owner"),
        path=Path(path),
        mode=ImportJob.Mode.VALID_ONLY,
        options=options,
    )
    started = time.perf_counter()
    import_job_execute(job_id=job.id)
    job.refresh_from_db()
    outcome = {"status": job.status, "created": job.created_count, "errors": job.error_count, "failure": job.failure}
    return time.perf_counter() - started, peak_mb(), outcome


def preview(project_id: int, path: str) -> tuple[float, float, int]:
    from annotation.io.importers import table_preview
    from annotation.models import Project

    class Upload:  # what Django hands a view for a large upload: a temporary file on disk
        name = Path(path).name

        def temporary_file_path(self) -> str:
            return path

    project = Project.objects.get(id=project_id)
    started = time.perf_counter()
    shown = table_preview(project=project, upload=Upload(), options={})
    cold = time.perf_counter() - started  # the first preview of a process loads pyarrow and charset-normalizer
    started = time.perf_counter()
    shown = table_preview(project=project, upload=Upload(), options={})
    return cold, time.perf_counter() - started, peak_mb(), shown["row_count"]


def fill(project_id: int, rows: int) -> None:
    """`rows` items with ten typed columns, inserted directly (what an import would have stored)."""
    import json

    from django.db import transaction
    from django.utils import timezone

    from annotation.io.importers import INSERTED_FIELDS
    from annotation.models import Item, Project
    from core.db import bulk_insert, tables_analyze

    project = Project.objects.get(id=project_id)
    names = [f"f{j}" for j in range(8)]
    project.columns = [{"name": n, "type": "numeric", "dtype": "float64"} for n in names] + [
        {"name": "color", "type": "categorical", "dtype": "string"},
        {"name": "count", "type": "numeric", "dtype": "int64"},
    ]
    project.save()
    rng, now = np.random.default_rng(2), timezone.now()
    for start in range(0, rows, 20_000):
        values = rng.normal(size=(min(20_000, rows - start), 8)).round(4)
        batch = []
        for n, row in enumerate(values, start=start):
            data = {**dict(zip(names, map(float, row), strict=True)), "color": ("red", "blue")[n % 2], "count": n}
            fields = {"external_id": f"r{n}", "data": json.dumps(data), "width": None, "height": None}
            fields |= {"content_hash": f"h{n}", "status": "open", "annotation_count": 0, "priority": 0.0}
            fields |= {"random_key": float(n), "agreement": None, "review_status": "unreviewed"}
            batch.append((project.id, *(fields[f] for f in INSERTED_FIELDS[1:-3]), "", "", now))
        with transaction.atomic():
            bulk_insert(Item, INSERTED_FIELDS, batch)
    tables_analyze(Item)  # as an import does when it ends


def parquet_export(project_id: int) -> tuple[float, float, int]:
    from annotation.io import exporters
    from annotation.models import Project

    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        count = exporters.write(Project.objects.get(id=project_id), "parquet", {}, out)
    return time.perf_counter() - started, peak_mb(), count


def recreate_postgres(name: str) -> str:
    import psycopg
    from queue_bench import PG_ADMIN_URL

    with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--csv-mib", type=float, nargs="*", default=[1024])
    parser.add_argument("--zip-gib", type=float, default=4)
    parser.add_argument("--export-rows", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--pg-database", default="loupe_io_targets", help="dropped and created again")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="loupe-io-targets-"))
    os.environ["LOUPE_DATA_DIR"] = str(scratch)
    os.environ["DJANGO_SETTINGS_MODULE"] = "loupe.settings"
    if args.db == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/bench.sqlite3"
    else:
        os.environ["DATABASE_URL"] = recreate_postgres(args.pg_database)
    setup(args.db)
    from django.db import connections

    from core.models import User

    User.objects.create_user("owner", password="x", is_staff=True)
    connections.close_all()
    print(f"io targets: {args.db}, {os.cpu_count()} CPUs")
    for mib in args.csv_mib:
        path = scratch / f"table-{mib:g}.csv"
        rows = write_csv(path, mib)
        table = in_child(project, "tabular")
        cold, warm, mb, shown = in_child(preview, table, str(path))
        size = path.stat().st_size / 2**20
        print(
            f"  preview of a {size:,.0f} MiB CSV ({shown:,} rows read): {warm:.2f} s "
            f"({cold:.2f} s as the process's first), peak {mb:.0f} MB"
        )
        seconds, mb, outcome = in_child(local_import, table, str(path), {"id_column": "id", "label_column": "label"})
        print(
            f"  import of {path.stat().st_size / 2**20:,.0f} MiB CSV ({rows:,} rows): {seconds:.1f} s "
            f"({rows / seconds:,.0f} rows/s), peak RSS {mb:.0f} MB; {outcome}"
        )
        path.unlink()
    if args.zip_gib:
        path = scratch / "images.zip"
        entries = write_zip(path, args.zip_gib)
        images = in_child(project, "image")
        seconds, mb, outcome = in_child(local_import, images, str(path), {"labels_from_folders": True})
        print(
            f"  import of a zip inflating to {path.stat().st_size / 2**30:.2f} GiB ({entries} PNGs of 7.5 MB): "
            f"{seconds:.1f} s, "
            f"peak RSS {mb:.0f} MB; {outcome}"
        )
        path.unlink()
    for rows in args.export_rows:
        table = in_child(project, "tabular")
        in_child(fill, table, rows)
        seconds, mb, count = in_child(parquet_export, table)
        print(f"  Parquet export of {count:,} rows: {seconds:.1f} s, peak RSS {mb:.0f} MB")


if __name__ == "__main__":
    main()
