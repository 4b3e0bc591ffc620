"""Imports: typed table rows and checked image files become Items in batches, each batch one transaction.

Re-running an import never duplicates: every item carries a content hash (of the file, or of the row) that is
unique within its project, and imported labels carry a deterministic idempotency key.
"""

import hashlib
import io
import json
import random
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from pydantic import ValidationError

from annotation import schemas
from annotation.io import exporters, tables
from annotation.io import images as image_io
from annotation.models import (
    Annotation,
    AnnotationStatus,
    DataKind,
    ImportJob,
    Item,
    ItemStatus,
    Label,
    Project,
    ReviewStatus,
)
from core.ahead import read_ahead
from core.db import (
    bulk_insert,
    commit_without_waiting_for_disk,
    driver_datetime,
    in_list,
    tables_analyze,
    write_transaction,
)
from core.errors import InvalidInput

TABLE_BATCH = 5_000
IMAGE_BATCH = 200
MAX_REPORTED_ERRORS = 1_000
MANIFEST_SUFFIXES = (".csv", ".jsonl")


class ImportFailed(Exception):
    """The import as a whole cannot go on (all-or-nothing with bad rows, or an unreadable source)."""

    def __init__(self, message: str, outcome: "Outcome | None" = None) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class Outcome:
    total: int = 0
    processed: int = 0
    created: int = 0
    duplicates: int = 0
    annotations: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    error_count: int = 0

    def error(self, where: str, reason: str) -> None:
        self.error_count += 1
        self._report(where, reason)

    def note(self, where: str, reason: str) -> None:
        """Reported, but not an error: the row was imported with a change (a cell cut to the length limit)."""
        self._report(where, reason)

    def duplicate(self, where: str) -> None:
        """Reported, but not an error: the content is already in the project."""
        self.duplicates += 1
        self._report(where, "duplicate of an item already in the project; skipped")

    def _report(self, where: str, reason: str) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(schemas.ImportProblem(where=where, reason=reason).model_dump())


Progress = Callable[[Outcome], None]


# --- sources ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One file to import: an uploaded file in storage, or a server-side file (the CLI); opened on demand, so a
    large file or folder is never held in memory at once."""

    name: str  # relative to the upload or folder
    path: Path | None = None  # a server-side file
    storage_name: str = ""  # an uploaded file
    data: bytes | None = None  # a small upload held in memory (a preview)

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        return self.path.open("rb") if self.path is not None else default_storage.open(self.storage_name, "rb")

    def read(self) -> bytes:
        with self.open() as handle:
            return handle.read()


def source_files(job: ImportJob) -> Iterator[Source]:
    """Every uploaded file, or every file of a server-side folder (the CLI), in name order."""
    options = schemas.ImportOptions.model_validate(job.options)
    if options.local_path:
        root = Path(options.local_path)
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        for path in paths:
            yield Source(name=path.name if path == root else path.relative_to(root).as_posix(), path=path)
        return
    _, names = default_storage.listdir(job.source_dir)
    for name in sorted(names):
        yield Source(name=name, storage_name=f"{job.source_dir}/{name}")


# --- tables -----------------------------------------------------------------------------------------


def table_reader(source: Source, options: schemas.ImportOptions, *, preview: bool = False) -> tables.TableReader:
    """The reader of a table import (the preview reads only the file's head). Raises tables.TableError."""
    return tables.TableReader(
        source.open,
        options.format or tables.format_from_name(source.name),
        encoding=options.encoding,
        delimiter=options.delimiter,
        text_columns=[c for c in (options.id_column, options.label_column) if c],
        types=options.column_types,
        limit_bytes=tables.PREVIEW_BYTES if preview else None,
    )


PREVIEW_ROWS = 20


def table_preview(*, project: Project, upload, options: dict, **reading) -> dict:
    """The head of an uploaded table read as the import would read it (types inferred from the head only, or
    as chosen), its first rows and bad rows, and how its columns differ from the project's. Reads at most
    tables.PREVIEW_BYTES of a text file, and a Parquet file's footer and first row group."""
    if not isinstance(options, dict):
        raise InvalidInput("options must be a JSON object.", field="options")
    try:
        checked = schemas.ImportOptions.model_validate({**options, **{k: v for k, v in reading.items() if v}})
    except ValidationError as exc:
        raise InvalidInput(f"Invalid options: {exc.errors()[0]['msg']}", field="options") from exc
    if hasattr(upload, "temporary_file_path"):
        source = Source(name=upload.name, path=Path(upload.temporary_file_path()))
    else:
        source = Source(name=upload.name, data=upload.read())  # small uploads are kept in memory by Django
    try:
        reader = table_reader(source, checked, preview=True)
        rows, errors, count = [], [], 0
        for batch in reader.batches():
            rows += batch.rows[: PREVIEW_ROWS - len(rows)]
            errors += batch.errors
            count += len(batch.rows)
    except tables.TableError as exc:
        raise InvalidInput(str(exc), field="file") from exc
    data_columns = [c.as_dict() for c in reader.columns if c.name not in (checked.id_column, checked.label_column)]
    return {
        "columns": [c.as_dict() for c in reader.columns],
        "rows": rows,
        "row_count": count,  # in the head that was read (all of them when `complete`)
        "complete": reader.complete,
        "errors": [{"where": e.where, "reason": e.reason} for e in errors[:100]],
        "error_count": len(errors),
        "encoding": reader.encoding,
        "delimiter": reader.delimiter,
        "schema_problems": schema_problems(project, data_columns),
    }


def table_import(job: ImportJob, progress: Progress) -> Outcome:
    """Two passes over the file, batch by batch: types over the whole file first, then (all or nothing: every row
    checked before any is written) the rows, inserted a batch per transaction."""
    options = schemas.ImportOptions.model_validate(job.options)
    files = list(source_files(job))
    if len(files) != 1:
        raise ImportFailed(f"A table import takes exactly one file, not {len(files)}.")
    try:
        reader = table_reader(files[0], options)
    except tables.TableError as exc:
        raise ImportFailed(str(exc)) from exc
    for column in (options.id_column, options.label_column):
        if column and column not in reader.names:
            raise ImportFailed(f"No column named {column!r}; the columns are: {', '.join(reader.names)}")
    data_columns = [c.as_dict() for c in reader.columns if c.name not in (options.id_column, options.label_column)]
    problems = schema_problems(job.project, data_columns)
    if problems and not options.accept_schema_changes:
        raise ImportFailed(
            "The table does not match the project's columns (import again accepting the changes to go on): "
            + "; ".join(problems)
        )
    labels = _labels_by_name(job.project)
    outcome = Outcome()
    if job.mode == ImportJob.Mode.ALL_OR_NOTHING:
        _table_pass(job, reader, options, labels, outcome, progress, write=False)
        if outcome.error_count:
            raise ImportFailed(f"{outcome.error_count} rows are invalid; nothing was imported.", outcome)
        outcome = Outcome(total=outcome.total, errors=outcome.errors)  # the notes of the checking pass
    _columns_record(job.project, data_columns)
    _table_pass(job, reader, options, labels, outcome, progress, write=True)
    tables_analyze(Item)
    return outcome


def _table_pass(job, reader, options, labels, outcome: Outcome, progress: Progress, *, write: bool) -> None:
    counting = not outcome.total
    now = timezone.now()  # every item and imported label of the import is stamped with its start
    prepared = partial(_prepared_batches, job.project, reader, options, labels, driver_datetime(now), write=write)
    try:
        # The next batch is read, typed, hashed and turned into rows in a thread while this one is written: about
        # half an import's time is spent waiting on the database, the other half in Python reading the file.
        for batch, items, answers, unknown, rows in read_ahead(prepared, name="import-read-ahead"):
            for error in batch.errors:
                outcome.error(error.where, error.reason)
            if counting:
                for note in batch.notes:
                    outcome.note(note.where, note.reason)
            for where, reason in unknown:
                outcome.error(where, reason)
            if counting:
                outcome.total += len(batch.rows) + len(batch.errors)
            if write:
                _write_batch(job, items, answers, labels, outcome, now=now, rows=rows)
            outcome.processed = outcome.error_count + outcome.created + outcome.duplicates
            progress(outcome)
    except tables.TableError as exc:
        raise ImportFailed(str(exc), outcome) from exc


def _prepared_batches(project, reader, options, labels, stamp, *, write: bool) -> Iterator[tuple]:
    """(batch, its new items, their imported labels by content hash, rows with an unknown label, the items' rows
    to insert, created at `stamp`) batch by batch; items and rows only when they are to be written (the checking
    pass needs the errors alone)."""
    for batch in reader.batches():
        items, answers, unknown = [], {}, []
        for where, row in zip(batch.where, batch.rows, strict=True):
            label_name = row.pop(options.label_column) if options.label_column else None
            external_id = row.pop(options.id_column) if options.id_column else None
            if label_name is not None and str(label_name).casefold() not in labels:
                unknown.append((where, f"unknown label {label_name!r}"))
                continue
            if not write:
                continue
            item = _table_item("" if external_id is None else str(external_id), row)
            items.append(item)
            if label_name is not None:
                answers[item.content_hash] = label_name
        yield batch, items, answers, unknown, _item_rows(project, items, answers, stamp) if write else []


def schema_problems(project: Project, columns: list[dict[str, str]]) -> list[str]:
    """How a table's data columns differ from a project that already has columns: feature columns missing,
    columns the project does not know, and columns whose type changed. Empty for a first import."""
    if not project.columns:
        return []
    known = {c["name"]: c for c in project.columns}
    given = {c["name"]: c for c in columns}
    problems = []
    missing = [name for name in project.feature_columns or list(known) if name not in given]
    if missing:
        problems.append(f"columns missing: {', '.join(missing)}")
    unexpected = [name for name in given if name not in known]
    if unexpected:
        problems.append(f"columns the project does not have: {', '.join(unexpected)}")
    for name, column in given.items():
        if (
            name in known
            and known[name]["type"] != column["type"]
            and {known[name]["type"], column["type"]}
            != {
                "categorical",
                "text",
            }
        ):
            problems.append(f"column {name!r} is {column['type']} here but {known[name]['type']} in the project")
    return problems


_sorted_json = json.JSONEncoder(sort_keys=True).encode  # as json.dumps(..., sort_keys=True), made once


def _table_item(external_id: str, record: dict) -> "NewItem":
    """The row's JSON is made once: stored as the item's data and hashed (with the id) for de-duplication."""
    data_json = _sorted_json(record)
    content_hash = hashlib.sha256(f"{external_id}\0{data_json}".encode()).hexdigest()
    return NewItem(external_id=external_id, content_hash=content_hash, data=record, data_json=data_json)


def _columns_record(project: Project, columns: list[dict[str, str]]) -> None:
    """Remember the table's typed columns; on the first import, show them all and use the non-text ones as
    model features (a manager can change both later through the schema)."""
    known = {column["name"] for column in project.columns}
    added = [schemas.ColumnType.model_validate(c).model_dump() for c in columns if c["name"] not in known]
    if not added:
        return
    first_import = not project.columns
    project.columns = project.columns + added
    project.save(update_fields=["columns", "updated_at"])
    if first_import and not project.shown_columns and not project.feature_columns:
        Project.objects.filter(id=project.id).update(
            shown_columns=[c["name"] for c in added],
            feature_columns=[c["name"] for c in added if c["type"] != "text"],
        )


def _labels_by_name(project: Project) -> dict[str, Label]:
    return {label.name.casefold(): label for label in Label.objects.active().filter(project=project)}


@dataclass(slots=True)
class NewItem:
    """An item about to be inserted: plain values, no model instance (imports make hundreds of thousands)."""

    external_id: str
    content_hash: str
    data: dict = field(default_factory=dict)
    data_json: str = "{}"
    image: str = ""
    thumbnail: str = ""
    width: int | None = None
    height: int | None = None


# The columns a new item's row fills: the project, the item's own values (one list, shared with exports and
# archives), its files and its creation time.
INSERTED_FIELDS = ["project", *exporters.ITEM_FIELDS, "image", "thumbnail", "created_at"]


def _item_rows(project: Project, items: list[NewItem], answers: dict[str, str], stamp) -> list[tuple]:
    """New items' rows, in INSERTED_FIELDS order, created at `stamp` (as core.db.driver_datetime gives it). One
    that arrives with an imported label is written with its count, status and agreement already right, so the
    label costs no second write of the item."""
    done = ItemStatus.DONE if project.overlap <= 1 else ItemStatus.OPEN
    plain = (ItemStatus.OPEN, 0, 0.0)
    labeled = (done, 1, 0.0)
    unreviewed = ReviewStatus.UNREVIEWED
    project_id, rand = project.id, random.random
    rows = []
    for item in items:
        is_labeled = item.content_hash in answers
        status, count, priority = labeled if is_labeled else plain
        rows.append(
            (
                project_id,
                item.external_id,
                item.data_json,
                item.width,
                item.height,
                item.content_hash,
                status,
                count,
                priority,
                rand(),
                1.0 if is_labeled else None,
                unreviewed,
                item.image,
                item.thumbnail,
                stamp,
            )
        )
    return rows


# _item_rows writes its tuples in this order: the check keeps the two in step.
assert INSERTED_FIELDS[1:-3] == [
    "external_id",
    "data",
    "width",
    "height",
    "content_hash",
    "status",
    "annotation_count",
    "priority",
    "random_key",
    "agreement",
    "review_status",
]


def _select_pairs(sql: str, first: list, values: list) -> dict:
    """Run `sql` (a SELECT of two columns whose WHERE ends in `{}`, the IN test) for `values`, in slices; the
    parameters go straight to the driver (the ORM's per-value handling of big IN lists costs more than the
    query)."""
    pairs: dict = {}
    with connection.cursor() as cursor:
        for start in range(0, len(values), 5_000):
            test, params = in_list(values[start : start + 5_000])
            cursor.execute(sql.format(test), [*first, *params])
            pairs.update(cursor.fetchall())
    return pairs


def _ids_by_hash(project_id: int, hashes: list[str]) -> dict[str, int]:
    return _select_pairs(
        "SELECT content_hash, id FROM annotation_item WHERE project_id = %s AND content_hash {}",
        [project_id],
        hashes,
    )


def _write_batch(
    job: ImportJob,
    items: list[NewItem],
    answers: dict[str, str],
    labels: dict[str, Label],
    outcome: Outcome,
    *,
    now=None,
    rows: list[tuple] | None = None,
) -> None:
    """Insert the batch's items and their imported labels in one transaction. Content already in the project
    (or twice in the batch) is not inserted again: the unique content hash skips it and it is reported. `rows`
    are the items' rows when already made (_item_rows, stamped `now`)."""
    now = now or timezone.now()
    if rows is None:
        rows = _item_rows(job.project, items, answers, driver_datetime(now))
    with write_transaction():  # on SQLite, in line with annotators' writes instead of polling against them
        commit_without_waiting_for_disk()
        fresh = dict(bulk_insert(Item, INSERTED_FIELDS, rows, ignore_conflicts=True, returning=["content_hash", "id"]))
        created: set[str] = set()
        for item in items:
            if item.content_hash in fresh and item.content_hash not in created:
                created.add(item.content_hash)
            else:
                outcome.duplicate(item.external_id or "row")
        outcome.created += len(created)
        if answers:
            outcome.annotations += _import_labels(job, answers, labels, now, fresh=fresh)


def _import_labels(
    job: ImportJob, answers: dict[str, str], labels: dict[str, Label], now, fresh: dict[str, int]
) -> int:
    """Imported labels become annotations by the importing user; the key makes a re-run write nothing new.
    Items just inserted (`fresh`: content hash -> id) were written with this label already counted; items that
    were already in the project are looked up and recounted."""
    known = _ids_by_hash(job.project_id, [h for h in answers if h not in fresh])
    ids = {**known, **fresh}
    annotator, version, stamp = job.created_by_id, job.project.schema_version, driver_datetime(now)
    keys = {
        f"import:{job.project_id}:{content_hash[:40]}": (ids[content_hash], labels[name.casefold()])
        for content_hash, name in answers.items()
        if content_hash in ids
    }
    if connection.vendor == "postgresql":
        count = _annotations_with_labels_insert(annotator=annotator, version=version, keys=keys, now=now)
    else:
        created = dict(
            bulk_insert(
                Annotation,
                ANNOTATION_FIELDS,
                [
                    (item_id, annotator, version, AnnotationStatus.ACTIVE, key, False, stamp, stamp)
                    for key, (item_id, _) in keys.items()
                ],
                ignore_conflicts=True,
                returning=["client_key", "id"],
            )
        )
        bulk_insert(
            Annotation.labels.through,
            ["annotation", "label"],
            [(created[key], label.id) for key, (_, label) in keys.items() if key in created],
        )
        count = len(created)
    _items_recount(list(known.values()), job.project)
    return count


ANNOTATION_FIELDS = [
    "item",
    "annotator",
    "schema_version",
    "status",
    "client_key",
    "accepted_suggestion",
    "created_at",
    "updated_at",
]


def _annotations_with_labels_insert(*, annotator: int, version: int, keys: dict[str, tuple], now) -> int:
    """PostgreSQL: the imported answers (`keys`: client key -> (item id, label)) and their label links written
    by one statement from one COPY, instead of sending the new annotations' ids back and forth (100,000 of
    them, and a second COPY). Returns how many annotations were new (each has one label)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE import_answers (item_id bigint, client_key text, label_id bigint)")
        try:
            with cursor.cursor.copy("COPY import_answers (item_id, client_key, label_id) FROM STDIN") as copy:
                for key, (item_id, label) in keys.items():
                    copy.write_row((item_id, key, label.id))
            cursor.execute(
                "WITH created AS (INSERT INTO annotation_annotation (item_id, annotator_id, schema_version, status, "
                "client_key, accepted_suggestion, created_at, updated_at) "
                "SELECT item_id, %s, %s, %s, client_key, false, %s, %s FROM import_answers "
                "ON CONFLICT DO NOTHING RETURNING id, client_key) "
                "INSERT INTO annotation_annotation_labels (annotation_id, label_id) "
                "SELECT created.id, answers.label_id FROM created JOIN import_answers AS answers USING (client_key)",
                [annotator, version, AnnotationStatus.ACTIVE, now, now],
            )
            return cursor.rowcount
        finally:
            cursor.execute("DROP TABLE import_answers")


def _items_recount(item_ids: list[int], project: Project) -> None:
    """Set-based: annotation counts, status and agreement of items that just received imported labels."""
    with connection.cursor() as cursor:
        for start in range(0, len(item_ids), 5_000):
            test, params = in_list(item_ids[start : start + 5_000])
            cursor.execute(
                "UPDATE annotation_item SET annotation_count = counted.n, "
                "status = CASE WHEN counted.n >= %s THEN %s ELSE %s END, "
                "agreement = CASE WHEN counted.n = 1 THEN 1.0 ELSE annotation_item.agreement END "
                "FROM (SELECT item_id, COUNT(*) AS n FROM annotation_annotation "
                f"WHERE status = %s AND item_id {test} GROUP BY item_id) AS counted "
                "WHERE annotation_item.id = counted.item_id",
                [project.overlap, ItemStatus.DONE, ItemStatus.OPEN, AnnotationStatus.ACTIVE, *params],
            )


# --- images -----------------------------------------------------------------------------------------


def image_import(job: ImportJob, progress: Progress) -> Outcome:
    """Files are read, checked and stored one at a time (a zip's entries too), so memory does not grow with the
    upload. All or nothing: every file is checked in a first pass before any is stored."""
    options = schemas.ImportOptions.model_validate(job.options)
    labels = _labels_by_name(job.project)
    outcome = Outcome()
    manifest, outcome.total = _survey(job, outcome)
    if job.mode == ImportJob.Mode.ALL_OR_NOTHING:
        unknown: set[str] = set()
        for checked, (name, load) in enumerate(_image_entries(job, outcome), start=1):
            try:
                image_io.check_image(load())
            except (image_io.ImageRejected, *UNREADABLE_MEMBER) as exc:
                outcome.error(name, str(exc))
            unknown.add(_label_for(name, manifest, options))
            if checked % IMAGE_BATCH == 0:
                progress(outcome)  # keeps the job's heartbeat fresh through a long check
        for name in sorted(unknown - {None} - set(labels)):
            outcome.error(name, "unknown label")
        if outcome.error_count:
            raise ImportFailed(f"{outcome.error_count} files are invalid; nothing was imported.", outcome)
    outcome.processed = outcome.error_count
    batch: list[tuple[NewItem, str | None]] = []
    for name, load in _image_entries(job, outcome):
        item = _image_item(job, name, load, outcome)
        if item is not None:
            label = _label_for(name, manifest, options)
            if label is not None and label not in labels:
                outcome.error(name, f"unknown label {label!r}")
                label = None
            batch.append((item, label))
        outcome.processed += 1
        if len(batch) >= IMAGE_BATCH:
            _flush_images(job, batch, labels, outcome)
            batch = []
            progress(outcome)
    _flush_images(job, batch, labels, outcome)
    progress(outcome)
    tables_analyze(Item)
    return outcome


UNREADABLE_MEMBER = (zipfile.BadZipFile, zlib.error, EOFError)  # a damaged entry inside a readable archive


def _survey(job: ImportJob, outcome: Outcome) -> tuple[dict[str, str], int]:
    """Before any image is read: the manifests' labels (loose files or zip entries) and how many images there are.
    Only zip headers and the manifests themselves are read."""
    manifest: dict[str, str] = {}
    count = 0
    for source in source_files(job):
        lower = source.name.lower()
        if lower.endswith(".zip"):
            for member, load, problem in _zip_members(source, outcome, survey=True):
                if member.lower().endswith(MANIFEST_SUFFIXES) and not problem:
                    _manifest_read(member, load(), manifest, outcome)
                elif not PurePosixPath(member).name.startswith("."):
                    count += 1
        elif lower.endswith(MANIFEST_SUFFIXES):
            _manifest_read(source.name, source.read(), manifest, outcome)
        else:
            count += 1
    return manifest, count


def _zip_members(source: Source, outcome: Outcome, *, survey: bool = False):
    """The archive's (member, loader, problem), read from the stored file without loading it into memory; an
    archive that cannot be read at all is one error (reported once, by the survey)."""
    try:
        with source.open() as handle:
            yield from image_io.iter_zip(zipfile.ZipFile(handle))
    except (zipfile.BadZipFile, image_io.ImageRejected) as exc:
        if survey:
            outcome.error(source.name, f"unreadable archive: {exc}")


def _image_entries(job: ImportJob, outcome: Outcome) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, loader) for every image: loose files and zip members, read only when loaded; manifests and hidden
    files left out, refused zip entries reported."""
    for source in source_files(job):
        lower = source.name.lower()
        if lower.endswith(".zip"):
            for member, load, problem in _zip_members(source, outcome):
                if problem:
                    outcome.error(member, problem)
                elif not member.lower().endswith(MANIFEST_SUFFIXES) and not PurePosixPath(member).name.startswith("."):
                    yield member, load
        elif not lower.endswith(MANIFEST_SUFFIXES):
            yield source.name, source.read


def _manifest_read(name: str, data: bytes, manifest: dict[str, str], outcome: Outcome) -> None:
    try:
        reader, rows, _ = tables.read_table(data, tables.format_from_name(name))
    except tables.TableError as exc:
        outcome.error(name, str(exc))
        return
    columns = {name.lower(): name for name in reader.names}
    if "file" not in columns or "label" not in columns:
        outcome.error(name, "a manifest needs the columns file and label")
        return
    for row in rows:
        if row[columns["file"]] is not None and row[columns["label"]] is not None:
            manifest[str(row[columns["file"]])] = str(row[columns["label"]])


def _label_for(name: str, manifest: dict[str, str], options: schemas.ImportOptions) -> str | None:
    """The manifest's label for the file (by path, then by base name), else its first folder when asked."""
    path = PurePosixPath(name)
    label = manifest.get(name) or manifest.get(path.name)
    if label is None and options.labels_from_folders and len(path.parts) >= 2:
        label = path.parts[0]
    return label.casefold() if label else None


def _image_item(job: ImportJob, name: str, load: Callable[[], bytes], outcome: Outcome) -> "NewItem | None":
    try:
        checked = image_io.check_image(load())
    except (image_io.ImageRejected, *UNREADABLE_MEMBER) as exc:
        outcome.error(name, str(exc))
        return None
    return NewItem(
        external_id=name,
        content_hash=checked.content_hash,
        width=checked.width,
        height=checked.height,
        image=_stored(job.project, checked, "items", checked.data),
        thumbnail=_stored(job.project, checked, "thumbnails", checked.thumbnail, "webp"),
    )


def _stored(project: Project, checked: image_io.CheckedImage, folder: str, data: bytes, ext: str | None = None) -> str:
    """Content-addressed: the same file always lands at the same name, so a re-run rewrites nothing."""
    name = f"{folder}/{project.id}/{checked.content_hash[:2]}/{checked.content_hash}.{ext or checked.extension}"
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(data))
        assert saved == name, f"storage renamed {name} to {saved}"
    return name


def _flush_images(
    job: ImportJob, batch: list[tuple["NewItem", str | None]], labels: dict[str, Label], outcome: Outcome
) -> None:
    if not batch:
        return
    answers = {item.content_hash: label for item, label in batch if label is not None}
    _write_batch(job, [item for item, _ in batch], answers, labels, outcome)


def archive_job_import(job: ImportJob, progress: Progress) -> Outcome:
    """Restore the uploaded archive into the job's new project. A damaged archive fails the job with the reason
    and leaves the project empty."""
    from annotation.io import archive  # it imports services, which the import paths above do not need

    (source,) = source_files(job)
    outcome = Outcome()

    def restored(count: int) -> None:
        outcome.processed = outcome.created = count
        progress(outcome)

    with source.open() as handle:
        try:
            manifest = archive.archive_manifest(handle)
            outcome.total = outcome.created = archive.archive_restore(
                project=job.project, source=handle, manifest=manifest, progress=restored
            )
        except InvalidInput as exc:
            raise ImportFailed(f"{exc.message} Nothing was imported; delete this project and try again.") from exc
    outcome.processed = outcome.total
    return outcome


def run(job: ImportJob, progress: Progress) -> Outcome:
    if job.kind == ImportJob.Kind.ARCHIVE:
        return archive_job_import(job, progress)
    if job.project.data_kind == DataKind.TABULAR:
        return table_import(job, progress)
    return image_import(job, progress)
