"""The labeling workflow's writes: hand out the next item under a lease, submit, skip, edit, undo, drafts.

Concurrency rules, on both databases:
- An item row is locked (`SELECT ... FOR UPDATE`) before anything that changes who holds it or how many
  annotations it has; on SQLite every transaction is IMMEDIATE, which serialises writers the same way.
- Leases expire by themselves: every query compares `expires_at` with now.
"""

import functools
from datetime import timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation import schemas
from annotation.agreement import item_agreement
from annotation.models import (
    Annotation,
    AnnotationStatus,
    Draft,
    Item,
    ItemEvent,
    ItemStatus,
    Label,
    Lease,
    Project,
    QueueOrder,
    ReviewStatus,
    Skip,
    TaskType,
)
from core.db import write_transaction
from core.errors import Conflict, InvalidInput, NotFound
from core.models import User

MAX_CLAIM_ATTEMPTS = 5
QUEUE_ORDERINGS = {
    QueueOrder.PRIORITY: ("-annotation_count", "-priority", "id"),
    QueueOrder.IMPORT: ("-annotation_count", "id"),
    QueueOrder.RANDOM: ("-annotation_count", "random_key"),
}


def _active_leases(now, **filters) -> QuerySet[Lease]:
    return Lease.objects.filter(expires_at__gt=now, **filters)


def _open_for(project: Project, user: User, now) -> QuerySet[Item]:
    """Open items of the project that `user` has neither answered nor skipped, with room for one more
    annotator once the other annotators' live leases are counted. Started items first (for overlap > 1)."""
    mine = Annotation.objects.filter(item=OuterRef("pk"), annotator=user, status=AnnotationStatus.ACTIVE)
    skipped = Skip.objects.filter(item=OuterRef("pk"), user=user)
    items = Item.objects.filter(project=project, status=ItemStatus.OPEN).filter(~Exists(mine), ~Exists(skipped))
    others = _active_leases(now, item=OuterRef("pk")).exclude(user=user)
    if project.overlap == 1:
        items = items.filter(~Exists(others))
    else:
        held = others.values("item").annotate(n=Count("id")).values("n")
        items = items.alias(held=Coalesce(Subquery(held), 0)).filter(annotation_count__lt=project.overlap - F("held"))
    return items.order_by(*QUEUE_ORDERINGS[project.queue_order])


def _has_room(item_id: int, project: Project, user: User, now) -> bool:
    """Re-checked after the item row is locked: a lease committed by someone else just before we took the
    lock is invisible to the candidate query's snapshot, but not to this fresh one."""
    others = _active_leases(now, item=OuterRef("pk")).exclude(user=user).values("item").annotate(n=Count("id"))
    row = (
        Item.objects.filter(id=item_id, status=ItemStatus.OPEN)
        .annotate(held=Coalesce(Subquery(others.values("n")), 0))
        .values_list("annotation_count", "held")
        .first()
    )
    return row is not None and row[0] + row[1] < project.overlap


def _held_item(project: Project, user: User, now) -> Item | None:
    """The open item the user holds a live lease on and has not answered yet (a reload gets it back).
    Two small index lookups rather than one join, so the plan stays cheap whatever the table statistics say."""
    leased = list(_active_leases(now, user=user).order_by("-created_at").values_list("item_id", flat=True)[:50])
    if not leased:
        return None
    mine = Annotation.objects.filter(item=OuterRef("pk"), annotator=user, status=AnnotationStatus.ACTIVE)
    open_items = Item.objects.filter(id__in=leased, project=project, status=ItemStatus.OPEN).filter(~Exists(mine))
    by_id = {item.id: item for item in open_items}
    return next((by_id[item_id] for item_id in leased if item_id in by_id), None)


def _lease(item: Item, user: User, project: Project, now) -> Lease:
    """Create or extend the user's lease on the item in one statement (INSERT ... ON CONFLICT DO UPDATE)."""
    lease = Lease(item=item, user=user, created_at=now, expires_at=now + timedelta(seconds=project.lease_seconds))
    Lease.objects.bulk_create(
        [lease], update_conflicts=True, unique_fields=["item", "user"], update_fields=["expires_at"]
    )
    return lease


def item_next_for_user(*, user: User, project: Project) -> tuple[Item, Lease] | None:
    """The next item for `user`, leased to them; the one they already hold if any; None when nothing is left."""
    now = timezone.now()
    held = _held_item(project, user, now)  # plain reads, before taking the write lock
    with write_transaction():
        if held is not None:
            # Extend only a lease that is still live: if it lapsed meanwhile, the item may be someone else's.
            expires_at = now + timedelta(seconds=project.lease_seconds)
            if Lease.objects.filter(item=held, user=user, expires_at__gt=now).update(expires_at=expires_at):
                return held, Lease(item=held, user=user, created_at=now, expires_at=expires_at)
        tried: list[int] = []
        for _ in range(MAX_CLAIM_ATTEMPTS):
            candidates = _open_for(project, user, now).exclude(id__in=tried)
            item = candidates.select_for_update(skip_locked=True, of=("self",)).first()
            if item is None:
                return None
            if _has_room(item.id, project, user, now):
                return item, _lease(item, user, project, now)
            tried.append(item.id)
    return None


def lease_renew(*, user: User, project: Project, item_id: int) -> Lease:
    """Extend the user's lease while they work; a lease that already expired is renewed only if the item is
    still free for them."""
    now = timezone.now()
    with write_transaction():
        item = item_locked(project, item_id)
        lease = Lease.objects.filter(item=item, user=user).first()
        if lease is None:
            raise NotFound("You hold no lease on this item; ask for the next item instead.")
        if lease.expires_at <= now and not _has_room(item.id, project, user, now):
            raise Conflict("Your lease expired and the item was handed to someone else.")
        return _lease(item, user, project, now)


def item_locked(project: Project, item_id: int) -> Item:
    item = Item.objects.select_for_update().filter(project=project, id=item_id).first()
    if item is None:
        raise NotFound("No such item in this project.", field="item_id")
    return item


@functools.lru_cache(maxsize=256)
def _project_labels(project_id: int, created_at, schema_version: int) -> dict[int, Label]:
    """A project's labels at one schema version. Every label change makes a new version, so a version's labels
    never change and can be kept in memory (the hot submit path then reads no label rows). `created_at` guards
    against a reused id."""
    return {label.id: label for label in Label.objects.filter(project_id=project_id)}


def labels_validated(project: Project, label_ids: list[int]) -> list[Label]:
    ids = schemas.LabelIds.model_validate(label_ids).root
    by_id = _project_labels(project.id, project.created_at, project.schema_version)
    labels = [by_id[label_id] for label_id in ids if label_id in by_id]
    unknown = sorted(set(ids) - {label.id for label in labels})
    if unknown:
        raise InvalidInput(f"Not labels of this project: {unknown}", field="label_ids")
    retired = [label.name for label in labels if not label.is_active]
    if retired:
        raise InvalidInput(f"Retired labels cannot be used: {', '.join(retired)}", field="label_ids")
    if project.task_type == TaskType.SINGLE_LABEL and len(labels) != 1:
        raise InvalidInput("This project is single-label: choose exactly one label.", field="label_ids")
    return labels


def item_recount(item: Item, project: Project) -> None:
    """Store the item's active-annotation count, status and agreement from its annotations (2 queries)."""
    answers: dict[int, list[int]] = {}
    rows = Annotation.objects.filter(item=item, status=AnnotationStatus.ACTIVE).values_list("id", "labels__id")
    for annotation_id, label_id in rows:
        answers.setdefault(annotation_id, []).extend([label_id] if label_id is not None else [])
    _item_counts_save(item, project, [sorted(labels) for labels in answers.values()])


def _item_counts_save(item: Item, project: Project, answers: list[list[int]]) -> None:
    item.annotation_count = len(answers)
    item.status = ItemStatus.DONE if len(answers) >= project.overlap else ItemStatus.OPEN
    item.agreement = item_agreement(answers) if answers else None
    item.save(update_fields=["annotation_count", "status", "agreement"])


@write_transaction()
def annotation_submit(
    *,
    user: User,
    project: Project,
    item_id: int,
    label_ids: list[int],
    client_key: str = "",
    time_spent_ms: int | None = None,
) -> tuple[Annotation, bool]:
    """Record the user's answer. Returns (annotation, created); a retried request with the same `client_key`
    returns the first annotation with created=False and changes nothing."""
    item = item_locked(project, item_id)  # lock first: two retries of one submit queue up here
    mine = Q(item=item, status=AnnotationStatus.ACTIVE) | (Q(client_key=client_key) if client_key else Q(pk__in=[]))
    previous = list(Annotation.objects.filter(mine, annotator=user))
    replayed = next((a for a in previous if client_key and a.client_key == client_key), None)
    if replayed is not None:
        if replayed.item_id != item.id:
            raise Conflict("This client_key was already used for another item.", field="client_key")
        return replayed, False
    labels = labels_validated(project, label_ids)
    if previous:
        raise Conflict("You already annotated this item; edit your annotation instead.")
    now = timezone.now()
    leases = dict(Lease.objects.filter(item=item).values_list("user_id", "expires_at"))
    others = sum(1 for holder, expires_at in leases.items() if holder != user.id and expires_at > now)
    if (
        item.status == ItemStatus.DONE
        or item.annotation_count + (0 if user.id in leases else others) >= project.overlap
    ):
        raise Conflict("This item already has all the annotations it needs; ask for the next item.")
    annotation = Annotation.objects.create(
        item=item,
        annotator=user,
        schema_version=project.schema_version,
        client_key=client_key,
        time_spent_ms=time_spent_ms,
    )
    Annotation.labels.through.objects.bulk_create(
        [Annotation.labels.through(annotation=annotation, label=label) for label in labels]
    )
    if item.annotation_count == 0:  # the common case: this is the item's first answer, no need to read it back
        _item_counts_save(item, project, [sorted(label.id for label in labels)])
    else:
        item_recount(item, project)
    if user.id in leases:
        Lease.objects.filter(item=item, user=user).delete()
    Draft.objects.filter(item=item, user=user).delete()
    ItemEvent.objects.create(
        item=item,
        actor=user,
        kind=ItemEvent.Kind.SUBMITTED,
        annotation_id=annotation.id,
        label_ids=[label.id for label in labels],
    )
    return annotation, True


@write_transaction()
def annotation_skip(*, user: User, project: Project, item_id: int, reason: str = "") -> Skip:
    item = item_locked(project, item_id)
    skip, _ = Skip.objects.update_or_create(item=item, user=user, defaults={"reason": reason})
    Lease.objects.filter(item=item, user=user).delete()
    ItemEvent.objects.create(item=item, actor=user, kind=ItemEvent.Kind.SKIPPED, comment=reason)
    return skip


def _own_editable(user: User, project: Project, **filters) -> Annotation:
    annotation = (
        Annotation.objects.filter(annotator=user, item__project=project, status=AnnotationStatus.ACTIVE, **filters)
        .order_by("-created_at", "-id")
        .first()
    )
    if annotation is None:
        raise NotFound("No annotation of yours to change here.")
    if Item.objects.filter(id=annotation.item_id).exclude(review_status=ReviewStatus.UNREVIEWED).exists():
        raise Conflict("This item has been reviewed; its annotations can no longer be changed.")
    return annotation


@write_transaction()
def annotation_edit(*, user: User, project: Project, annotation_id: int, label_ids: list[int]) -> Annotation:
    annotation = _own_editable(user, project, id=annotation_id)
    item = item_locked(project, annotation.item_id)
    labels = labels_validated(project, label_ids)
    annotation.labels.set(labels)
    annotation.save(update_fields=["updated_at"])
    item_recount(item, project)
    ItemEvent.objects.create(
        item=item,
        actor=user,
        kind=ItemEvent.Kind.EDITED,
        annotation_id=annotation.id,
        label_ids=[label.id for label in labels],
    )
    return annotation


@write_transaction()
def annotation_undo(*, user: User, project: Project) -> Item:
    """Take back the user's latest annotation in the project; the item is leased back to them to redo."""
    annotation = _own_editable(user, project)
    item = item_locked(project, annotation.item_id)
    label_ids = list(annotation.labels.values_list("id", flat=True))
    ItemEvent.objects.create(
        item=item, actor=user, kind=ItemEvent.Kind.UNDONE, annotation_id=annotation.id, label_ids=label_ids
    )
    annotation.delete()
    item_recount(item, project)
    _lease(item, user, project, timezone.now())
    Draft.objects.update_or_create(item=item, user=user, defaults={"payload": {"label_ids": label_ids, "note": ""}})
    return item


def draft_save(*, user: User, project: Project, item_id: int, payload: dict) -> Draft:
    data = schemas.DraftPayload.model_validate(payload)
    item = Item.objects.filter(project=project, id=item_id).first()
    if item is None:
        raise NotFound("No such item in this project.")
    draft, _ = Draft.objects.update_or_create(item=item, user=user, defaults={"payload": data.model_dump()})
    return draft
