"""Writes from the item browser and the item page: a reviewer's correction of one item, and bulk actions on a
selection (from the browser's checkboxes or a lasso on the map): label, send to review, re-queue, raise priority.

Each bulk action is one transaction over the selection: the item rows are locked first (as every labeling write
does), each item is changed or left as it is with the reason, and an ItemEvent records every change, so the
item page and the review queue show who did what.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from annotation.access import Capability
from annotation.agreement import item_agreement
from annotation.labeling import _labels_changed, item_locked, labels_validated
from annotation.models import (
    RAISED_PRIORITY,
    Annotation,
    AnnotationStatus,
    Draft,
    Item,
    ItemEvent,
    ItemStatus,
    Lease,
    Project,
    Review,
    ReviewStatus,
    Skip,
)
from core.db import write_transaction
from core.errors import InvalidInput
from core.models import User

MAX_BULK_ITEMS = 1_000  # items per bulk action: one transaction holds their row locks

# The capability each bulk action needs. Annotators work blind, so the browser and its actions are for reviewers
# and managers; the queue's order is the managers' alone.
BULK_CAPABILITIES = {
    "label": Capability.REVIEW,
    "send_to_review": Capability.REVIEW,
    "requeue": Capability.REVIEW,
    "raise_priority": Capability.MANAGE,
}


@dataclass
class BulkResult:
    action: str
    changed: list[int] = field(default_factory=list)
    unchanged: dict[str, list[int]] = field(default_factory=dict)  # reason -> item ids left as they were

    def leave(self, reason: str, item_id: int) -> None:
        self.unchanged.setdefault(reason, []).append(item_id)


def _selection_locked(project: Project, item_ids: list[int]) -> list[Item]:
    """The selected items, locked, in id order; refuses an empty or oversized selection and ids of other
    projects' items (or of none)."""
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        raise InvalidInput("Select at least one item.", field="item_ids")
    if len(ids) > MAX_BULK_ITEMS:
        raise InvalidInput(
            f"At most {MAX_BULK_ITEMS} items per action ({len(ids)} selected); split the selection.", field="item_ids"
        )
    items = list(Item.objects.select_for_update().filter(project=project, id__in=ids).order_by("id"))
    missing = sorted(set(ids) - {item.id for item in items})
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
        raise InvalidInput(f"{len(missing)} selected ids are not items of this project: {shown}", field="item_ids")
    return items


def _events(user: User, items: list[Item], kind: str, label_ids=(), comment: str = "", annotations=None) -> None:
    ItemEvent.objects.bulk_create(
        ItemEvent(
            item=item,
            actor=user,
            kind=kind,
            label_ids=list(label_ids),
            comment=comment,
            annotation_id=annotations.get(item.id) if annotations else None,
        )
        for item in items
    )


@write_transaction()
def items_bulk_label(*, user: User, project: Project, item_ids: list[int], label_ids: list[int]) -> BulkResult:
    """Record `label_ids` as `user`'s own answer on each selected item, exactly as if they had labeled each one:
    counted toward overlap and agreement, reviewable, undoable by editing. Items the user already answered, items
    with all their answers, and reviewed items are left as they are."""
    labels = labels_validated(project, label_ids)
    items = _selection_locked(project, item_ids)
    result = BulkResult("label")
    answered = set(
        Annotation.objects.filter(item__in=items, annotator=user, status=AnnotationStatus.ACTIVE).values_list(
            "item_id", flat=True
        )
    )
    targets = []
    for item in items:
        if item.id in answered:
            result.leave("already answered by you", item.id)
        elif item.review_status != ReviewStatus.UNREVIEWED:
            result.leave("already reviewed", item.id)
        elif item.status == ItemStatus.DONE:
            result.leave("already has all its answers", item.id)
        else:
            targets.append(item)
    if not targets:
        return result
    created = Annotation.objects.bulk_create(
        Annotation(item=item, annotator=user, schema_version=project.schema_version) for item in targets
    )
    through = Annotation.labels.through
    through.objects.bulk_create(through(annotation=a, label=label) for a in created for label in labels)
    _recount(project, targets)
    Lease.objects.filter(item__in=targets, user=user).delete()
    Draft.objects.filter(item__in=targets, user=user).delete()
    ids = sorted(label.id for label in labels)
    annotations = {a.item_id: a.id for a in created}
    _events(user, targets, ItemEvent.Kind.SUBMITTED, label_ids=ids, comment="labeled in bulk", annotations=annotations)
    result.changed = [item.id for item in targets]
    transaction.on_commit(lambda: _labels_changed(project.id), robust=True)
    return result


def _recount(project: Project, items: list[Item]) -> None:
    """Store count, status and agreement of many items from their active answers: two queries and one update."""
    answers: dict[int, dict[int, list[int]]] = {item.id: {} for item in items}
    rows = Annotation.labels.through.objects.filter(
        annotation__item__in=items, annotation__status=AnnotationStatus.ACTIVE
    ).values_list("annotation__item_id", "annotation_id", "label_id")
    for item_id, annotation_id, label_id in rows:
        answers[item_id].setdefault(annotation_id, []).append(label_id)
    for item in items:
        given = [sorted(labels) for labels in answers[item.id].values()]
        item.annotation_count = len(given)
        item.status = ItemStatus.DONE if len(given) >= project.overlap else ItemStatus.OPEN
        item.agreement = item_agreement(given) if given else None
    Item.objects.bulk_update(items, ["annotation_count", "status", "agreement"], batch_size=500)


@write_transaction()
def items_bulk_send_to_review(*, user: User, project: Project, item_ids: list[int]) -> BulkResult:
    """Put answered items in the review queue: reviewed ones are reviewed again, items still waiting for more
    answers are reviewed with the answers they have. Items without answers cannot be reviewed."""
    items = _selection_locked(project, item_ids)
    result = BulkResult("send_to_review")
    targets = []
    for item in items:
        if item.annotation_count == 0:
            result.leave("no answers yet", item.id)
        elif item.status == ItemStatus.DONE and item.review_status == ReviewStatus.UNREVIEWED:
            result.leave("already waiting for review", item.id)
        else:
            item.status, item.review_status = ItemStatus.DONE, ReviewStatus.UNREVIEWED
            targets.append(item)
    Item.objects.bulk_update(targets, ["status", "review_status"], batch_size=500)
    _events(user, targets, ItemEvent.Kind.TO_REVIEW)
    result.changed = [item.id for item in targets]
    return result


@write_transaction()
def items_bulk_requeue(*, user: User, project: Project, item_ids: list[int], comment: str = "") -> BulkResult:
    """Hand the items out again from scratch: their answers are set aside (kept for history, as a reviewer's
    rejection does), their review cleared, and skips forgotten, so people who skipped them see them again."""
    items = _selection_locked(project, item_ids)
    result = BulkResult("requeue")
    skipped = set(Skip.objects.filter(item__in=items).values_list("item_id", flat=True))
    targets = []
    for item in items:
        if item.annotation_count == 0 and item.status == ItemStatus.OPEN and item.id not in skipped:
            result.leave("already in the queue", item.id)
        else:
            targets.append(item)
    Annotation.objects.filter(item__in=targets, status=AnnotationStatus.ACTIVE).update(
        status=AnnotationStatus.REJECTED, updated_at=timezone.now()
    )
    Skip.objects.filter(item__in=targets).delete()
    for item in targets:
        item.review_status = ReviewStatus.UNREVIEWED
    Item.objects.bulk_update(targets, ["review_status"], batch_size=500)
    _recount(project, targets)
    _events(user, targets, ItemEvent.Kind.REQUEUED, comment=comment)
    result.changed = [item.id for item in targets]
    if targets:
        transaction.on_commit(lambda: _labels_changed(project.id), robust=True)
    return result


@write_transaction()
def items_bulk_raise_priority(*, user: User, project: Project, item_ids: list[int]) -> BulkResult:
    """Serve the items before anything else in the queue (in any queue order), until they have their answers."""
    items = _selection_locked(project, item_ids)
    result = BulkResult("raise_priority")
    targets = []
    for item in items:
        if item.status == ItemStatus.DONE:
            result.leave("already has all its answers", item.id)
        elif item.priority >= RAISED_PRIORITY:
            result.leave("priority already raised", item.id)
        else:
            item.priority = RAISED_PRIORITY
            targets.append(item)
    Item.objects.bulk_update(targets, ["priority"], batch_size=500)
    _events(user, targets, ItemEvent.Kind.PRIORITIZED)
    result.changed = [item.id for item in targets]
    return result


def items_bulk_apply(
    *, user: User, project: Project, action: str, item_ids: list[int], label_ids=None, comment: str = ""
) -> BulkResult:
    """One bulk action by name (the caller checked BULK_CAPABILITIES[action])."""
    if action == "label":
        if not label_ids:
            raise InvalidInput("Choose the label to give the selected items.", field="label_ids")
        return items_bulk_label(user=user, project=project, item_ids=item_ids, label_ids=label_ids)
    if label_ids:
        raise InvalidInput("Labels go with the label action only.", field="label_ids")
    if action == "requeue":
        return items_bulk_requeue(user=user, project=project, item_ids=item_ids, comment=comment)
    if action == "send_to_review":
        return items_bulk_send_to_review(user=user, project=project, item_ids=item_ids)
    if action == "raise_priority":
        return items_bulk_raise_priority(user=user, project=project, item_ids=item_ids)
    raise InvalidInput(f"Unknown action {action!r}; use one of: {', '.join(BULK_CAPABILITIES)}.", field="action")


# --- one item ------------------------------------------------------------------------------------------------


@write_transaction()
def item_label_correct(
    *, reviewer: User, project: Project, item_id: int, label_ids: list[int], comment: str = ""
) -> Review:
    """A reviewer's or manager's final label for one item, at any stage (unanswered, waiting for review, already
    reviewed): recorded as a correction in the item's review history; the item is not handed out again."""
    item = item_locked(project, item_id)
    labels = labels_validated(project, label_ids)
    review = Review.objects.create(item=item, reviewer=reviewer, decision=Review.Decision.CORRECT, comment=comment)
    review.labels.set(labels)
    item.review_status, item.status = ReviewStatus.CORRECTED, ItemStatus.DONE
    item.save(update_fields=["review_status", "status"])
    Lease.objects.filter(item=item).delete()
    ItemEvent.objects.create(
        item=item,
        actor=reviewer,
        kind=ItemEvent.Kind.CORRECTED,
        label_ids=sorted(label.id for label in labels),
        comment=comment,
    )
    transaction.on_commit(lambda: _labels_changed(project.id), robust=True)
    return review
