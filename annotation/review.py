"""Review: accept an item's consensus, correct it, or reject its annotations (the item goes back to the queue)."""

from annotation.labeling import item_locked, item_recount, labels_validated
from annotation.models import (
    Annotation,
    AnnotationStatus,
    ItemEvent,
    ItemStatus,
    Project,
    Review,
    ReviewStatus,
)
from core.db import write_transaction
from core.errors import Conflict, InvalidInput
from core.models import User
from integrations.services import event_on_commit

_REVIEW_STATUS = {Review.Decision.ACCEPT: ReviewStatus.ACCEPTED, Review.Decision.CORRECT: ReviewStatus.CORRECTED}
_EVENT = {
    Review.Decision.ACCEPT: ItemEvent.Kind.ACCEPTED,
    Review.Decision.CORRECT: ItemEvent.Kind.CORRECTED,
    Review.Decision.REJECT: ItemEvent.Kind.REJECTED,
}


@write_transaction()
def item_review(
    *,
    reviewer: User,
    project: Project,
    item_id: int,
    decision: str,
    label_ids: list[int] | None = None,
    comment: str = "",
) -> Review:
    """Decide on a done item. Accept keeps the consensus as the final label; correct sets the final label to
    `label_ids`; reject (a comment is required) sets the annotations aside and reopens the item."""
    item = item_locked(project, item_id)
    if item.status != ItemStatus.DONE:
        raise Conflict("Only items with all their annotations can be reviewed.")
    if item.review_status != ReviewStatus.UNREVIEWED:
        raise Conflict(f"This item was already reviewed ({item.review_status}).")
    labels = []
    if decision == Review.Decision.CORRECT:
        labels = labels_validated(project, label_ids or [])
    elif label_ids:
        raise InvalidInput("Labels go with a correction only.", field="label_ids")
    if decision == Review.Decision.REJECT and not comment.strip():
        raise InvalidInput("Say why the annotations are rejected; annotators will see it.", field="comment")
    review = Review.objects.create(item=item, reviewer=reviewer, decision=decision, comment=comment)
    review.labels.set(labels)
    if decision == Review.Decision.REJECT:
        # Set the answers aside (kept for history) and reopen the item; it is reviewable again once redone.
        Annotation.objects.filter(item=item, status=AnnotationStatus.ACTIVE).update(status=AnnotationStatus.REJECTED)
        item_recount(item, project)
    else:
        item.review_status = _REVIEW_STATUS[decision]
        item.save(update_fields=["review_status"])
    ItemEvent.objects.create(
        item=item, actor=reviewer, kind=_EVENT[decision], label_ids=[label.id for label in labels], comment=comment
    )
    event_on_commit(
        project_id=project.id,
        event="item.reviewed",
        data={
            "item_id": item.id,
            "reviewer": reviewer.username,
            "decision": decision,
            "label_ids": [label.id for label in labels],
            "comment": comment,
        },
    )
    return review
