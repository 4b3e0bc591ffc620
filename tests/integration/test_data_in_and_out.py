"""Data in and out without silent changes: tricky tables keep their values and types, text encodings are read or
refused with a reason, image archives are checked entry by entry, and exports load in the tools that read them."""

import datetime as dt
import io
import json
import threading
import zipfile
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from PIL import Image

from annotation.demo import demo_load
from annotation.io import exporters, tables
from annotation.jobs import import_job_execute
from annotation.models import Annotation, ImportJob, Item, Label, Project
from tests.factories import UserFactory, make_annotation, make_image_item, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager():
    return UserFactory(username="manager", is_staff=True)


@pytest.fixture
def table_project(manager):
    return make_project(owner=manager, name="Places", data_kind="tabular", labels=[{"name": "a"}, {"name": "b"}])


def imported(manager, project, name, data, mode="all_or_nothing", **options) -> ImportJob:
    body = {"files": [SimpleUploadedFile(name, data)], "mode": mode, "options": json.dumps(options)}
    response = client_for(manager).post(f"/api/v1/projects/{project.id}/imports/", body, format="multipart")
    assert response.status_code == 202, response.data
    import_job_execute(job_id=response.data["id"])
    return ImportJob.objects.get(id=response.data["id"])


def preview(manager, project, name, data, **options):
    body = {"file": SimpleUploadedFile(name, data), "options": json.dumps(options)}
    return client_for(manager).post(f"/api/v1/projects/{project.id}/imports/preview/", body, format="multipart")


def stored(project) -> dict[str, dict]:
    return {item.external_id: item.data for item in Item.objects.filter(project=project)}


def stored_values(project, column: str) -> list:
    return sorted(item.data[column] for item in Item.objects.filter(project=project))


def exported(project, fmt: str) -> bytes:
    buffer = io.BytesIO()
    exporters.write(project, fmt, {}, buffer)
    return buffer.getvalue()


# --- values and types -------------------------------------------------------------------------------

TRICKY = (
    b"id,zip,word,note,big,price,day,stamp\n"
    b"r1,00501,NA,  two spaces  ,9007199254740993,12345678901234567.25,2024-02-29,2024-02-29T10:30:00+00:00\n"
    b"r2,10001,null,-,-9223372036854775807,0.10,,2024-03-01T00:00:00Z\n"
    b"r3,NA,None,plain,NA,NA,NA,NA\n"
)


def test_text_values_are_kept_as_written_and_numbers_and_dates_exactly(manager, table_project):
    job = imported(manager, table_project, "places.csv", TRICKY, id_column="id")

    assert (job.status, job.created_count, job.error_count) == ("done", 3, 0), job.errors
    rows = stored(table_project)
    assert [rows[r]["zip"] for r in ("r1", "r2", "r3")] == ["00501", "10001", "NA"]  # leading zeros: text
    assert [rows[r]["word"] for r in ("r1", "r2", "r3")] == ["NA", "null", "None"]  # missing words: not in text
    assert [rows["r1"]["note"], rows["r2"]["note"]] == ["  two spaces  ", "-"]
    assert [rows["r1"]["big"], rows["r3"]["big"]] == [9007199254740993, None]  # above 2**53, exact
    assert rows["r1"]["price"] == "12345678901234567.25"  # too long for a float: an exact decimal
    assert [rows["r1"]["day"], rows["r2"]["day"]] == ["2024-02-29", None]
    table_project.refresh_from_db()
    assert {c["name"]: c["dtype"] for c in table_project.columns} == {
        "zip": "string",
        "word": "string",
        "note": "string",
        "big": "int64",
        "price": "decimal128(19, 2)",
        "day": "date32",
        "stamp": "timestamp[us, tz=UTC]",
    }


def test_parquet_types_come_back_out_of_a_parquet_export_unchanged(manager, table_project):
    schema = pa.schema(
        [
            ("zip", pa.string()),
            ("count", pa.int64()),
            ("price", pa.decimal128(12, 3)),
            ("day", pa.date32()),
            ("seen", pa.timestamp("us", tz="UTC")),
            ("ok", pa.bool_()),
            ("ratio", pa.float64()),
        ]
    )
    source = pa.table(
        {
            "zip": ["00501", "10001"],
            "count": [2**62, -1],
            "price": [Decimal("1.250"), None],
            "day": [dt.date(2024, 2, 29), None],
            "seen": [dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC), None],
            "ok": [True, None],
            "ratio": [0.1, 2.5],
        },
        schema=schema,
    )
    buffer = io.BytesIO()
    pq.write_table(source, buffer)
    assert imported(manager, table_project, "t.parquet", buffer.getvalue()).status == "done"

    table_project.refresh_from_db()
    out = pq.read_table(io.BytesIO(exported(table_project, "parquet")))
    for field in schema:
        assert out.schema.field(field.name).type == field.type, field.name
        assert out.column(field.name).to_pylist() == source.column(field.name).to_pylist(), field.name
    frame = out.to_pandas()
    assert frame["zip"].tolist() == ["00501", "10001"]
    assert int(frame["count"][0]) == 2**62


def test_a_type_chosen_in_the_preview_is_the_type_imported(manager, table_project):
    data = b"code,size\n10,1.50\n20,2\n"
    shown = preview(manager, table_project, "t.csv", data, column_types={"code": "text"})
    assert shown.status_code == 200
    assert {c["name"]: c["type"] for c in shown.data["columns"]} == {"code": "text", "size": "numeric"}

    job = imported(manager, table_project, "t.csv", data, column_types={"code": "text"})
    assert job.status == "done"
    assert stored_values(table_project, "code") == ["10", "20"]


def test_values_that_do_not_fit_a_chosen_type_are_bad_rows_with_the_reason(manager, table_project):
    job = imported(manager, table_project, "t.csv", b"n\n1\ntwo\n", column_types={"n": "numeric"})
    assert job.status == "failed"
    assert job.errors == [{"where": "row 3", "reason": "column 'n': 'two' is not a number"}]
    assert not Item.objects.exists()


def test_an_over_long_cell_is_cut_to_the_limit_and_said(manager, table_project):
    long = "x" * (tables.MAX_CELL_CHARS + 10)
    job = imported(manager, table_project, "t.csv", f"id,text\nr1,{long}\n".encode(), id_column="id")

    assert (job.status, job.created_count, job.error_count) == ("done", 1, 0)
    assert len(stored(table_project)["r1"]["text"]) == tables.MAX_CELL_CHARS
    assert job.errors == [{"where": "row 2", "reason": "column 'text': cut to 131,072 characters"}]


# --- encodings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom"), [("utf-16", True), ("shift_jis", False), ("utf-8-sig", True), ("cp1252", False)]
)
def test_text_encodings_are_detected(manager, table_project, encoding, bom):
    text = "name,city\nAkira,東京\nBéa,Zürich\n" if encoding != "cp1252" else "name,city\nBéa,Zürich\nZoë,Genève\n"
    if encoding == "shift_jis":
        text = "name,city\n明,東京\n花子,大阪\n青,京都\n"
    job = imported(manager, table_project, "t.csv", text.encode(encoding))

    assert job.status == "done", job.failure
    expected = [line.split(",")[1] for line in text.splitlines()[1:]]
    assert stored_values(table_project, "city") == sorted(expected)


def test_a_binary_file_named_csv_is_refused_with_the_reason(manager, table_project):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, format="BMP")
    job = imported(manager, table_project, "data.csv", buffer.getvalue())

    assert job.status == "failed"
    assert "not a text file" in job.failure
    assert not Item.objects.exists()
    assert preview(manager, table_project, "data.csv", buffer.getvalue()).status_code == 400


# --- the preview and the project's columns ----------------------------------------------------------


def test_the_preview_reads_only_the_head_of_a_large_file(manager, table_project):
    rows = "".join(f"r{n},{n}\n" for n in range(300_000))  # about 3.6 MB
    shown = preview(manager, table_project, "big.csv", f"id,n\n{rows}".encode())

    assert shown.status_code == 200
    assert shown.data["complete"] is False
    assert 1_000 < shown.data["row_count"] < 300_000
    assert len(shown.data["rows"]) == 20


def test_an_import_whose_columns_differ_from_the_project_is_refused_unless_accepted(manager, table_project):
    first = imported(manager, table_project, "t.csv", b"id,height,colour\nr1,1.5,red\nr2,2.5,blue\n", id_column="id")
    assert first.status == "done"
    changed = b"id,height,weight\nr3,tall,3\n"

    shown = preview(manager, table_project, "t.csv", changed, id_column="id")
    assert shown.data["schema_problems"] == [
        "columns missing: colour",
        "columns the project does not have: weight",
        "column 'height' is categorical here but numeric in the project",
    ]
    refused = imported(manager, table_project, "t.csv", changed, id_column="id")
    assert refused.status == "failed"
    assert "does not match the project's columns" in refused.failure
    assert "columns missing: colour" in refused.failure
    assert Item.objects.count() == 2
    accepted = imported(manager, table_project, "t.csv", changed, id_column="id", accept_schema_changes=True)
    assert (accepted.status, accepted.created_count) == ("done", 1)


# --- image archives ---------------------------------------------------------------------------------


def png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_labels_from_folders_take_the_first_folder(manager):
    project = make_project(owner=manager, name="Pets")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("cat/indoor/1.png", png((1, 2, 3)))
        out.writestr("dog/2.png", png((4, 5, 6)))
    job = imported(manager, project, "pets.zip", archive.getvalue(), labels_from_folders=True)

    assert job.status == "done", job.errors
    labels = {a.item.external_id: a.labels.get().name for a in Annotation.objects.select_related("item")}
    assert labels == {"cat/indoor/1.png": "cat", "dog/2.png": "dog"}


def test_a_zip_entry_compressed_past_the_ratio_is_refused_without_inflating_it(manager):
    project = make_project(owner=manager, name="Pets")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("zeros.png", b"\0" * (8 * 2**20))
        out.writestr("fine.png", png((7, 7, 7)))
    job = imported(manager, project, "a.zip", archive.getvalue(), mode="valid_only")

    assert job.errors == [{"where": "zeros.png", "reason": "compressed more than 500:1 (a zip bomb?); not inflated"}]
    assert list(Item.objects.values_list("external_id", flat=True)) == ["fine.png"]


@pytest.mark.parametrize("name", ["..", "../../etc", "a/b", "back\\slash"])
def test_label_names_unsafe_as_folder_names_are_refused(manager, name):
    project = make_project(owner=manager, name="Pets")
    response = client_for(manager).post(
        f"/api/v1/projects/{project.id}/schema/changes/", {"op": "add_label", "label": {"name": name}}, format="json"
    )
    assert response.status_code == 400
    assert "folder name" in json.dumps(response.data)


# --- exports in the tools that read them ------------------------------------------------------------


@pytest.fixture
def digits(manager):
    """The demo digits (items without a file extension in their ids), 40 of them labeled with their digit."""
    from sklearn.datasets import load_digits

    project = next(p for p in demo_load(owner=manager) if p.data_kind == "image")
    targets = load_digits().target
    labels = {label.name: label for label in Label.objects.filter(project=project)}
    for item in Item.objects.filter(project=project).order_by("id")[:40]:
        make_annotation(item, manager, labels[str(targets[int(item.external_id.split("-")[1])])])
    return project


def imagefolder_classes(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """What torchvision's ImageFolder finds (torchvision itself does not import beside this torch build):
    classes = the sorted sub-folder names, samples = files with an image extension it accepts, per class."""
    extensions = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir())
    samples = [
        (path, index)
        for index, name in enumerate(classes)
        for path in sorted((root / name).rglob("*"))
        if path.is_file() and path.name.lower().endswith(extensions)
    ]
    return classes, samples


def test_digits_exports_agree_on_classes_in_imagefolder_hf_and_coco(digits, tmp_path):
    from datasets import Dataset
    from pycocotools.coco import COCO

    with zipfile.ZipFile(io.BytesIO(exported(digits, "imagefolder"))) as archive:
        archive.extractall(tmp_path / "folder")
    classes, samples = imagefolder_classes(tmp_path / "folder")
    assert classes == [str(d) for d in range(10)]
    assert len(samples) == 40  # every labeled image found: each file ends in .png
    by_item = {int(path.name.split("_")[0]): index for path, index in samples}

    (tmp_path / "hf.parquet").write_bytes(exported(digits, "hf_parquet"))
    hf = Dataset.from_parquet(str(tmp_path / "hf.parquet"), cache_dir=str(tmp_path / "cache"))
    assert hf.features["label"].names == classes
    assert {row["item_id"]: row["label"] for row in hf if row["label"] >= 0} == by_item
    assert hf[0]["image"].size == (Image.open(samples[0][0]).size)

    with zipfile.ZipFile(io.BytesIO(exported(digits, "coco"))) as archive:
        archive.extractall(tmp_path / "coco")
    coco = COCO(str(tmp_path / "coco" / "annotations.json"))
    assert [coco.cats[i]["name"] for i in sorted(coco.cats)] == classes
    annotations = coco.loadAnns(coco.getAnnIds())
    assert {a["image_id"]: a["category_id"] for a in annotations} == by_item
    mask = coco.annToMask(annotations[0])
    image = coco.imgs[annotations[0]["image_id"]]
    assert mask.shape == (image["height"], image["width"])
    assert mask.all()  # the label is the whole image's
    for image in coco.loadImgs(coco.getImgIds()):
        assert Image.open(tmp_path / "coco" / "images" / image["file_name"]).format == "PNG"


def test_download_names_differ_per_format(manager):
    assert len({suffix for suffix in exporters.FORMATS.values()}) == len(exporters.FORMATS)


def test_an_image_whose_id_has_another_extension_gets_its_real_one(manager):
    project = make_project(owner=manager, name="Pets")
    cat = Label.objects.filter(project=project).order_by("id").first()
    item = make_image_item(project, "scan.jpg")  # a PNG file named .jpg by its uploader
    make_annotation(item, manager, cat)
    with zipfile.ZipFile(io.BytesIO(exported(project, "imagefolder"))) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/") and n != "classes.json"]
    assert names == [f"{cat.name}/{item.id}_scan.jpg.png"]


# --- snapshots --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_export_is_a_snapshot_of_the_moment_it_started(manager, monkeypatch):
    """An answer committed by someone else while the export runs is not half in it: it is left out entirely."""
    project = make_project(owner=manager, name="Pets")
    cat = Label.objects.filter(project=project).order_by("id").first()
    items = [make_image_item(project, f"{n}.png", color=(n, n, n)) for n in range(4)]
    monkeypatch.setattr(exporters, "CHUNK", 1)
    failed: list[BaseException] = []

    def label_the_last_item() -> None:  # someone else, on a connection of their own
        try:
            make_annotation(items[-1], manager, cat)
        except BaseException as exc:
            failed.append(exc)
        finally:
            connections.close_all()

    def answer_meanwhile(done: int) -> None:
        if done == 1:  # the first item is written, the last one not yet
            thread = threading.Thread(target=label_the_last_item)
            thread.start()
            thread.join()

    buffer = io.BytesIO()
    exporters.write(project, "jsonl", {}, buffer, answer_meanwhile)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]

    assert Annotation.objects.filter(item=items[-1]).exists(), failed
    assert [line["label"] for line in lines] == [None, None, None, None]
    Project.objects.all().delete()
