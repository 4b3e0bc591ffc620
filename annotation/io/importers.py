"""Imports: typed table rows and checked image files become Items in batches, each batch one transaction.

Re-running an import never duplicates: every item carries a content hash (of the file, or of the row) that is
unique within its project, and imported labels carry a deterministic idempotency key.
"""

import hashlib
import io
import json
import random
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from annotation import schemas
from annotation.io import images as image_io
from annotation.io import tables
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
from core.db import bulk_insert, in_list, tables_analyze, write_transaction

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

    def duplicate(self, where: str) -> None:
        """Reported, but not an error: the content is already in the project."""
        self.duplicates += 1
        self._report(where, "duplicate of an item already in the project; skipped")

    def _report(self, where: str, reason: str) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(schemas.ImportProblem(where=where, reason=reason).model_dump())


Progress = Callable[[Outcome], None]


# --- sources ----------------------------------------------------------------------------------------


def source_files(job: ImportJob) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(relative name, loader of its bytes) for every uploaded file, or every file of a server-side folder
    (the CLI). Loaders read on demand, so a large folder is never held in memory at once."""
    options = schemas.ImportOptions.model_validate(job.options)
    if options.local_path:
        root = Path(options.local_path)
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        for path in paths:
            yield (path.name if path == root else path.relative_to(root).as_posix()), path.read_bytes
        return
    _, names = default_storage.listdir(job.source_dir)
    for name in sorted(names):
        yield name, _storage_reader(f"{job.source_dir}/{name}")


def _storage_reader(name: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with default_storage.open(name, "rb") as handle:
            return handle.read()

    return read


# --- tables -----------------------------------------------------------------------------------------


def table_import(job: ImportJob, progress: Progress) -> Outcome:
    options = schemas.ImportOptions.model_validate(job.options)
    project = job.project
    files = list(source_files(job))
    if len(files) != 1:
        raise ImportFailed(f"A table import takes exactly one file, not {len(files)}.")
    name, load = files[0]
    data = load()
    try:
        table = tables.read_table(
            data,
            options.format or tables.format_from_name(name),
            encoding=options.encoding,
            delimiter=options.delimiter,
            text_columns=[c for c in (options.id_column, options.label_column) if c],
        )
    except tables.TableError as exc:
        raise ImportFailed(str(exc)) from exc
    outcome = Outcome(total=len(table.rows) + len(table.errors))
    for error in table.errors:
        outcome.error(error.where, error.reason)
    names = [column["name"] for column in table.columns]
    for column in (options.id_column, options.label_column):
        if column and column not in names:
            raise ImportFailed(f"No column named {column!r}; the columns are: {', '.join(names)}")
    labels = _labels_by_name(project)
    rows = []
    for line, row in zip(table.lines, table.rows, strict=True):
        label_name = row.pop(options.label_column) if options.label_column else None
        external_id = row.pop(options.id_column) if options.id_column else None
        if label_name is not None and str(label_name).casefold() not in labels:
            outcome.error(f"line {line}", f"unknown label {label_name!r}")
            continue
        rows.append((line, row, "" if external_id is None else str(external_id), label_name))
    if outcome.error_count and job.mode == ImportJob.Mode.ALL_OR_NOTHING:
        raise ImportFailed(f"{outcome.error_count} rows are invalid; nothing was imported.", outcome)
    _columns_record(project, [c for c in table.columns if c["name"] not in (options.id_column, options.label_column)])
    outcome.processed = outcome.error_count
    for _, batch in tables.iter_batches(rows, TABLE_BATCH):
        items = [_table_item(external_id, record) for _, record, external_id, _ in batch]
        answers = {
            item.content_hash: label for item, (*_, label) in zip(items, batch, strict=True) if label is not None
        }
        _write_batch(job, items, answers, labels, outcome)
        outcome.processed += len(batch)
        progress(outcome)
    tables_analyze(Item)
    return outcome


def _table_item(external_id: str, record: dict) -> "NewItem":
    """The row's JSON is made once: stored as the item's data and hashed (with the id) for de-duplication."""
    data_json = json.dumps(record, sort_keys=True)
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


ITEM_FIELDS = [
    "project",
    "external_id",
    "data",
    "image",
    "thumbnail",
    "width",
    "height",
    "content_hash",
    "status",
    "annotation_count",
    "priority",
    "random_key",
    "agreement",
    "review_status",
    "created_at",
]


def _item_row(project: Project, item: NewItem, labeled: bool, now) -> tuple:
    """A new item's row. One that arrives with an imported label is written with its count, status and
    agreement already right, so the label costs no second write of the item."""
    status = ItemStatus.DONE if labeled and project.overlap <= 1 else ItemStatus.OPEN
    return (
        project.id,
        item.external_id,
        item.data_json,
        item.image,
        item.thumbnail,
        item.width,
        item.height,
        item.content_hash,
        status,
        int(labeled),
        0.0,
        random.random(),
        1.0 if labeled else None,
        ReviewStatus.UNREVIEWED,
        now,
    )


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
    job: ImportJob, items: list[NewItem], answers: dict[str, str], labels: dict[str, Label], outcome: Outcome
) -> None:
    """Insert the batch's items and their imported labels in one transaction. Content already in the project
    (or twice in the batch) is not inserted again: the unique content hash skips it and it is reported."""
    now = timezone.now()
    with write_transaction():  # on SQLite, in line with annotators' writes instead of polling against them
        rows = [_item_row(job.project, item, item.content_hash in answers, now) for item in items]
        fresh = dict(bulk_insert(Item, ITEM_FIELDS, rows, ignore_conflicts=True, returning=["content_hash", "id"]))
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
    keys = {
        f"import:{job.project_id}:{content_hash[:40]}": (ids[content_hash], labels[name.casefold()])
        for content_hash, name in answers.items()
        if content_hash in ids
    }
    created = dict(
        bulk_insert(
            Annotation,
            [
                "item",
                "annotator",
                "schema_version",
                "status",
                "client_key",
                "accepted_suggestion",
                "created_at",
                "updated_at",
            ],
            [
                (item_id, job.created_by_id, job.project.schema_version, AnnotationStatus.ACTIVE, key, False, now, now)
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
    _items_recount(list(known.values()), job.project)
    return len(created)


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
    options = schemas.ImportOptions.model_validate(job.options)
    labels = _labels_by_name(job.project)
    manifest: dict[str, str] = {}
    outcome = Outcome()
    entries = list(_image_entries(job, manifest, outcome))
    outcome.total = len(entries) + outcome.error_count
    if job.mode == ImportJob.Mode.ALL_OR_NOTHING:
        for checked, (name, data) in enumerate(entries, start=1):  # check everything before writing anything
            try:
                image_io.check_image(data())
            except image_io.ImageRejected as exc:
                outcome.error(name, str(exc))
            if checked % IMAGE_BATCH == 0:
                progress(outcome)  # keeps the job's heartbeat fresh through a long check
        unknown = {_label_for(n, manifest, options) for n, _ in entries} - {None} - set(labels)
        for name in sorted(unknown):
            outcome.error(name, "unknown label")
        if outcome.error_count:
            raise ImportFailed(f"{outcome.error_count} files are invalid; nothing was imported.", outcome)
    outcome.processed = outcome.error_count
    batch: list[tuple[NewItem, str | None]] = []
    for name, data in entries:
        item = _image_item(job, name, data, outcome)
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


def _image_entries(job: ImportJob, manifest: dict[str, str], outcome: Outcome):
    """(name, loader) for every image: loose files, zip members (read lazily), manifests collected aside."""
    for name, load in source_files(job):
        lower = name.lower()
        if lower.endswith(".zip"):
            try:
                archive = zipfile.ZipFile(io.BytesIO(load()))
                members = list(image_io.iter_zip(archive))
            except (zipfile.BadZipFile, image_io.ImageRejected) as exc:
                outcome.error(name, f"unreadable archive: {exc}")
                continue
            for member, content, problem in members:
                if problem:
                    outcome.error(member, problem)
                elif member.lower().endswith(MANIFEST_SUFFIXES):
                    _manifest_read(member, content, manifest, outcome)
                elif not PurePosixPath(member).name.startswith("."):
                    yield member, (lambda c=content: c)
        elif lower.endswith(MANIFEST_SUFFIXES):
            _manifest_read(name, load(), manifest, outcome)
        else:
            yield name, load


def _manifest_read(name: str, data: bytes, manifest: dict[str, str], outcome: Outcome) -> None:
    try:
        table = tables.read_table(data, tables.format_from_name(name))
    except tables.TableError as exc:
        outcome.error(name, str(exc))
        return
    columns = {c["name"].lower(): c["name"] for c in table.columns}
    if "file" not in columns or "label" not in columns:
        outcome.error(name, "a manifest needs the columns file and label")
        return
    for row in table.rows:
        if row[columns["file"]] is not None and row[columns["label"]] is not None:
            manifest[str(row[columns["file"]])] = str(row[columns["label"]])


def _label_for(name: str, manifest: dict[str, str], options: schemas.ImportOptions) -> str | None:
    path = PurePosixPath(name)
    label = manifest.get(name) or manifest.get(path.name)
    if label is None and options.labels_from_folders and len(path.parts) >= 2:
        label = path.parts[-2]
    return label.casefold() if label else None


def _image_item(job: ImportJob, name: str, data, outcome: Outcome) -> "NewItem | None":
    try:
        checked = image_io.check_image(data())
    except image_io.ImageRejected as exc:
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


def run(job: ImportJob, progress: Progress) -> Outcome:
    if job.project.data_kind == DataKind.TABULAR:
        return table_import(job, progress)
    return image_import(job, progress)
