"""Writes for projects, memberships, invitations and label schemas. Views call these; nothing else writes."""

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

from annotation import schemas
from annotation.models import (
    Annotation,
    DataKind,
    Draft,
    Invitation,
    Item,
    ItemStatus,
    Label,
    Lease,
    Membership,
    Project,
    ReviewStatus,
    Role,
    SchemaChange,
    TaskType,
)
from core.errors import Conflict, InvalidInput, NotFound
from core.models import User
from core.services import user_create
from core.validation import name_key

INVITATION_LIFETIME = timedelta(days=7)


# --- projects ---------------------------------------------------------------------------------------


@transaction.atomic
def project_create(*, creator: User, spec: dict[str, Any]) -> Project:
    """A project with its first schema version; the creator becomes its manager."""
    data = schemas.ProjectSpec.model_validate(spec)
    if project_name_taken(data.name):
        raise Conflict(f"A project named {data.name!r} already exists.", field="name")
    if data.data_kind == DataKind.IMAGE and (data.shown_columns.root or data.feature_columns.root):
        raise InvalidInput("Only tabular projects have columns.", field="shown_columns")
    try:
        with transaction.atomic():  # a savepoint: a concurrent create of the same name loses cleanly
            project = Project.objects.create(
                name=data.name,
                data_kind=data.data_kind,
                instructions=data.instructions,
                task_type=data.task_type,
                shown_columns=data.shown_columns.root,
                feature_columns=data.feature_columns.root,
                created_by=creator,
            )
    except IntegrityError as exc:
        raise Conflict(f"A project named {data.name!r} already exists.", field="name") from exc
    Membership.objects.create(project=project, user=creator, role=Role.MANAGER)
    for position, label in enumerate(data.labels):
        _label_create(project=project, spec=label, position=position)
    SchemaChange.objects.create(
        project=project,
        version=1,
        operation=SchemaChange.Operation.CREATE,
        payload=data.model_dump(mode="json"),
        changed_by=creator,
    )
    return project


@transaction.atomic
def project_update(
    *,
    project: Project,
    name: str | None = None,
    instructions: str | None = None,
    overlap: int | None = None,
    queue_order: str | None = None,
    lease_seconds: int | None = None,
) -> Project:
    """Settings outside the label schema (which changes only through `schema_change_apply`). A new overlap
    moves items between open and done in one statement each."""
    if name is not None:
        name = schemas.ProjectRename.model_validate({"name": name}).name
        if project_name_taken(name, except_id=project.id):
            raise Conflict(f"A project named {name!r} already exists.", field="name")
        project.name = name
    for field, value in (
        ("instructions", instructions),
        ("queue_order", queue_order),
        ("lease_seconds", lease_seconds),
    ):
        if value is not None:
            setattr(project, field, value)
    if overlap is not None and overlap != project.overlap:
        project.overlap = overlap
        items = Item.objects.filter(project=project)
        items.filter(annotation_count__gte=overlap).update(status=ItemStatus.DONE)
        # Reviewed items keep their decision: they are not handed out again.
        items.filter(annotation_count__lt=overlap, review_status=ReviewStatus.UNREVIEWED).update(status=ItemStatus.OPEN)
    try:
        with transaction.atomic():
            project.save(
                update_fields=["name", "instructions", "overlap", "queue_order", "lease_seconds", "updated_at"]
            )
    except IntegrityError as exc:  # a concurrent rename to the same name
        raise Conflict(f"A project named {project.name!r} already exists.", field="name") from exc
    return project


def project_name_taken(name: str, *, except_id: int | None = None) -> bool:
    """Whether another project has a name that looks the same: compared NFC and case folded in Python, since
    SQLite's `iexact` folds ASCII only (and names stored before normalisation may be decomposed)."""
    key = name_key(name)
    names = Project.objects.exclude(id=except_id).values_list("name", flat=True)
    return any(name_key(other) == key for other in names.iterator())


def project_delete(*, project: Project) -> None:
    project.delete()


# --- members and invitations ------------------------------------------------------------------------


def membership_add(*, project: Project, username: str, role: Role) -> Membership:
    user = User.objects.filter(username__iexact=username, is_active=True).first()
    if user is None:
        raise NotFound(f"No active user named {username!r}; invite them by email instead.", field="username")
    membership, created = Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
    if not created:
        raise Conflict(f"{user.username} is already a {membership.role} of this project.", field="username")
    return membership


@transaction.atomic
def membership_set_role(*, project: Project, user_id: int, role: Role) -> Membership:
    membership = _membership_locked(project=project, user_id=user_id)
    if membership.role == Role.MANAGER and role != Role.MANAGER:
        _ensure_another_manager(project=project, user_id=user_id)
    lowered = ROLE_RANK[role] < ROLE_RANK[membership.role]
    membership.role = role
    membership.save(update_fields=["role"])
    if lowered:
        _work_in_hand_release(project=project, user_id=user_id)
    return membership


@transaction.atomic
def membership_remove(*, project: Project, user_id: int) -> None:
    membership = _membership_locked(project=project, user_id=user_id)
    if membership.role == Role.MANAGER:
        _ensure_another_manager(project=project, user_id=user_id)
    membership.delete()
    _work_in_hand_release(project=project, user_id=user_id)


ROLE_RANK = {Role.ANNOTATOR: 0, Role.REVIEWER: 1, Role.MANAGER: 2}


def _work_in_hand_release(*, project: Project, user_id: int) -> None:
    """The member's leases end and drafts go, in the caller's transaction: items they held are handed to others
    at once, instead of answering 409 until the lease expires."""
    Lease.objects.filter(item__project=project, user_id=user_id).delete()
    Draft.objects.filter(item__project=project, user_id=user_id).delete()


def _membership_locked(*, project: Project, user_id: int) -> Membership:
    # Lock every manager row too: two managers demoting each other at once must not leave none.
    list(Membership.objects.select_for_update().filter(project=project, role=Role.MANAGER))
    membership = Membership.objects.select_for_update().filter(project=project, user_id=user_id).first()
    if membership is None:
        raise NotFound("That user is not a member of this project.")
    return membership


def _ensure_another_manager(*, project: Project, user_id: int) -> None:
    if not Membership.objects.filter(project=project, role=Role.MANAGER).exclude(user_id=user_id).exists():
        raise Conflict("A project must keep at least one manager.")


def invitation_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def invitation_create(*, project: Project, email: str, role: Role, invited_by: User) -> tuple[Invitation, str]:
    """An invitation and its one-time key (shown to the inviter once, to pass on)."""
    if Membership.objects.filter(project=project, user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member of this project.", field="email")
    key = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project,
        email=email,
        role=role,
        digest=invitation_digest(key),
        invited_by=invited_by,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    return invitation, key


def invitation_revoke(*, project: Project, invitation_id: int) -> None:
    updated = Invitation.objects.filter(
        project=project, id=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if not updated:
        raise NotFound("No open invitation with that id.")


@transaction.atomic
def invitation_accept(*, key: str, user: User | None = None, username: str = "", password: str = "") -> Membership:
    """Join the invited project, as `user` if logged in, else as a new user made from username/password."""
    invitation = (
        Invitation.objects.select_for_update().select_related("project").filter(digest=invitation_digest(key)).first()
    )
    if invitation is None or invitation.revoked_at is not None:
        raise NotFound("This invitation does not exist or was revoked.")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation has already been used.")
    if invitation.expires_at <= timezone.now():
        raise Conflict("This invitation has expired; ask the project's manager for a new one.")
    if user is None:
        if not username or not password:
            raise InvalidInput("Choose a username and a password to accept the invitation.", field="username")
        user = user_create(username=username, password=password, email=invitation.email)
    membership, created = Membership.objects.get_or_create(
        project=invitation.project, user=user, defaults={"role": invitation.role}
    )
    if not created:
        raise Conflict(f"You are already a {membership.role} of this project.")
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


# --- label schema -----------------------------------------------------------------------------------


def _label_create(*, project: Project, spec: schemas.LabelSpec, position: int) -> Label:
    return Label.objects.create(
        project=project,
        name=spec.name,
        color=spec.color or schemas.PALETTE[position % len(schemas.PALETTE)],
        hotkey=spec.hotkey,
        description=spec.description,
        position=position,
    )


@transaction.atomic
def schema_change_apply(*, project_id: int, user: User, operation: dict[str, Any]) -> SchemaChange:
    """Apply one explicit schema operation and record it as the next schema version.

    Annotations are never rewritten: renames keep label ids, retired labels keep their annotations,
    merged labels point at their target through `Label.merged_into`.
    """
    op = schemas.SchemaOperation.model_validate(operation).root
    # The row lock serialises concurrent changes, so versions stay gapless and unique.
    project = Project.objects.select_for_update().get(id=project_id)
    applied = _APPLY[type(op)](project, op)
    project.schema_version += 1
    project.save(update_fields=["schema_version", "task_type", "shown_columns", "feature_columns", "updated_at"])
    return SchemaChange.objects.create(
        project=project, version=project.schema_version, operation=op.op, payload=applied, changed_by=user
    )


def _active_label(project: Project, label_id: int, field: str = "label_id") -> Label:
    label = Label.objects.filter(project=project, id=label_id).first()
    if label is None:
        raise NotFound(f"No label {label_id} in this project.", field=field)
    if not label.is_active:
        raise Conflict(f"Label {label.name!r} is retired; it cannot be changed.", field=field)
    return label


def _check_name_free(project: Project, name: str, field: str, except_id: int | None = None) -> None:
    # Compared in Python, NFC and case folded: SQLite's `iexact` folds ASCII only. A project has few labels.
    key = name_key(name)
    names = Label.objects.filter(project=project).exclude(id=except_id).values_list("name", flat=True)
    if any(name_key(other) == key for other in names):
        raise Conflict(
            f"This project already has a label named {name!r} (retired labels keep their names).", field=field
        )


def _check_hotkey_free(project: Project, hotkey: str, field: str, except_id: int | None = None) -> None:
    if hotkey and Label.objects.active().filter(project=project, hotkey=hotkey).exclude(id=except_id).exists():
        raise Conflict(f"Hotkey {hotkey!r} is taken by another label.", field=field)


def _add_label(project: Project, op: schemas.AddLabel) -> dict[str, Any]:
    if Label.objects.filter(project=project).count() >= schemas.MAX_LABELS:
        raise InvalidInput(
            f"A project has at most {schemas.MAX_LABELS} labels (retired ones count too).",
            field="label",
        )
    _check_name_free(project, op.label.name, "label.name")
    _check_hotkey_free(project, op.label.hotkey, "label.hotkey")
    top = Label.objects.filter(project=project).aggregate(top=Max("position"))["top"]
    label = _label_create(project=project, spec=op.label, position=0 if top is None else top + 1)
    return schemas.AddLabelApplied(**op.model_dump(), label_id=label.id).model_dump(mode="json")


def _update_label(project: Project, op: schemas.UpdateLabel) -> dict[str, Any]:
    label = _active_label(project, op.label_id)
    if op.hotkey is not None:
        _check_hotkey_free(project, op.hotkey, "hotkey", except_id=label.id)
        label.hotkey = op.hotkey
    if op.color is not None:
        label.color = op.color
    if op.description is not None:
        label.description = op.description
    label.save(update_fields=["hotkey", "color", "description"])
    return op.model_dump(mode="json", exclude_none=True)


def _rename_label(project: Project, op: schemas.RenameLabel) -> dict[str, Any]:
    label = _active_label(project, op.label_id)
    _check_name_free(project, op.name, "name", except_id=label.id)
    old_name, label.name = label.name, op.name
    label.save(update_fields=["name"])
    return schemas.RenameLabelApplied(**op.model_dump(), old_name=old_name).model_dump(mode="json")


def _retire_label(project: Project, op: schemas.RetireLabel) -> dict[str, Any]:
    label = _active_label(project, op.label_id)
    label.retired_at = timezone.now()
    label.save(update_fields=["retired_at"])
    kept = label.annotations.count()
    return schemas.RetireLabelApplied(**op.model_dump(), annotations_kept=kept).model_dump(mode="json")


def _merge_labels(project: Project, op: schemas.MergeLabels) -> dict[str, Any]:
    if op.target_id in op.source_ids:
        raise InvalidInput("A label cannot be merged into itself.", field="source_ids")
    target = _active_label(project, op.target_id, field="target_id")
    sources = [_active_label(project, label_id, field="source_ids") for label_id in dict.fromkeys(op.source_ids)]
    now = timezone.now()
    for source in sources:
        source.retired_at, source.merged_into = now, target
        source.save(update_fields=["retired_at", "merged_into"])
    names = [s.name for s in sources]
    applied = schemas.MergeLabelsApplied(**op.model_dump(), source_names=names, target_name=target.name)
    return applied.model_dump(mode="json")


def _set_columns(project: Project, op: schemas.SetColumns) -> dict[str, Any]:
    if project.data_kind != DataKind.TABULAR:
        raise InvalidInput("Only tabular projects have columns.", field="shown_columns")
    sample = Item.objects.filter(project=project).values_list("data", flat=True).first()
    if sample is not None:
        for field in ("shown_columns", "feature_columns"):
            unknown = [name for name in getattr(op, field).root if name not in sample]
            if unknown:
                raise InvalidInput(f"No such column in this project's data: {', '.join(unknown)}", field=field)
    project.shown_columns, project.feature_columns = op.shown_columns.root, op.feature_columns.root
    return op.model_dump(mode="json")


def _set_task_type(project: Project, op: schemas.SetTaskType) -> dict[str, Any]:
    if op.task_type == TaskType.SINGLE_LABEL and project.task_type == TaskType.MULTI_LABEL:
        multi = (
            Annotation.objects.filter(item__project=project)
            .annotate(n_labels=Count("labels"))
            .filter(n_labels__gt=1)
            .count()
        )
        if multi:
            raise Conflict(
                f"{multi} annotations carry several labels; they cannot become single-label.", field="task_type"
            )
    project.task_type = op.task_type
    return op.model_dump(mode="json")


_APPLY = {
    schemas.AddLabel: _add_label,
    schemas.UpdateLabel: _update_label,
    schemas.RenameLabel: _rename_label,
    schemas.RetireLabel: _retire_label,
    schemas.MergeLabels: _merge_labels,
    schemas.SetColumns: _set_columns,
    schemas.SetTaskType: _set_task_type,
}
