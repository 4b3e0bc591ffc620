"""The labeling workflow's writes: hand out the next item under a lease, submit, skip, edit, undo, drafts.

Concurrency rules, on both databases:
- An item row is locked (`SELECT ... FOR UPDATE`) before anything that changes who holds it or how many
  annotations it has; on SQLite every transaction is IMMEDIATE, which serialises writers the same way.
- Leases expire by themselves: every query compares `expires_at` with now.
"""

import functools
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from annotation import queue_sql as sql
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
    ReviewStatus,
    Skip,
    TaskType,
)
from core.db import write_transaction
from core.errors import Conflict, InvalidInput, NotFound
from core.models import User
from integrations.services import event_on_commit

# Candidates taken by someone else between our read and our lock, tried before giving up. Giving up answers
# "nothing left", so the cap is far above what contention produces (32 annotators racing for the same head).
MAX_CLAIM_ATTEMPTS = 64
MAX_HELD = 10  # held items a prefetching client gets back at most (repeated undos can pile up leases)


def item_next_for_user(*, user: User, project: Project) -> tuple[Item, Lease] | None:
    """The next item for `user`, leased to them; the one they already hold if any; None when nothing is left."""
    now = timezone.now()
    expires_at = now + timedelta(seconds=project.lease_seconds)
    held = sql.held_item_id(project_id=project.id, user_id=user.id, now=now)  # a plain read, before the lock
    item_id = None
    with write_transaction():
        # Extend only a lease that is still live: if it lapsed meanwhile, the item may be someone else's.
        if held is not None and sql.lease_extend(item_id=held, user_id=user.id, now=now, expires_at=expires_at):
            item_id = held
        if item_id is None:
            item_id = _claim_new(user=user, project=project, now=now, expires_at=expires_at, holding=[])
        if item_id is None:
            return None
    return sql.items_with_ranking([item_id])[item_id], Lease(
        item_id=item_id, user=user, created_at=now, expires_at=expires_at
    )


def items_next_for_user(*, user: User, project: Project, count: int = 2) -> list[tuple[Item, Lease]]:
    """The items `user` holds (their leases renewed), topped up with newly leased ones to `count`, first the one
    to show: a client shows it and prefetches the others, so the next item is on screen as soon as one is
    submitted. Empty when nothing is left."""
    now = timezone.now()
    expires_at = now + timedelta(seconds=project.lease_seconds)
    held = sql.held_item_ids(project_id=project.id, user_id=user.id, now=now, order=project.queue_order, limit=MAX_HELD)
    with write_transaction():
        ids = [
            item_id
            for item_id in held
            if sql.lease_extend(item_id=item_id, user_id=user.id, now=now, expires_at=expires_at)
        ]
        while len(ids) < count:
            claimed = _claim_new(user=user, project=project, now=now, expires_at=expires_at, holding=ids)
            if claimed is None:
                break
            ids.append(claimed)
    items = sql.items_with_ranking(ids)
    return [
        (items[item_id], Lease(item_id=item_id, user=user, created_at=now, expires_at=expires_at)) for item_id in ids
    ]


def _claim_new(*, user: User, project: Project, now, expires_at, holding: list[int]) -> int | None:
    """Lease one more item to `user`, not one of `holding`; None when nothing is left. Inside a write transaction."""
    tried: list[int] = []
    while len(tried) < MAX_CLAIM_ATTEMPTS:
        candidate = sql.candidate_id(
            project_id=project.id,
            user_id=user.id,
            overlap=project.overlap,
            order=project.queue_order,
            now=now,
            exclude=[*holding, *tried],
        )
        if candidate is None:
            return None
        # On PostgreSQL a lease committed by someone else just before we locked the row is invisible to the
        # candidate query's snapshot but not to this fresh statement. (On SQLite the write lock was held
        # throughout, so the candidate query already saw everything.)
        if connection.vendor == "sqlite" or sql.has_room(
            item_id=candidate, user_id=user.id, overlap=project.overlap, now=now
        ):
            sql.lease_upsert(item_id=candidate, user_id=user.id, now=now, expires_at=expires_at)
            return candidate
        tried.append(candidate)
    return None


def _lease(item: Item, user: User, project: Project, now) -> Lease:
    expires_at = now + timedelta(seconds=project.lease_seconds)
    sql.lease_upsert(item_id=item.id, user_id=user.id, now=now, expires_at=expires_at)
    return Lease(item=item, user=user, created_at=now, expires_at=expires_at)


def lease_renew(*, user: User, project: Project, item_id: int) -> Lease:
    """Extend the user's lease while they work; a lease that already expired is renewed only if the item is
    still free for them."""
    now = timezone.now()
    with write_transaction():
        item = item_locked(project, item_id)
        lease = Lease.objects.filter(item=item, user=user).first()
        if lease is None:
            raise NotFound("You hold no lease on this item; ask for the next item instead.")
        if lease.expires_at <= now and not sql.has_room(
            item_id=item.id, user_id=user.id, overlap=project.overlap, now=now
        ):
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
    """The labels of one answer: the project's own, active, and exactly one in a single-label project."""
    labels = labels_usable(project, label_ids)
    if project.task_type == TaskType.SINGLE_LABEL and len(labels) != 1:
        raise InvalidInput("This project is single-label: choose exactly one label.", field="label_ids")
    return labels


def labels_usable(project: Project, label_ids: list[int]) -> list[Label]:
    """Label ids -> the project's labels, refusing repeats, other projects' labels and retired ones."""
    ids = schemas.LabelIds.model_validate(label_ids).root
    by_id = _project_labels(project.id, project.created_at, project.schema_version)
    labels = [by_id[label_id] for label_id in ids if label_id in by_id]
    unknown = sorted(set(ids) - {label.id for label in labels})
    if unknown:
        raise InvalidInput(f"Not labels of this project: {unknown}", field="label_ids")
    retired = [label.name for label in labels if not label.is_active]
    if retired:
        raise InvalidInput(f"Retired labels cannot be used: {', '.join(retired)}", field="label_ids")
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


def _labels_changed(project_id: int) -> None:
    """After a submit commits: ask for a new ranking when a batch of new labels is complete (cheap when not)."""
    from active_learning.services import ranking_request_if_due

    ranking_request_if_due(project_id=project_id)


@write_transaction()
def annotation_submit(
    *,
    user: User,
    project: Project,
    item_id: int,
    label_ids: list[int],
    client_key: str = "",
    time_spent_ms: int | None = None,
    accepted_suggestion: bool = False,
) -> tuple[Annotation, bool]:
    """Record the user's answer. Returns (annotation, created); a retried request with the same `client_key`
    returns the first annotation with created=False and changes nothing. The model's suggestion at this moment
    is kept with the answer; `accepted_suggestion` is recorded only when the labels are exactly that suggestion."""
    locked = sql.item_lock(project_id=project.id, item_id=item_id)  # two retries of one submit queue up here
    if locked is None:
        raise NotFound("No such item in this project.", field="item_id")
    status, count, suggested = locked
    previous = sql.previous_answers(user_id=user.id, item_id=item_id, client_key=client_key)
    replayed = next((row for row in previous if client_key and row[2] == client_key), None)
    if replayed is not None:
        if replayed[1] != item_id:
            raise Conflict("This client_key was already used for another item.", field="client_key")
        return Annotation.objects.get(id=replayed[0]), False
    labels = labels_validated(project, label_ids)
    if previous:
        raise Conflict("You already annotated this item; edit your annotation instead.")
    now = timezone.now()
    holders = sql.lease_holders(item_id=item_id, now=now)
    others = sum(1 for holder, live in holders.items() if holder != user.id and live)
    # Only a live lease reserves a slot: once it lapsed, someone else may have been given the item.
    if status == ItemStatus.DONE or count + (0 if holders.get(user.id) else others) >= project.overlap:
        raise Conflict("This item already has all the annotations it needs; ask for the next item.")
    ids = sorted(label.id for label in labels)
    accepted = accepted_suggestion and suggested is not None and sorted(suggested) == ids
    annotation_id = sql.annotation_insert(
        item_id=item_id,
        user_id=user.id,
        schema_version=project.schema_version,
        client_key=client_key,
        time_spent_ms=time_spent_ms,
        label_ids=ids,
        suggested_label_ids=suggested,
        accepted_suggestion=accepted,
        now=now,
    )
    if count == 0:  # the common case: this is the item's first answer, no need to read the others back
        done = project.overlap <= 1
        sql.item_counts_set(
            item_id=item_id, count=1, status=ItemStatus.DONE if done else ItemStatus.OPEN, agreement=1.0
        )
    else:
        item_recount(Item.objects.get(id=item_id), project)
    sql.after_submit_cleanup(item_id=item_id, user_id=user.id, holds_lease=user.id in holders)
    sql.event_insert(
        item_id=item_id,
        actor_id=user.id,
        kind=ItemEvent.Kind.SUBMITTED,
        annotation_id=annotation_id,
        label_ids=ids,
        now=now,
    )
    # A lambda, not functools.partial: Django logs a failing robust callback by its __qualname__.
    transaction.on_commit(lambda: _labels_changed(project.id), robust=True)
    event_on_commit(
        project_id=project.id,
        event="annotation.created",
        data={"annotation_id": annotation_id, "item_id": item_id, "annotator": user.username, "label_ids": ids},
    )
    annotation = Annotation(
        id=annotation_id,
        item_id=item_id,
        annotator=user,
        schema_version=project.schema_version,
        status=AnnotationStatus.ACTIVE,
        client_key=client_key,
        time_spent_ms=time_spent_ms,
        suggested_label_ids=suggested,
        accepted_suggestion=accepted,
        created_at=now,
        updated_at=now,
    )
    annotation.known_label_ids = ids
    return annotation, True


@write_transaction()
def annotation_skip(*, user: User, project: Project, item_id: int, reason: str = "") -> Skip:
    item = item_locked(project, item_id)
    skip, _ = Skip.objects.update_or_create(item=item, user=user, defaults={"reason": reason})
    Lease.objects.filter(item=item, user=user).delete()
    ItemEvent.objects.create(item=item, actor=user, kind=ItemEvent.Kind.SKIPPED, comment=reason)
    return skip


@write_transaction()
def skip_revisit(*, user: User, project: Project, item_id: int) -> tuple[Item, Lease]:
    """Take back the user's skip of an item: it is leased to them to label now. Refused when the item no longer
    needs their answer (it got all its answers meanwhile, or they answered it)."""
    item = item_locked(project, item_id)
    if not Skip.objects.filter(item=item, user=user).exists():
        raise NotFound("You have not skipped this item.")
    now = timezone.now()
    if Annotation.objects.filter(item=item, annotator=user, status=AnnotationStatus.ACTIVE).exists():
        raise Conflict("You already answered this item.")
    if not sql.has_room(item_id=item.id, user_id=user.id, overlap=project.overlap, now=now):
        raise Conflict("This item no longer needs your answer: it has all the answers it needs.")
    Skip.objects.filter(item=item, user=user).delete()
    ItemEvent.objects.create(item=item, actor=user, kind=ItemEvent.Kind.UNSKIPPED)
    return Item.objects.with_ranking().get(id=item.id), _lease(item, user, project, now)


def _own_editable(user: User, project: Project, **filters) -> tuple[Annotation, Item]:
    """The user's annotation (the latest, unless `filters` say which) and its item, locked, checked under the
    lock: a reviewer's decision committed meanwhile must be seen, since reviewed items are frozen."""
    own = Annotation.objects.filter(annotator=user, item__project=project, status=AnnotationStatus.ACTIVE, **filters)
    found = own.order_by("-created_at", "-id").values_list("id", "item_id").first()
    if found is None:
        raise NotFound("No annotation of yours to change here.")
    item = item_locked(project, found[1])
    annotation = own.filter(id=found[0]).first()  # re-read under the lock
    if annotation is None:
        raise Conflict("This annotation was set aside by a reviewer meanwhile.")
    if item.review_status != ReviewStatus.UNREVIEWED:
        raise Conflict("This item has been reviewed; its annotations can no longer be changed.")
    return annotation, item


@write_transaction()
def annotation_edit(*, user: User, project: Project, annotation_id: int, label_ids: list[int]) -> Annotation:
    annotation, item = _own_editable(user, project, id=annotation_id)
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
    event_on_commit(
        project_id=project.id,
        event="annotation.updated",
        data={
            "annotation_id": annotation.id,
            "item_id": item.id,
            "annotator": user.username,
            "label_ids": sorted(label.id for label in labels),
        },
    )
    return annotation


@write_transaction()
def annotation_undo(*, user: User, project: Project) -> Item:
    """Take back the user's latest annotation in the project; the item is leased back to them to redo."""
    annotation, item = _own_editable(user, project)
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
    labels_usable(project, data.label_ids.root)  # a draft may be partial, but only of this project's labels
    item = Item.objects.filter(project=project, id=item_id).first()
    if item is None:
        raise NotFound("No such item in this project.")
    draft, _ = Draft.objects.update_or_create(item=item, user=user, defaults={"payload": data.model_dump()})
    return draft
