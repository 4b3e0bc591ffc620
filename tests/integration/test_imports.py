"""Imports through the API and the worker's service: tables and images, good and hostile input."""

import io
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from annotation.io import images as image_io
from annotation.jobs import import_job_execute
from annotation.models import Annotation, ImportJob, Item, Project
from tests.factories import UserFactory, make_project
from tests.integration.conftest import client_for
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager():
    return UserFactory(username="manager", is_staff=True)


@pytest.fixture
def table_project(manager):
    return make_project(owner=manager, name="Wine", data_kind="tabular", labels=[{"name": "red"}, {"name": "white"}])


@pytest.fixture
def image_project(manager):
    return make_project(owner=manager, name="Pets")


def upload(manager, project, files, mode="all_or_nothing", options=None, captured=None):
    body = {"files": [SimpleUploadedFile(name, data) for name, data in files], "mode": mode}
    if options:
        body["options"] = json.dumps(options)
    response = client_for(manager).post(f"/api/v1/projects/{project.id}/imports/", body, format="multipart")
    return response


def run(response) -> ImportJob:
    assert response.status_code == 202, response.data
    import_job_execute(job_id=response.data["id"])
    return ImportJob.objects.get(id=response.data["id"])


def image_bytes(fmt="PNG", size=(20, 10), color=(10, 200, 30), **save) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt, **save)
    return buffer.getvalue()


CSV = b"id,alcohol,color,organic,harvest,label\nw1,13.2,ruby,yes,2024-09-01,red\nw2,-0.5,=HYPERLINK(1),no,,white\n"


# --- tables ----------------------------------------------------------------------------------------


def test_csv_import_stores_typed_values_ids_and_labels(manager, table_project):
    response = upload(manager, table_project, [("wine.csv", CSV)], options={"id_column": "id", "label_column": "label"})
    assert ImportJob.objects.get(id=response.data["id"]).sent_at is not None  # the request sent it to a worker
    job = run(response)

    assert (job.status, job.created_count, job.annotation_count, job.error_count) == ("done", 2, 2, 0)
    first = Item.objects.get(project=table_project, external_id="w1")
    assert first.data == {"alcohol": 13.2, "color": "ruby", "organic": True, "harvest": "2024-09-01"}
    assert Item.objects.get(external_id="w2").data["harvest"] is None  # missing stays missing
    table_project.refresh_from_db()
    assert [c["type"] for c in table_project.columns] == ["numeric", "categorical", "boolean", "datetime"]
    assert first.status == "done"
    assert [label.name for label in Annotation.objects.get(item=first).labels.all()] == ["red"]


def test_running_an_import_twice_creates_nothing_new(manager, table_project):
    response = upload(manager, table_project, [("wine.csv", CSV)], options={"label_column": "label"})
    run(response)
    import_job_execute(job_id=response.data["id"])  # a redelivered task: the job is done, nothing happens
    again = run(upload(manager, table_project, [("wine.csv", CSV)], options={"label_column": "label"}))

    assert Item.objects.filter(project=table_project).count() == 2
    assert Annotation.objects.count() == 2
    assert (again.created_count, again.duplicate_count) == (0, 2)


def test_ragged_rows_fail_the_whole_import_in_all_or_nothing_mode(manager, table_project):
    bad = b"a,b\n1,2\n3\n4,5,6\n7,8\n"
    job = run(upload(manager, table_project, [("t.csv", bad)]))

    assert job.status == "failed"
    assert "2 rows are invalid" in job.failure
    assert [e["where"] for e in job.errors] == ["row 3", "row 4"]
    assert not Item.objects.exists()


def test_valid_only_mode_imports_the_good_rows_and_reports_the_rest(manager, table_project):
    bad = b"a,b,label\n1,2,red\n3\n1e999,5,red\n7,8,rose\n9,10,white\n"
    job = run(upload(manager, table_project, [("t.csv", bad)], mode="valid_only", options={"label_column": "label"}))

    assert (job.status, job.created_count, job.error_count) == ("done", 2, 3)
    reasons = {e["where"]: e["reason"] for e in job.errors}
    assert reasons["row 3"] == "1 fields, expected 3"
    assert "not a finite number" in reasons["row 4"]
    assert "unknown label 'rose'" in reasons["row 5"]


def test_semicolons_and_latin_encodings_are_detected(manager, table_project):
    data = "name;price\ncafé;-1,5\nthé;2\n".encode("cp1252")
    job = run(upload(manager, table_project, [("t.csv", data)]))
    assert job.status == "done"
    assert sorted(Item.objects.values_list("data__name", flat=True)) == ["café", "thé"]


def test_jsonl_and_parquet_imports(manager, table_project):
    jsonl = b'{"x": 1, "y": "a"}\n{"x": 2.5, "y": null}\n'
    table = pa.table({"x": [1.0, 2.0], "flag": [True, False], "when": pa.array([0, 1], pa.timestamp("s"))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)

    assert run(upload(manager, table_project, [("a.jsonl", jsonl)])).created_count == 2
    accepting = {"accept_schema_changes": True}  # other columns than the first import's
    assert run(upload(manager, table_project, [("b.parquet", buffer.getvalue())], options=accepting)).created_count == 2
    assert Item.objects.filter(data__flag=True).count() == 1


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("t.csv", b"", "empty"),
        ("t.csv", b"a,a\n1,2\n", "named twice"),
        ("t.parquet", b"PAR1 not really", "Not a readable Parquet"),
        ("t.xlsx", b"x", "Unsupported table format"),
    ],
)
def test_unreadable_tables_fail_with_the_reason(manager, table_project, name, data, message):
    job = run(upload(manager, table_project, [(name, data)] if data else [(name, b" ")]))
    assert job.status == "failed"
    assert message in job.failure if data else "empty" in job.failure or "header" in job.failure


def test_parquet_with_a_pickled_extension_type_is_not_executed(manager, table_project, tmp_path):
    """The known attack: a column typed `arrow.py_extension_type` whose metadata is a pickle (CVE-2023-47248)."""
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    field = pa.field(
        "x",
        pa.int64(),
        metadata={
            b"ARROW:extension:name": b"arrow.py_extension_type",
            b"ARROW:extension:metadata": pickle.dumps(Evil()),
        },
    )
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2]}, schema=pa.schema([field])), buffer)
    job = run(upload(manager, table_project, [("evil.parquet", buffer.getvalue())]))

    assert not marker.exists()
    assert job.status == "done"
    assert sorted(Item.objects.values_list("data__x", flat=True)) == [1, 2]


def test_a_wrong_declared_encoding_is_refused_with_the_reason(manager, table_project):
    job = run(
        upload(manager, table_project, [("t.csv", "name\ncafé\n".encode("cp1252"))], options={"encoding": "utf-8"})
    )
    assert job.status == "failed"
    assert "not valid utf-8" in job.failure


def test_preview_shows_types_rows_and_errors_without_importing(manager, table_project):
    response = client_for(manager).post(
        f"/api/v1/projects/{table_project.id}/imports/preview/",
        {"file": SimpleUploadedFile("wine.csv", CSV + b"w3,1\n")},
        format="multipart",
    )
    assert response.status_code == 200
    assert [c["type"] for c in response.data["columns"]][:3] == ["categorical", "numeric", "categorical"]
    assert response.data["row_count"] == 2
    assert response.data["errors"] == [{"where": "row 4", "reason": "2 fields, expected 6"}]
    assert not Item.objects.exists()


def test_oversized_upload_is_a_413(manager, table_project, settings):
    settings.UPLOAD_MAX_BYTES = 100
    response = upload(manager, table_project, [("t.csv", b"a\n" + b"1\n" * 200)])
    assert response.status_code == 413
    assert not ImportJob.objects.exists()


def test_annotators_cannot_import(table_project):
    from tests.factories import Role, add_member

    annotator = UserFactory()
    add_member(table_project, annotator, Role.ANNOTATOR)
    assert upload(annotator, table_project, [("t.csv", CSV)]).status_code == 403


# --- images ----------------------------------------------------------------------------------------


def exif_rotated_jpeg() -> bytes:
    image = Image.new("RGB", (40, 20), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: displayed as 20 x 40
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def test_every_supported_format_imports_with_size_hash_and_thumbnail(manager, image_project):
    files = [
        ("a.png", image_bytes("PNG")),
        ("b.jpg", exif_rotated_jpeg()),
        ("c.webp", image_bytes("WEBP")),
        ("d.bmp", image_bytes("BMP")),
        ("e.gif", image_bytes("GIF")),
        ("f.tiff", image_bytes("TIFF")),
    ]
    files = [(name, data if name != "c.webp" else image_bytes("WEBP", color=(1, 2, 3))) for name, data in files]
    job = run(upload(manager, image_project, files))

    assert (job.status, job.created_count) == ("done", 6), job.errors
    rotated = Item.objects.get(external_id="b.jpg")
    assert (rotated.width, rotated.height) == (20, 40)
    assert rotated.image.name.endswith(".jpg")
    with rotated.thumbnail.open("rb") as handle:
        assert Image.open(handle).format == "WEBP"
    response = client_for(manager).get(f"/api/v1/projects/{image_project.id}/items/{rotated.id}/image/")
    assert response["Content-Type"] == "image/jpeg"
    assert "sandbox" in response["Content-Security-Policy"]


def test_duplicates_are_reported_and_stored_once(manager, image_project):
    same = image_bytes()
    job = run(upload(manager, image_project, [("a.png", same), ("copy.png", same)]))
    assert (job.created_count, job.duplicate_count, job.error_count) == (1, 1, 0)
    assert any("duplicate" in e["reason"] for e in job.errors)


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_with_class_folders_imports_labels(manager, image_project):
    archive = zip_of(
        {
            "cat/1.png": image_bytes(color=(1, 1, 1)),
            "dog/2.png": image_bytes(color=(2, 2, 2)),
            "__MACOSX/._junk": b"",
            ".DS_Store": b"",
        }
    )
    job = run(
        upload(
            manager, image_project, [("pets.zip", archive)], mode="valid_only", options={"labels_from_folders": True}
        )
    )

    assert (job.created_count, job.annotation_count) == (2, 2), job.errors
    labels = {a.item.external_id: a.labels.get().name for a in Annotation.objects.select_related("item")}
    assert labels == {"cat/1.png": "cat", "dog/2.png": "dog"}


def test_manifest_assigns_labels(manager, image_project):
    manifest = b"file,label\n1.png,dog\n2.png,cat\n"
    job = run(
        upload(
            manager,
            image_project,
            [
                ("1.png", image_bytes(color=(5, 5, 5))),
                ("2.png", image_bytes(color=(6, 6, 6))),
                ("labels.csv", manifest),
            ],
        )
    )
    assert job.annotation_count == 2
    assert Annotation.objects.get(item__external_id="1.png").labels.get().name == "dog"


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'
HTML = b"<html><script>alert(document.cookie)</script></html>"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("svg.png", SVG, "not an image"),
        ("page.jpg", HTML, "not an image"),
        ("text.png", b"hello", "not an image"),
        ("cut.png", image_bytes()[:60], "corrupt or truncated"),
        ("cut.jpg", image_bytes("JPEG", size=(200, 200))[:400], "corrupt or truncated"),
        ("bomb.png", None, "larger than the 40,000,000-pixel limit"),
        ("huge.png", None, "larger than the 40,000,000-pixel limit"),
        ("icon.ico", None, "ICO images are not accepted"),
    ],
)
def test_bad_images_are_refused_with_a_reason_and_nothing_is_stored(manager, image_project, name, data, reason):
    if name in ("bomb.png", "huge.png"):  # 100 Mpx (past Pillow's own warning) and 50 Mpx, each in a few kB
        side = 10_000 if name == "bomb.png" else 7_100
        buffer = io.BytesIO()
        Image.new("1", (side, side)).save(buffer, format="PNG")
        data = buffer.getvalue()
    if name == "icon.ico":
        buffer = io.BytesIO()
        Image.new("RGB", (16, 16)).save(buffer, format="ICO")
        data = buffer.getvalue()
    job = run(upload(manager, image_project, [(name, data), ("good.png", image_bytes())]))

    assert job.status == "failed"
    assert job.errors[0]["where"] == name
    assert reason in job.errors[0]["reason"]
    assert not Item.objects.exists()


def test_zip_slip_and_symlinks_are_refused(manager, image_project):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../etc/evil.png", image_bytes(color=(9, 9, 9)))
        archive.writestr("/abs.png", image_bytes(color=(8, 8, 8)))
        link = zipfile.ZipInfo("link.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("ok/fine.png", image_bytes(color=(7, 7, 7)))
    job = run(upload(manager, image_project, [("a.zip", buffer.getvalue())], mode="valid_only"))

    reasons = {e["where"]: e["reason"] for e in job.errors}
    assert reasons["../../etc/evil.png"] == "unsafe path in archive"
    assert reasons["/abs.png"] == "unsafe path in archive"
    assert reasons["link.png"] == "symbolic links are not followed"
    assert list(Item.objects.values_list("external_id", flat=True)) == ["ok/fine.png"]


def test_zip_bomb_is_refused_from_its_headers_before_anything_is_inflated(manager, image_project, monkeypatch):
    monkeypatch.setattr(image_io, "MAX_ARCHIVE_BYTES", 1_000_000)
    bomb = zip_of({f"zeros{n}.png": b"\0" * 600_000 for n in range(3)})  # a few kB that inflate to 1.8 MB
    job = run(upload(manager, image_project, [("bomb.zip", bomb)], mode="valid_only"))

    reason = "unreadable archive: archive inflates to 1,800,000 bytes, more than the limit of 1,000,000"
    assert job.errors == [{"where": "bomb.zip", "reason": reason}]
    assert not Item.objects.exists()


def test_import_data_command_reads_a_folder(manager, image_project, tmp_path, capsys):
    from django.core.management import call_command

    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.png").write_bytes(image_bytes(color=(3, 3, 3)))
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "b.jpg").write_bytes(image_bytes("JPEG", color=(4, 4, 4)))
    call_command("import_data", "Pets", str(tmp_path), "--labels-from-folders", "--user", "manager")

    assert "2 items created" in capsys.readouterr().out
    assert Annotation.objects.count() == 2
    assert Project.objects.get(name="Pets").items.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_an_upload_to_the_end(celery_worker):
    manager = UserFactory(username="boss", is_staff=True)
    project = make_project(owner=manager, name="Wine", data_kind="tabular", labels=[{"name": "red"}, {"name": "white"}])
    response = upload(manager, project, [("wine.csv", CSV)], options={"label_column": "label"})
    assert response.status_code == 202
    url = f"/api/v1/projects/{project.id}/imports/{response.data['id']}/"
    job = wait_until(
        lambda: (data := client_for(manager).get(url).data)["status"] not in ("queued", "running") and data,
        60,
        "the import to finish",
    )
    assert (job["status"], job["created_count"], job["annotation_count"]) == ("done", 2, 2)


def test_the_same_file_imported_into_two_projects_labels_both(manager, table_project):
    other = make_project(owner=manager, name="Wine 2", data_kind="tabular", labels=[{"name": "red"}, {"name": "white"}])
    for project in (table_project, other):
        job = run(upload(manager, project, [("wine.csv", CSV)], options={"label_column": "label"}))
        assert (job.created_count, job.annotation_count) == (2, 2)
    assert Annotation.objects.filter(item__project=other).count() == 2
    assert set(Item.objects.filter(project=other).values_list("status", flat=True)) == {"done"}


def test_numeric_labels_and_ids_keep_their_text(manager):
    project = make_project(owner=manager, name="Classes", data_kind="tabular", labels=[{"name": "1"}, {"name": "2"}])
    job = run(
        upload(
            manager,
            project,
            [("t.csv", b"id,x,class\n007,0.5,1\n008,0.7,2\n")],
            options={"id_column": "id", "label_column": "class"},
        )
    )

    assert (job.status, job.annotation_count) == ("done", 2), job.errors
    assert sorted(Item.objects.values_list("external_id", flat=True)) == ["007", "008"]
    assert Annotation.objects.get(item__external_id="008").labels.get().name == "2"


def test_an_encoding_that_is_not_a_text_encoding_is_a_400(manager, table_project):
    response = client_for(manager).post(
        f"/api/v1/projects/{table_project.id}/imports/preview/",
        {"file": SimpleUploadedFile("t.csv", b"a\n1\n"), "encoding": "rot13"},
        format="multipart",
    )
    assert response.status_code == 400


def test_a_job_whose_worker_died_is_taken_over_and_the_old_run_can_no_longer_write(manager, table_project):
    from datetime import timedelta

    from django.utils import timezone

    from core.jobs import job_claim, job_writes

    response = upload(manager, table_project, [("wine.csv", CSV)])
    job_id = response.data["id"]
    dead_attempt = job_claim(ImportJob, job_id)  # a worker took it, then died without a heartbeat
    ImportJob.objects.filter(id=job_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    import_job_execute(job_id=job_id)

    job = ImportJob.objects.get(id=job_id)
    assert (job.status, job.attempts, job.created_count) == ("done", 2, 2)
    assert job_writes(ImportJob, job_id, dead_attempt).update(status="failed") == 0


def test_a_job_that_keeps_dying_stops_with_the_reason(manager, table_project):
    from datetime import timedelta

    from django.utils import timezone

    job_id = upload(manager, table_project, [("wine.csv", CSV)]).data["id"]
    ImportJob.objects.filter(id=job_id).update(
        status="running", attempts=3, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    import_job_execute(job_id=job_id)
    job = ImportJob.objects.get(id=job_id)
    assert (job.status, job.failure) == ("failed", "Gave up after 3 attempts.")
    assert not Item.objects.exists()
