"""Reading a Loupe project archive (written by exporters._loupe) back into a new project, losslessly:
settings, labels (with retired and merged ones), schema history, items and their files, annotations, reviews,
skips and item history, with their original timestamps. People are matched by username; a name unknown here
becomes an inactive account that cannot log in, so no answer loses its author."""

import hashlib
import json
import zipfile
from datetime import datetime
from typing import IO, Any

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from annotation.io.exporters import ARCHIVE_VERSION, ARCHIVED_PROJECT_FIELDS
from annotation.io.images import MAX_FILE_BYTES, ImageRejected, check_image, safe_member_name
from annotation.models import (
    Annotation,
    Item,
    ItemEvent,
    Label,
    Membership,
    Project,
    Review,
    Role,
    SchemaChange,
    Skip,
)
from annotation.services import project_name_taken
from core.errors import Conflict, InvalidInput
from core.models import User
from core.validation import json_depth_exceeds

BATCH = 2_000
MAX_JSON_DEPTH = 32  # what we write nests a few levels; a deeper line was not written by us


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _lines(archive: zipfile.ZipFile, name: str):
    with archive.open(name) as member:
        for line in member:
            if line.strip():
                yield _json(line)


def _json(raw: bytes) -> Any:
    """Parsed JSON, refused (ValueError: a damaged archive) when nested past what we write or carrying NUL,
    which PostgreSQL cannot store (Python's parser would recurse without bound on the first)."""
    if json_depth_exceeds(raw, MAX_JSON_DEPTH):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if b"\\u0000" in raw:
        raise ValueError("JSON text carries the NUL character")
    return json.loads(raw)


class _People:
    def __init__(self) -> None:
        self.cache: dict[str, User] = {}

    def __call__(self, username: str) -> User:
        if username not in self.cache:
            user = User.objects.filter(username=username).first() or User.objects.create(
                username=username, is_active=False, password=make_password(None)
            )
            self.cache[username] = user
        return self.cache[username]


@transaction.atomic
def archive_import(*, source: IO[bytes], name: str, owner: User) -> Project:
    """A new project named `name` from an archive; `owner` becomes a manager. All or nothing: a malformed or
    hostile archive is refused with the reason and leaves nothing behind."""
    try:
        archive = zipfile.ZipFile(source)
        manifest = _json(archive.read("project.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInput(f"Not a Loupe project archive: {exc}", field="file") from exc
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != "loupe-project"
        or (manifest.get("version") != ARCHIVE_VERSION)
    ):
        raise InvalidInput("Not a Loupe project archive of a version this server reads.", field="file")
    if project_name_taken(name):
        raise Conflict(f"A project named {name!r} already exists.", field="name")
    try:
        return _restore(archive, manifest, name, owner)
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        zipfile.BadZipFile,
        ImageRejected,
        DjangoValidationError,
    ) as exc:
        raise InvalidInput(
            f"This archive is damaged or was altered: {type(exc).__name__}: {exc}", field="file"
        ) from exc


def _restore(archive: zipfile.ZipFile, manifest: dict, name: str, owner: User) -> Project:
    people = _People()
    project = Project(
        **{field: manifest["project"][field] for field in ARCHIVED_PROJECT_FIELDS}, name=name, created_by=owner
    )
    project.full_clean(validate_unique=False)  # choices and ranges (overlap, lease) as if typed in by hand
    project.save()
    Membership.objects.create(project=project, user=owner, role=Role.MANAGER)
    label_ids = _labels(project, manifest["labels"])
    SchemaChange.objects.bulk_create(
        SchemaChange(
            project=project,
            version=c["version"],
            operation=c["operation"],
            payload=c["payload"],
            changed_by=people(c["changed_by"]) if c["changed_by"] else None,
        )
        for c in manifest["schema_changes"]
    )
    _restamp(
        SchemaChange.objects.filter(project=project).order_by("version"),
        [_time(c["created_at"]) for c in manifest["schema_changes"]],
    )
    item_ids = _items(project, archive)
    annotation_ids = _annotations(archive, item_ids, label_ids, people, project.id)
    for row in _lines(archive, "reviews.jsonl"):
        review = Review.objects.create(
            item_id=item_ids[row["item_id"]],
            reviewer=people(row["reviewer"]),
            decision=row["decision"],
            comment=row["comment"],
        )
        review.labels.set([label_ids[i] for i in row["label_ids"]])
        Review.objects.filter(id=review.id).update(created_at=_time(row["created_at"]))
    Skip.objects.bulk_create(
        Skip(
            item_id=item_ids[r["item_id"]],
            user=people(r["user"]),
            reason=r["reason"],
            created_at=_time(r["created_at"]),
        )
        for r in _lines(archive, "skips.jsonl")
    )
    events = list(_lines(archive, "events.jsonl"))
    created = ItemEvent.objects.bulk_create(
        ItemEvent(
            item_id=item_ids[e["item_id"]],
            actor=people(e["actor"]),
            kind=e["kind"],
            annotation_id=annotation_ids.get(e["annotation_id"]),  # None for an answer that was undone
            label_ids=[label_ids[i] for i in e["label_ids"]],
            comment=e["comment"],
        )
        for e in events
    )
    _restamp(created, [_time(e["created_at"]) for e in events])
    return project


def _labels(project: Project, labels: list[dict[str, Any]]) -> dict[int, int]:
    ids = {}
    for spec in labels:
        label = Label.objects.create(
            project=project,
            name=spec["name"],
            color=spec["color"],
            hotkey=spec["hotkey"],
            description=spec["description"],
            position=spec["position"],
            retired_at=_time(spec["retired_at"]),
        )
        ids[spec["id"]] = label.id
    for spec in labels:
        if spec["merged_into"]:
            Label.objects.filter(id=ids[spec["id"]]).update(merged_into_id=ids[spec["merged_into"]])
    return ids


def _items(project: Project, archive: zipfile.ZipFile) -> dict[int, int]:
    ids, rows = {}, list(_lines(archive, "items.jsonl"))
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        items = []
        for row in batch:
            item = Item(
                project=project,
                **{
                    k: row[k]
                    for k in (
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
                    )
                },
            )
            if row["image"]:
                # Checked like any upload: the archive's word for the file type (or its hash) is not trusted.
                checked = check_image(_member_bytes(archive, safe_member_name(row["image"])))
                item.content_hash = checked.content_hash
                stored = f"items/{project.id}/{checked.content_hash[:2]}/{checked.content_hash}.{checked.extension}"
                thumbnail = f"thumbnails/{project.id}/{checked.content_hash[:2]}/{checked.content_hash}.webp"
                for path, data in ((stored, checked.data), (thumbnail, checked.thumbnail)):
                    if not default_storage.exists(path):
                        default_storage.save(path, ContentFile(data))
                item.image.name, item.thumbnail.name = stored, thumbnail
            items.append(item)
        created = Item.objects.bulk_create(items)
        _restamp(created, [_time(row["created_at"]) for row in batch])
        ids.update({row["id"]: item.id for row, item in zip(batch, created, strict=True)})
    return ids


def _member_bytes(archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_FILE_BYTES:  # zipfile never inflates past the declared size
        raise ValueError(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    return archive.read(info)


def _copied_key(project_id: int, key: str) -> str:
    """Idempotency keys are unique per annotator across the install; a copy gets its own, derived ones."""
    return f"copy:{hashlib.sha256(f'{project_id}:{key}'.encode()).hexdigest()[:48]}" if key else ""


def _annotations(archive, item_ids, label_ids, people, project_id: int) -> dict[int, int]:
    ids, rows = {}, list(_lines(archive, "annotations.jsonl"))
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        created = Annotation.objects.bulk_create(
            Annotation(
                item_id=item_ids[r["item_id"]],
                annotator=people(r["annotator"]),
                status=r["status"],
                schema_version=r["schema_version"],
                client_key=_copied_key(project_id, r["client_key"]),
                time_spent_ms=r["time_spent_ms"],
                # The model's suggestion shown with the answer (absent from older archives).
                suggested_label_ids=_mapped(r.get("suggested_label_ids"), label_ids),
                accepted_suggestion=bool(r.get("accepted_suggestion", False)),
            )
            for r in batch
        )
        Annotation.labels.through.objects.bulk_create(
            Annotation.labels.through(annotation_id=a.id, label_id=label_ids[label])
            for r, a in zip(batch, created, strict=True)
            for label in r["label_ids"]
        )
        for r, a in zip(batch, created, strict=True):
            a.created_at, a.updated_at = _time(r["created_at"]), _time(r["updated_at"])
        Annotation.objects.bulk_update(created, ["created_at", "updated_at"])
        ids.update({r["id"]: a.id for r, a in zip(batch, created, strict=True)})
    return ids


def _mapped(archived_ids: list[int] | None, label_ids: dict[int, int]) -> list[int] | None:
    return None if archived_ids is None else sorted(label_ids[i] for i in archived_ids)


def _restamp(objects, stamps: list[datetime | None]) -> None:
    """auto_now_add overwrote the creation times on insert; put the archive's back."""
    objects = list(objects)
    for obj, stamp in zip(objects, stamps, strict=True):
        obj.created_at = stamp
    if objects:
        type(objects[0]).objects.bulk_update(objects, ["created_at"], batch_size=BATCH)
