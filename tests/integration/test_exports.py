"""Exports read back with the libraries their users use, checked against the database."""

import csv
import datetime as dt
import io
import json
import threading
import zipfile
from decimal import Decimal

import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from PIL import Image

from annotation.io import columnar, exporters
from annotation.io.archive import archive_import
from annotation.jobs import export_job_execute, import_job_execute
from annotation.models import Annotation, ExportJob, Item, ItemEvent, Label, Project, Review, SchemaChange
from annotation.review import item_review
from annotation.services import schema_change_apply
from tests.factories import UserFactory, make_annotation, make_image_item, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def wine():
    manager = UserFactory(username="maria", is_staff=True)
    ann = UserFactory(username="ali")
    project = make_project(owner=manager, name="Wine", data_kind="tabular", labels=[{"name": "red"}, {"name": "white"}])
    project.columns = [{"name": "alcohol", "type": "numeric"}, {"name": "note", "type": "text"}]
    project.save()
    red, white = Label.objects.filter(project=project).order_by("id")
    rows = [
        {"alcohol": 13.5, "note": "=cmd|' /C calc'!A0"},
        {"alcohol": -0.5, "note": "@SUM(A1)"},
        {"alcohol": None, "note": "plain"},
    ]
    items = [
        Item.objects.create(project=project, external_id=f"w{n}", data=row, content_hash=f"h{n}")
        for n, row in enumerate(rows)
    ]
    for item, label in ((items[0], red), (items[1], white)):
        annotation = make_annotation(item, ann, label)
        Annotation.objects.filter(id=annotation.id).update(time_spent_ms=1500)
        Item.objects.filter(id=item.id).update(status="done", annotation_count=1, agreement=1.0)
    return {"project": project, "manager": manager, "items": items, "red": red, "white": white}


def export(project, fmt, filters=None) -> bytes:
    buffer = io.BytesIO()
    exporters.write(project, fmt, filters or {}, buffer)
    return buffer.getvalue()


def test_csv_has_the_columns_labels_and_neutralises_formulas_but_not_numbers(wine):
    frame = pd.read_csv(io.BytesIO(export(wine["project"], "csv")))

    assert list(frame["external_id"]) == ["w0", "w1", "w2"]
    assert list(frame["label"].fillna("")) == ["red", "white", ""]
    assert frame["alcohol"].tolist()[:2] == [13.5, -0.5]  # a negative number stays a number
    assert frame["note"].tolist() == ["'=cmd|' /C calc'!A0", "'@SUM(A1)", "plain"]
    assert frame["annotators"].tolist()[:2] == ["ali", "ali"]
    assert frame["annotator_labels"].tolist()[0] == "ali=red"
    assert frame["time_spent_ms"].tolist()[:2] == [1500, 1500]


def test_jsonl_keeps_nested_answers(wine):
    lines = [json.loads(line) for line in export(wine["project"], "jsonl").splitlines()]
    assert lines[0]["label"] == "red"  # one label per item: a scalar, as in the CSV
    assert lines[2]["label"] is None
    assert lines[0]["annotations"][0]["annotator"] == "ali"
    assert lines[0]["note"] == "=cmd|' /C calc'!A0"  # JSON is not a spreadsheet: values stay exact
    assert lines[2]["alcohol"] is None


def test_parquet_is_typed(wine):
    table = pq.read_table(io.BytesIO(export(wine["project"], "parquet")))
    assert str(table.schema.field("alcohol").type) == "double"
    assert table.column("label").to_pylist() == ["red", "white", None]
    assert str(table.schema.field("label").type) == "string"
    assert str(table.schema.field("status").type).startswith("dictionary")
    assert str(table.schema.field("first_annotated_at").type) == "timestamp[us, tz=UTC]"
    assert "snapshot_at" in json.loads(table.schema.metadata[b"loupe"])
    assert table.column("annotations").to_pylist()[1][0]["labels"] == ["white"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": "done"}, ["w0", "w1"]),
        ({"label": "white"}, ["w1"]),
        ({"annotator": "nobody"}, []),
        ({"agreement_min": 0.9}, ["w0", "w1"]),
        ({"status": "open"}, ["w2"]),
    ],
)
def test_filters_select_the_subset(wine, filters, expected):
    lines = [json.loads(line) for line in export(wine["project"], "jsonl", filters).splitlines()]
    assert [line["external_id"] for line in lines] == expected


def test_export_job_streams_to_storage_and_downloads_only_when_done(wine):
    client = client_for(wine["manager"])
    url = f"/api/v1/projects/{wine['project'].id}/exports/"
    job = client.post(url, {"format": "csv"}, format="json").data
    assert ExportJob.objects.get(id=job["id"]).sent_at is not None  # the request sent it to a worker
    assert client.get(f"{url}{job['id']}/download/").status_code == 409  # not yet

    export_job_execute(job_id=job["id"])
    export_job_execute(job_id=job["id"])  # redelivery: already done, nothing happens
    detail = client.get(f"{url}{job['id']}/").data
    response = client.get(detail["download_url"])

    assert detail["status"] == "done"
    assert detail["processed"] == 3
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"item_id,external_id,alcohol,note,label")
    assert ExportJob.objects.get().file.name.endswith(".csv")


def test_image_formats_are_refused_for_tables(wine):
    response = client_for(wine["manager"]).post(
        f"/api/v1/projects/{wine['project'].id}/exports/", {"format": "coco"}, format="json"
    )
    assert response.status_code == 400
    assert "image projects" in response.data["format"][0]


@pytest.fixture
def pets():
    manager = UserFactory(username="pm", is_staff=True)
    project = make_project(owner=manager, name="Pets")
    cat, dog = Label.objects.filter(project=project).order_by("id")
    items = [make_image_item(project, f"folder/{n}.png", color=(n, n, n)) for n in range(3)]
    for item, label in zip(items[:2], (cat, dog), strict=True):
        make_annotation(item, manager, label)
    return {"project": project, "manager": manager, "items": items, "cat": cat, "dog": dog}


def test_imagefolder_zip_has_label_folders(pets, tmp_path):
    out = tmp_path / "out"
    with zipfile.ZipFile(io.BytesIO(export(pets["project"], "imagefolder"))) as archive:
        archive.extractall(out)
    found = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert found == [f"cat/{pets['items'][0].id}_0.png", f"dog/{pets['items'][1].id}_1.png"]
    Image.open(out / found[0]).verify()


def test_coco_json_is_well_formed(pets):
    with zipfile.ZipFile(io.BytesIO(export(pets["project"], "coco"))) as archive:
        coco = json.loads(archive.read("annotations.json"))
        names = set(archive.namelist())
    assert {c["name"] for c in coco["categories"]} == {"cat", "dog"}
    assert len(coco["images"]) == 3
    image_ids = {image["id"] for image in coco["images"]}
    category_ids = {c["id"] for c in coco["categories"]}
    assert all(a["image_id"] in image_ids and a["category_id"] in category_ids for a in coco["annotations"])
    assert len(coco["annotations"]) == 2
    assert all(f"images/{image['file_name']}" in names for image in coco["images"])


def test_hf_parquet_declares_image_and_classlabel_features(pets):
    table = pq.read_table(io.BytesIO(export(pets["project"], "hf_parquet")))
    features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    assert features["image"] == {"_type": "Image"}
    assert features["label"]["names"] == ["cat", "dog"]
    assert table.column("label").to_pylist() == [0, 1, -1]
    Image.open(io.BytesIO(table.column("image").to_pylist()[0]["bytes"])).verify()


def test_project_archive_round_trip_reproduces_everything(pets):
    project, manager = pets["project"], pets["manager"]
    reviewer = UserFactory(username="rita")
    schema_change_apply(project_id=project.id, user=manager, operation={"op": "add_label", "label": {"name": "bird"}})
    bird = Label.objects.get(project=project, name="bird")
    schema_change_apply(
        project_id=project.id,
        user=manager,
        operation={"op": "merge_labels", "source_ids": [bird.id], "target_id": pets["cat"].id},
    )
    Item.objects.filter(id=pets["items"][0].id).update(status="done", annotation_count=1, agreement=1.0)
    Annotation.objects.filter(item=pets["items"][1]).update(
        suggested_label_ids=[pets["dog"].id], accepted_suggestion=True
    )
    Annotation.objects.filter(item=pets["items"][0]).update(suggested_label_ids=[bird.id], accepted_suggestion=False)
    item_review(
        reviewer=reviewer,
        project=project,
        item_id=pets["items"][0].id,
        decision="correct",
        label_ids=[pets["dog"].id],
        comment="it barks",
    )
    project.refresh_from_db()

    archive = export(project, "loupe")
    copy = archive_import(source=io.BytesIO(archive), name="Pets again", owner=manager)

    def snapshot(p: Project) -> dict:
        labels = {label.id: label.name for label in Label.objects.filter(project=p)}
        return {
            "settings": [getattr(p, f) for f in ("data_kind", "task_type", "schema_version", "overlap", "columns")],
            "labels": sorted(
                (lb.name, lb.color, lb.hotkey, bool(lb.retired_at), labels.get(lb.merged_into_id))
                for lb in Label.objects.filter(project=p)
            ),
            "schema": list(SchemaChange.objects.filter(project=p).values_list("version", "operation", "created_at")),
            "items": sorted(
                (i.external_id, i.content_hash, i.status, i.review_status, i.width, i.created_at)
                for i in Item.objects.filter(project=p)
            ),
            "files": sorted(i.image.open("rb").read() for i in Item.objects.filter(project=p)),
            "annotations": sorted(
                (
                    a.item.external_id,
                    a.annotator.username,
                    tuple(labels[x.id] for x in a.labels.all()),
                    a.created_at,
                    tuple(labels[x] for x in a.suggested_label_ids or ()),
                    a.accepted_suggestion,
                )
                for a in Annotation.objects.filter(item__project=p)
            ),
            "reviews": list(
                Review.objects.filter(item__project=p).values_list("decision", "comment", "reviewer__username")
            ),
            "events": list(ItemEvent.objects.filter(item__project=p).values_list("kind", "actor__username", "comment")),
        }

    assert snapshot(copy) == snapshot(project)


def test_export_data_command_writes_a_file(wine, tmp_path):
    out = tmp_path / "wine.parquet"
    call_command("export_data", "Wine", str(out), "--format", "parquet", "--filters", '{"status": "done"}')
    assert pq.read_table(out).num_rows == 2


def test_csv_with_unicode_and_commas_round_trips(wine):
    Item.objects.filter(id=wine["items"][2].id).update(data={"alcohol": 1.0, "note": 'a, "quoted" — ünïcode\nline'})
    rows = list(csv.DictReader(io.StringIO(export(wine["project"], "csv").decode())))
    assert rows[2]["note"] == 'a, "quoted" — ünïcode\nline'


def test_archive_becomes_a_new_project_through_the_api_and_the_cli(pets, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    archive = export(pets["project"], "loupe")
    response = client_for(pets["manager"]).post(
        "/api/v1/projects/import-archive/",
        {"file": SimpleUploadedFile("p.loupe.zip", archive), "name": "Copy"},
        format="multipart",
    )
    assert response.status_code == 202  # the project exists at once, empty; a worker restores the archive
    assert response.data["project"]["name"] == "Copy"
    assert Project.objects.get(name="Copy").items.count() == 0
    import_job_execute(job_id=response.data["job"]["id"])
    assert response.data["job"]["kind"] == "archive"
    assert Project.objects.get(name="Copy").items.count() == 3
    path = tmp_path / "p.loupe.zip"
    path.write_bytes(archive)
    call_command("import_data", "Copy 2", str(path), "--user", "pm")
    assert Project.objects.get(name="Copy 2").items.count() == 3
    bad = client_for(pets["manager"]).post(
        "/api/v1/projects/import-archive/",
        {"file": SimpleUploadedFile("x.zip", b"PK nonsense"), "name": "X"},
        format="multipart",
    )
    assert bad.status_code == 400
    assert "Not a Loupe project archive" in bad.data["file"][0]


def test_an_archive_imports_twice_into_the_same_install(pets):
    from annotation.labeling import annotation_submit

    project, manager = pets["project"], pets["manager"]
    Item.objects.filter(id=pets["items"][2].id).update(status="open")
    annotation_submit(
        user=manager, project=project, item_id=pets["items"][2].id, label_ids=[pets["cat"].id], client_key="retry-key-1"
    )
    archive = export(project, "loupe")
    first = archive_import(source=io.BytesIO(archive), name="Copy A", owner=manager)
    second = archive_import(source=io.BytesIO(archive), name="Copy B", owner=manager)
    assert Annotation.objects.filter(item__project=first).count() == 3
    assert Annotation.objects.filter(item__project=second).count() == 3


@pytest.mark.parametrize(
    "tamper",
    ["drop_labels", "created_by", "overlap_zero", "svg_image", "bad_line"],
)
def test_a_damaged_or_altered_archive_is_refused_and_leaves_nothing(pets, tamper):
    from annotation.io.archive import archive_import
    from core.errors import InvalidInput

    source = zipfile.ZipFile(io.BytesIO(export(pets["project"], "loupe")))
    members = {name: source.read(name) for name in source.namelist()}
    manifest = json.loads(members["project.json"])
    if tamper == "drop_labels":
        del manifest["labels"]
    elif tamper == "created_by":
        manifest["project"]["created_by"] = 1
        manifest["project"]["overlap"] = "x"
    elif tamper == "overlap_zero":
        manifest["project"]["overlap"] = 0
    elif tamper == "svg_image":
        name = next(n for n in members if n.startswith("media/"))
        members[name] = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    elif tamper == "bad_line":
        members["annotations.jsonl"] += b"{not json\n"
    members["project.json"] = json.dumps(manifest).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)

    with pytest.raises(InvalidInput):
        archive_import(source=io.BytesIO(buffer.getvalue()), name="Tampered", owner=pets["manager"])
    assert not Project.objects.filter(name="Tampered").exists()


def test_data_columns_named_like_export_fields_are_kept_apart(wine):
    project = wine["project"]
    project.columns = [*project.columns, {"name": "status", "type": "text"}, {"name": "label", "type": "numeric"}]
    project.save()
    Item.objects.filter(project=project).update(data={"alcohol": 1.0, "note": "n", "status": "vintage", "label": 7.0})

    frame = pd.read_csv(io.BytesIO(export(project, "csv")))
    table = pq.read_table(io.BytesIO(export(project, "parquet")))
    assert frame["data.status"].tolist() == ["vintage"] * 3
    assert frame["status"].tolist() == ["done", "done", "open"]
    assert table.column("data.label").to_pylist() == [7.0] * 3
    assert table.column("label").to_pylist() == ["red", "white", None]
    assert str(table.schema.field("label").type) == "string"
    assert str(table.schema.field("status").type).startswith("dictionary")
    assert str(table.schema.field("first_annotated_at").type) == "timestamp[us, tz=UTC]"
    assert "snapshot_at" in json.loads(table.schema.metadata[b"loupe"])


@pytest.mark.parametrize("chunk", [50_000, 2])
@pytest.mark.parametrize("task_type", ["single_label", "multi_label"])
def test_parquet_rows_are_the_jsonl_rows_typed_for_every_filter(task_type, chunk, monkeypatch):
    """The Parquet export is built column-wise; the JSON Lines export row by row: both give the same rows, in one
    chunk or in several."""
    monkeypatch.setattr(columnar, "PARQUET_CHUNK", chunk)
    manager, first, second = UserFactory(username="maria", is_staff=True), UserFactory(), UserFactory()
    project = make_project(
        owner=manager, name="Mixed", data_kind="tabular", task_type=task_type, labels=[{"name": "a"}, {"name": "b"}]
    )
    project.columns = [
        {"name": "n", "type": "numeric", "dtype": "int64"},
        {"name": "x", "type": "numeric", "dtype": "float64"},
        {"name": "kind", "type": "categorical", "dtype": "string"},
        {"name": "note", "type": "text", "dtype": "string"},
        {"name": "price", "type": "numeric", "dtype": "decimal128(5, 2)"},
        {"name": "day", "type": "datetime", "dtype": "date32"},
    ]
    project.save()
    a, b = Label.objects.filter(project=project).order_by("id")
    rows = [
        {"n": 1, "x": 0.5, "kind": "k1", "note": 'say "hi"\n', "price": "1.25", "day": "2024-02-29"},
        {"n": None, "x": 2, "kind": None, "note": "é", "price": None, "day": None},
        {"n": 3, "x": -1.0, "kind": "k2", "note": None, "price": "0.10", "day": "2023-01-01"},
        {"n": 4, "x": 1e-7, "kind": "k1", "note": "plain", "price": "2.00", "day": "2022-12-31"},
    ]
    external_ids = ['say "hi", then\nleave', "", "é,;\\", "m3"]  # quotes, commas, a line break, nothing
    items = [
        Item.objects.create(project=project, external_id=external_ids[n], data=row, content_hash=f"h{n}")
        for n, row in enumerate(rows)
    ]
    make_annotation(items[0], first, a)
    make_annotation(items[0], second, a, b)
    Annotation.objects.filter(item=items[0]).update(time_spent_ms=700)
    make_annotation(items[1], first, b)
    Item.objects.filter(id__in=[items[0].id, items[1].id]).update(status="done")
    Item.objects.filter(id=items[0].id).update(agreement=1 / 3)
    Item.objects.filter(id=items[2].id).update(review_status="corrected")
    Review.objects.create(item=items[2], reviewer=manager, decision=Review.Decision.CORRECT).labels.set([a])

    for filters in ({}, {"label": "a"}, {"label": "b"}, {"status": "done"}, {"annotator": first.username}):
        lines = [json.loads(line) for line in export(project, "jsonl", filters).splitlines()]
        table = pq.read_table(io.BytesIO(export(project, "parquet", filters))).to_pylist()
        assert [row["item_id"] for row in table] == [line["item_id"] for line in lines], filters
        for row, line in zip(table, lines, strict=True):
            assert row["price"] == (Decimal(line["price"]) if line["price"] else None)
            assert row["day"] == (dt.date.fromisoformat(line["day"]) if line["day"] else None)
            names = ("external_id", "n", "x", "kind", "note", "label", "status", "review_status", "agreement")
            for name in (*names, "time_spent_ms"):
                assert row[name] == line[name], (filters, name)
            for name in ("first_annotated_at", "last_annotated_at"):
                assert row[name] == (dt.datetime.fromisoformat(line[name]) if line[name] else None)
            assert [{**x, "created_at": x["created_at"].isoformat()} for x in row["annotations"]] == line["annotations"]


def test_parquet_rows_of_images_are_the_jsonl_rows(pets):
    Item.objects.filter(id=pets["items"][2].id).update(width=None, height=None)
    lines = [json.loads(line) for line in export(pets["project"], "jsonl").splitlines()]
    table = pq.read_table(io.BytesIO(export(pets["project"], "parquet"))).to_pylist()
    fields = ("item_id", "external_id", "file", "width", "height", "label", "status", "review_status", "agreement")
    assert [{name: row[name] for name in fields} for row in table] == [
        {name: line[name] for name in fields} for line in lines
    ]


def test_parquet_export_converts_values_stored_before_their_column_had_a_type(wine):
    Item.objects.filter(external_id="w2").update(data={"alcohol": 12, "note": 7})

    table = pq.read_table(io.BytesIO(export(wine["project"], "parquet")))
    assert table.column("alcohol").to_pylist() == [13.5, -0.5, 12.0]
    assert table.column("note").to_pylist()[2] == "7"


def _reader_threads() -> list:
    return [thread for thread in threading.enumerate() if thread.name == "export-read-ahead"]


@pytest.mark.django_db(transaction=True)
def test_parquet_export_in_its_own_transaction_reads_ahead_and_gives_the_jsonl_rows(wine, monkeypatch):
    """Outside a test's transaction, PostgreSQL exports read the next chunk on a second connection that shares
    the export's snapshot; the rows are the same and the reader is gone afterwards."""
    monkeypatch.setattr(columnar, "PARQUET_CHUNK", 2)
    read_ahead, calls = columnar.read_ahead, []
    monkeypatch.setattr(columnar, "read_ahead", lambda *args, **kw: calls.append(args) or read_ahead(*args, **kw))
    project = wine["project"]
    for n in range(3, 7):
        Item.objects.create(
            project=project, external_id=f"w{n}", data={"alcohol": n, "note": "x"}, content_hash=f"h{n}"
        )
    lines = [json.loads(line) for line in export(project, "jsonl").splitlines()]
    table = pq.read_table(io.BytesIO(export(project, "parquet"))).to_pylist()
    fields = ("item_id", "external_id", "alcohol", "note", "label", "status", "agreement", "time_spent_ms")
    assert [{name: row[name] for name in fields} for row in table] == [
        {name: line[name] for name in fields} for line in lines
    ]
    assert len(table) == 7
    assert len(calls) == (1 if connection.vendor == "postgresql" else 0)
    assert _reader_threads() == []


@pytest.mark.django_db(transaction=True)
def test_parquet_export_stopped_early_stops_its_reader(wine, monkeypatch):
    monkeypatch.setattr(columnar, "PARQUET_CHUNK", 1)
    schema = exporters._parquet_schema(wine["project"], timezone.now())
    with exporters.snapshot():
        tables = columnar.parquet_tables(wine["project"], {}, schema)
        assert next(tables).num_rows == 1
        tables.close()
    assert _reader_threads() == []
