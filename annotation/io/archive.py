"""Reading a Loupe project archive (written by exporters._loupe) back into a new project, losslessly:
settings, labels (with retired and merged ones), schema history, members and roles, invitations and their state,
items and their files, annotations, reviews, skips and item history, with their original timestamps. People are
matched by username; a name unknown here becomes an account with the archived email, name and active flag but no
usable password, so no answer loses its author and nobody can log in as someone else."""

import hashlib
import json
import secrets
import zipfile
from datetime import datetime
from typing import IO, Any

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from annotation.io.exporters import ARCHIVE_VERSION, ARCHIVED_PROJECT_FIELDS, ITEM_FIELDS
from annotation.io.images import MAX_FILE_BYTES, ImageRejected, check_image, safe_member_name
from annotation.models import (
    Annotation,
    Invitation,
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
    """Archived usernames to accounts here: an existing account by username, else a new one with the archived
    email, name and active flag but no usable password (its owner sets one through a reset or an admin)."""

    def __init__(self, people: list[dict]) -> None:
        self.cache: dict[str, User] = {}
        self.details = {p["username"]: p for p in people if isinstance(p, dict) and "username" in p}

    def __call__(self, username: str) -> User:
        if username not in self.cache:
            known = self.details.get(username, {})
            user = User.objects.filter(username=username).first() or User.objects.create(
                username=username,
                email=known.get("email", ""),
                first_name=known.get("first_name", ""),
                last_name=known.get("last_name", ""),
                is_active=bool(known.get("is_active", False)),
                password=make_password(None),
            )
            self.cache[username] = user
        return self.cache[username]


DAMAGE = (KeyError, TypeError, ValueError, AttributeError, zipfile.BadZipFile, ImageRejected, DjangoValidationError)


def archive_manifest(source: IO[bytes]) -> dict:
    """The archive's project.json, checked: a file that is not a Loupe archive of a version this server reads
    is refused (InvalidInput) before anything is created. Reads the zip's directory and that member only."""
    try:
        manifest = _json(zipfile.ZipFile(source).read("project.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInput(f"Not a Loupe project archive: {exc}", field="file") from exc
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != "loupe-project"
        or (manifest.get("version") != ARCHIVE_VERSION)
    ):
        raise InvalidInput("Not a Loupe project archive of a version this server reads.", field="file")
    return manifest


@transaction.atomic
def archive_project_create(*, manifest: dict, name: str, owner: User) -> Project:
    """The new project with the archive's settings and `owner` as a manager, still empty (archive_restore fills
    it). Settings are checked as if typed in by hand."""
    if project_name_taken(name):
        raise Conflict(f"A project named {name!r} already exists.", field="name")
    try:
        fields = {field: manifest["project"][field] for field in ARCHIVED_PROJECT_FIELDS}
        project = Project(**fields, name=name, created_by=owner)
        project.full_clean(validate_unique=False)  # choices and ranges (overlap, lease)
    except DAMAGE as exc:
        raise _damaged(exc) from exc
    project.save()
    Membership.objects.create(project=project, user=owner, role=Role.MANAGER)
    return project


def archive_import(*, source: IO[bytes], name: str, owner: User) -> Project:
    """A new project named `name` from an archive, in this process (the command line; the API queues the same
    work for a worker). All or nothing: a malformed or hostile archive is refused with the reason and leaves
    nothing behind."""
    manifest = archive_manifest(source)
    project = archive_project_create(manifest=manifest, name=name, owner=owner)
    try:
        archive_restore(project=project, source=source, manifest=manifest)
    except InvalidInput:
        project.delete()
        raise
    return project


def archive_restore(*, project: Project, source: IO[bytes], manifest: dict, progress=lambda n: None) -> int:
    """Fill the empty `project` from the archive, a batch per transaction (so annotators in other projects are
    never held up for the whole archive); returns the number of items. A damaged archive raises InvalidInput
    after removing what was restored; a rerun starts again from an empty project."""
    _contents_delete(project)
    try:
        return _restore(zipfile.ZipFile(source), manifest, project, progress)
    except DAMAGE as exc:
        _contents_delete(project)
        raise _damaged(exc) from exc


def _damaged(exc: Exception) -> InvalidInput:
    return InvalidInput(f"This archive is damaged or was altered: {type(exc).__name__}: {exc}", field="file")


def _contents_delete(project: Project) -> None:
    with transaction.atomic():
        Item.objects.filter(project=project).delete()  # annotations, reviews, skips and history with them
        Label.objects.filter(project=project).delete()
        SchemaChange.objects.filter(project=project).delete()
        Invitation.objects.filter(project=project).delete()
        Membership.objects.filter(project=project).exclude(user=project.created_by).delete()


def _restore(archive: zipfile.ZipFile, manifest: dict, project: Project, progress) -> int:
    people = _People(manifest.get("people", []))
    with transaction.atomic():
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
        _members(project, manifest.get("members", []), people)
        _invitations(project, manifest.get("invitations", []), people)
    item_ids = _items(project, archive, progress)
    annotation_ids = _annotations(archive, item_ids, label_ids, people, project.id)
    for batch in _batches(_lines(archive, "reviews.jsonl")):
        with transaction.atomic():
            for row in batch:
                review = Review.objects.create(
                    item_id=item_ids[row["item_id"]],
                    reviewer=people(row["reviewer"]),
                    decision=row["decision"],
                    comment=row["comment"],
                )
                review.labels.set([label_ids[i] for i in row["label_ids"]])
                Review.objects.filter(id=review.id).update(created_at=_time(row["created_at"]))
    for batch in _batches(_lines(archive, "skips.jsonl")):
        with transaction.atomic():
            created = Skip.objects.bulk_create(
                Skip(item_id=item_ids[r["item_id"]], user=people(r["user"]), reason=r["reason"]) for r in batch
            )
            _restamp(created, [_time(r["created_at"]) for r in batch])  # auto_now_add set them to now
    for batch in _batches(_lines(archive, "events.jsonl")):
        with transaction.atomic():
            created = ItemEvent.objects.bulk_create(
                ItemEvent(
                    item_id=item_ids[e["item_id"]],
                    actor=people(e["actor"]),
                    kind=e["kind"],
                    annotation_id=annotation_ids.get(e["annotation_id"]),  # None for an answer that was undone
                    label_ids=[label_ids[i] for i in e["label_ids"]],
                    comment=e["comment"],
                )
                for e in batch
            )
            _restamp(created, [_time(e["created_at"]) for e in batch])
    return len(item_ids)


def _batches(rows, size: int = BATCH):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _members(project: Project, members: list[dict], people: "_People") -> None:
    """Members and roles; the importing manager keeps their own role."""
    for member in members:
        user = people(member["username"])
        if user.id != project.created_by_id:
            Membership.objects.create(project=project, user=user, role=Role(member["role"]))
            Membership.objects.filter(project=project, user=user).update(**_stamps(member, ("created_at",)))


def _invitations(project: Project, invitations: list[dict], people: "_People") -> None:
    """Invitations with their state (pending, accepted, revoked, expired) and times. Their keys are not in the
    archive: a pending invitation copied here must be sent again to be accepted."""
    for spec in invitations:
        invitation = Invitation.objects.create(
            project=project,
            email=spec["email"],
            role=Role(spec["role"]),
            digest=secrets.token_hex(32),
            invited_by=people(spec["invited_by"]) if spec["invited_by"] else None,
            accepted_by=people(spec["accepted_by"]) if spec["accepted_by"] else None,
            expires_at=_time(spec["expires_at"]),
            accepted_at=_time(spec["accepted_at"]),
            revoked_at=_time(spec["revoked_at"]),
        )
        Invitation.objects.filter(id=invitation.id).update(created_at=_time(spec["created_at"]))


def _stamps(spec: dict, names: tuple[str, ...]) -> dict:
    return {name: _time(spec[name]) for name in names if spec.get(name)}


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


def _items(project: Project, archive: zipfile.ZipFile, progress) -> dict[int, int]:
    ids: dict[int, int] = {}
    for batch in _batches(_lines(archive, "items.jsonl")):
        items = []
        for row in batch:
            item = Item(project=project, **{k: row[k] for k in ITEM_FIELDS})
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
        with transaction.atomic():
            created = Item.objects.bulk_create(items)
            _restamp(created, [_time(row["created_at"]) for row in batch])
        ids.update({row["id"]: item.id for row, item in zip(batch, created, strict=True)})
        progress(len(ids))
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
    ids: dict[int, int] = {}
    for batch in _batches(_lines(archive, "annotations.jsonl")):
        with transaction.atomic():
            ids.update(_annotation_batch(batch, item_ids, label_ids, people, project_id))
    return ids


def _annotation_batch(batch, item_ids, label_ids, people, project_id: int) -> dict[int, int]:
    created = Annotation.objects.bulk_create(
        Annotation(
            item_id=item_ids[r["item_id"]],
            annotator=people(r["annotator"]),
            status=r["status"],
            schema_version=r["schema_version"],
            client_key=_copied_key(project_id, r["client_key"]),
            time_spent_ms=r["time_spent_ms"],
            # The model's suggestion shown with the answer (absent from archives of older versions).
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
    return {r["id"]: a.id for r, a in zip(batch, created, strict=True)}


def _mapped(archived_ids: list[int] | None, label_ids: dict[int, int]) -> list[int] | None:
    return None if archived_ids is None else sorted(label_ids[i] for i in archived_ids)


def _restamp(objects, stamps: list[datetime | None]) -> None:
    """auto_now_add overwrote the creation times on insert; put the archive's back."""
    objects = list(objects)
    for obj, stamp in zip(objects, stamps, strict=True):
        obj.created_at = stamp
    if objects:
        type(objects[0]).objects.bulk_update(objects, ["created_at"], batch_size=BATCH)
