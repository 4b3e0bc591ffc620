"""The read queries behind each project screen and API list. Each runs a fixed number of queries."""

import statistics
from datetime import UTC, timedelta

from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from annotation.models import (
    Annotation,
    AnnotationStatus,
    Invitation,
    Item,
    ItemEvent,
    ItemStatus,
    Label,
    Membership,
    Project,
    Review,
    ReviewStatus,
    SchemaChange,
    Skip,
)
from core.models import User


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    """Projects the user belongs to (all, for superusers), with item count and the user's role."""
    projects = Project.objects.all() if user.is_superuser else Project.objects.filter(memberships__user=user)
    role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    return projects.annotate(item_count=Count("items", distinct=True), my_role=Subquery(role)).order_by("name")


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user").order_by("user__username")


def invitation_list(*, project: Project) -> QuerySet[Invitation]:
    return Invitation.objects.filter(project=project).select_related("invited_by")


def label_list(*, project: Project) -> QuerySet[Label]:
    return Label.objects.filter(project=project).annotate(annotation_count=Count("annotations"))


def schema_change_list(*, project: Project) -> QuerySet[SchemaChange]:
    return SchemaChange.objects.filter(project=project).select_related("changed_by")


def item_list(*, project: Project, search: str = "") -> QuerySet[Item]:
    items = Item.objects.filter(project=project).with_ranking()
    if search:
        items = items.filter(external_id__icontains=search)
    return items.order_by("id")


# --- labeling workflow ------------------------------------------------------------------------------

RECENT_FOR_MEDIAN = 10_000  # median time per item over the latest annotations: bounded work at any size


def review_queue(*, project: Project, order: str = "disagreements") -> QuerySet[Item]:
    """Done, unreviewed items: lowest agreement first ("disagreements"), import order ("all"), or a fixed
    random sample order ("sample")."""
    items = Item.objects.filter(project=project, status=ItemStatus.DONE, review_status=ReviewStatus.UNREVIEWED)
    orderings = {"disagreements": ("agreement", "id"), "all": ("id",), "sample": ("random_key",)}
    return items.order_by(*orderings[order])


def item_annotations(*, item: Item) -> QuerySet[Annotation]:
    return (
        Annotation.objects.filter(item=item)
        .select_related("annotator")
        .prefetch_related("labels")
        .order_by("created_at", "id")
    )


def item_history(*, item: Item) -> QuerySet[ItemEvent]:
    return ItemEvent.objects.filter(item=item).select_related("actor").order_by("id")


def project_progress(*, project: Project) -> dict:
    """Counts per status, per label and per annotator, labels per hour, median time per item: 4 queries."""
    now = timezone.now()
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(days=1)
    by_status = {"open": 0, "done": 0, "accepted": 0, "corrected": 0}
    for row in Item.objects.filter(project=project).values("status", "review_status").annotate(n=Count("id")):
        by_status[row["status"]] += row["n"]
        if row["review_status"] != ReviewStatus.UNREVIEWED:
            by_status[row["review_status"]] += row["n"]
    active = Annotation.objects.filter(item__project=project, status=AnnotationStatus.ACTIVE)
    per_label = list(
        Label.objects.filter(project=project)
        .annotate(n=Count("annotations", filter=Q(annotations__status=AnnotationStatus.ACTIVE)))
        .values("id", "name", "n")
    )
    per_annotator = list(
        active.values("annotator_id", "annotator__username")
        .annotate(
            annotations=Count("id"),
            last_hour=Count("id", filter=Q(created_at__gte=hour_ago)),
            last_day=Count("id", filter=Q(created_at__gte=day_ago)),
        )
        .order_by("annotator__username")
    )
    times = sorted(
        active.exclude(time_spent_ms=None).order_by("-id").values_list("time_spent_ms", flat=True)[:RECENT_FOR_MEDIAN]
    )
    return {
        "items": sum(by_status[s] for s in ("open", "done")),
        "by_status": by_status,
        "by_label": [{"label_id": r["id"], "name": r["name"], "annotations": r["n"]} for r in per_label],
        "by_annotator": [
            {
                "user_id": r["annotator_id"],
                "username": r["annotator__username"],
                "annotations": r["annotations"],
                "last_hour": r["last_hour"],
                "per_hour_last_day": round(r["last_day"] / 24, 2),
            }
            for r in per_annotator
        ],
        "labels_last_hour": sum(r["last_hour"] for r in per_annotator),
        "median_time_per_item_ms": statistics.median(times) if times else None,
    }


def project_ratings(*, project: Project) -> dict[int, dict[int, list[int]]]:
    """ratings[item_id][annotator_id] = sorted label ids, over active annotations, for agreement figures."""
    rows = (
        Annotation.labels.through.objects.filter(
            annotation__item__project=project, annotation__status=AnnotationStatus.ACTIVE
        )
        .values_list("annotation__item_id", "annotation__annotator_id", "label_id")
        .order_by("annotation__item_id", "annotation__annotator_id", "label_id")
    )
    ratings: dict[int, dict[int, list[int]]] = {}
    for item_id, annotator_id, label_id in rows.iterator(chunk_size=5000):
        ratings.setdefault(item_id, {}).setdefault(annotator_id, []).append(label_id)
    return ratings


# --- insights ---------------------------------------------------------------------------------------

LABELS_OVER_TIME_DAYS = 90  # daily buckets reach back this far at most
LABELS_OVER_TIME_HOURS = 48  # hourly buckets reach back this far at most
HOURLY_BELOW_DAYS = 3  # "auto": hourly buckets while the first annotation is this recent


def labels_over_time(*, project: Project, bucket: str = "auto") -> dict:
    """Active annotations per day or per hour (in the site's time zone), oldest first, empty buckets included,
    up to now; "auto" takes hours while labeling began under HOURLY_BELOW_DAYS ago. 2 queries."""
    active = Annotation.objects.filter(item__project=project, status=AnnotationStatus.ACTIVE)
    first = active.aggregate(first=Min("created_at"))["first"]
    now = timezone.now()
    if bucket == "auto":
        bucket = "hour" if first is None or first > now - timedelta(days=HOURLY_BELOW_DAYS) else "day"
    if first is None:
        return {"bucket": bucket, "series": [], "total": 0}
    step, span, trunc = (
        (timedelta(hours=1), timedelta(hours=LABELS_OVER_TIME_HOURS - 1), TruncHour)
        if bucket == "hour"
        else (timedelta(days=1), timedelta(days=LABELS_OVER_TIME_DAYS - 1), TruncDay)
    )
    start = _bucket_start(max(first, now - span), bucket)
    counts = {
        _bucket_start(row["start"], bucket): row["n"]
        for row in active.filter(created_at__gte=start)
        .annotate(start=trunc("created_at"))
        .values("start")
        .annotate(n=Count("id"))
        .order_by("start")
    }
    series, moment, last = [], start.astimezone(UTC), _bucket_start(now, bucket)
    while (current := _bucket_start(moment, bucket)) <= last:
        if not series or series[-1]["start"] != current.isoformat():
            series.append({"start": current.isoformat(), "annotations": counts.get(current, 0)})
        moment += step  # in UTC, so a daylight-saving change neither skips nor repeats a bucket
    return {"bucket": bucket, "series": series, "total": sum(counts.values())}


def _bucket_start(moment, bucket: str):
    """The start of the day or hour holding `moment`, in the current time zone."""
    local = timezone.localtime(moment).replace(minute=0, second=0, microsecond=0)
    return local if bucket == "hour" else local.replace(hour=0)


# --- what the labeling page shows an annotator about their own work ------------------------------------------


def skipped_for_user(*, user: User, project: Project) -> QuerySet:
    """The user's skips of items that still need an answer, latest first (one query)."""
    return (
        Skip.objects.filter(user=user, item__project=project, item__status=ItemStatus.OPEN)
        .select_related("item")
        .order_by("-created_at", "-id")
    )


def rejection_notes(*, user: User, item_ids: list[int]) -> dict[int, dict]:
    """For each of `item_ids` on which a reviewer rejected this user's answer: the latest rejection's comment,
    reviewer and time (2 queries)."""
    rejected = set(
        Annotation.objects.filter(annotator=user, item_id__in=item_ids, status=AnnotationStatus.REJECTED).values_list(
            "item_id", flat=True
        )
    )
    notes: dict[int, dict] = {}
    reviews = Review.objects.filter(item_id__in=rejected, decision=Review.Decision.REJECT).select_related("reviewer")
    for review in reviews.order_by("id"):
        notes[review.item_id] = {
            "comment": review.comment,
            "reviewer": review.reviewer.username,
            "decided_at": review.created_at,
        }
    return notes


def review_feedback(*, user: User, project: Project) -> dict:
    """How reviewers judged the user's answers: answers corrected (the reviewer's final label differs from the
    user's answer), answers sent back, and the latest corrections with both labels (5 queries)."""
    corrections = list(
        Review.objects.filter(
            item__project=project,
            decision=Review.Decision.CORRECT,
            item__annotations__annotator=user,
            item__annotations__status=AnnotationStatus.ACTIVE,
        )
        .select_related("item", "reviewer")
        .prefetch_related("labels")
        .order_by("-id")
    )
    mine = dict(
        Annotation.objects.filter(
            annotator=user, status=AnnotationStatus.ACTIVE, item_id__in=[review.item_id for review in corrections]
        ).values_list("item_id", "id")
    )
    given: dict[int, list[int]] = {}
    through = Annotation.labels.through.objects.filter(annotation_id__in=mine.values())
    for annotation_id, label_id in through.values_list("annotation_id", "label_id"):
        given.setdefault(annotation_id, []).append(label_id)
    corrected = []
    for review in corrections:
        final = sorted(label.id for label in review.labels.all())
        yours = sorted(given.get(mine.get(review.item_id), []))
        if final != yours:
            corrected.append(
                {
                    "item_id": review.item_id,
                    "item": review.item.external_id or f"#{review.item_id}",
                    "yours": yours,
                    "final": final,
                    "reviewer": review.reviewer.username,
                    "comment": review.comment,
                }
            )
    sent_back = Annotation.objects.filter(
        annotator=user, item__project=project, status=AnnotationStatus.REJECTED
    ).count()
    return {"corrected": len(corrected), "sent_back": sent_back, "latest_corrections": corrected[:10]}
