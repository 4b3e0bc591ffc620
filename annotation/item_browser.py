"""The item browser's reads: filtered, sorted, keyset-paged items of a project, and one item with its story.

Paging is by keyset, never by offset: a page asks for the rows after the last one it showed (its sort value and
id), so page 1,000 of a million items costs what page 1 costs, with the `browse_*` indexes of Item.

Model scores (uncertainty, novelty, the suggestion and its confidence) exist only for the head of the current
ranking (a few thousand unlabeled items). That head never changes once written, so it is read once per process
and filtered and sorted in memory; filtering or sorting by a score lists scored items only.
"""

import base64
import binascii
import functools
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery

from annotation.agreement import final_answer
from annotation.models import (
    Annotation,
    AnnotationStatus,
    Item,
    Label,
    Project,
    RankedItem,
    Ranking,
    Review,
    ReviewStatus,
    Skip,
)
from core.errors import InvalidInput
from core.models import User

MAX_PAGE = 200
# Matches are counted up to this many: an exact count of a million rows costs a scan, and counting up to 10,000
# final-label matches took 1.1 s at 1,000,000 items on PostgreSQL (a tenth of that up to 1,000).
COUNT_CAP = 1_000

# sort name -> (field, descending); "id" sorts by the item row, the others by a score of the current ranking.
ROW_SORTS = {"id": ("id", False), "-id": ("id", True), "agreement": ("agreement", False)}
SCORE_SORTS = {
    "rank": ("rank", False),
    "-uncertainty": ("uncertainty", True),
    "-novelty": ("novelty", True),
    "confidence": ("confidence", False),
    "-confidence": ("confidence", True),
}
SORTS = (*ROW_SORTS, *SCORE_SORTS)
SCORES = ("uncertainty", "novelty", "confidence")


@dataclass(frozen=True)
class BrowseFilters:
    """What the browser shows: every field left at None (or "") filters nothing."""

    status: str | None = None  # open | done
    label_id: int | None = None  # the final label (a reviewer's correction, else the strict majority)
    annotator: User | None = None  # has an active answer by this user
    skipped: bool | None = None  # someone skipped it
    reviewed: bool | None = None  # a reviewer accepted or corrected it
    disagreement: bool | None = None  # its annotators disagree (agreement below 1)
    suggested_label_id: int | None = None  # the model's suggestion in the current ranking
    flagged: bool | None = None  # listed as a possible label mistake by the latest ranking
    imported_after: datetime | None = None
    search: str = ""  # part of the item's external id
    # score name -> (min, max), both inclusive, either None
    score_ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    def filters_rows(self) -> bool:
        """Whether a filter reads the item rows (anything but the ranking's scores and suggestion)."""
        row_filters = (self.status, self.label_id, self.annotator, self.skipped, self.reviewed, self.disagreement)
        return any(f is not None for f in (*row_filters, self.flagged, self.imported_after)) or bool(self.search)

    def uses_scores(self) -> bool:
        return self.suggested_label_id is not None or any(
            low is not None or high is not None for low, high in self.score_ranges.values()
        )


@dataclass
class BrowsePage:
    items: list[Item]  # each with `final_label_ids`, `scores`, `suggestion`, `flagged` set
    next_cursor: str | None
    count: int | None  # matches, up to COUNT_CAP; None on later pages (the first page said it)
    count_capped: bool


def item_browse(
    *, project: Project, filters: BrowseFilters, sort: str = "id", cursor: str | None = None, limit: int = 50
) -> BrowsePage:
    """One page of the project's items matching `filters`, in `sort` order, after `cursor` (from the previous
    page's `next_cursor`). A fixed number of queries whatever the page size; the count comes with the first page."""
    if sort not in SORTS:
        raise InvalidInput(f"Unknown sort {sort!r}; use one of: {', '.join(SORTS)}.", field="sort")
    after = _cursor_decode(cursor, sort)
    limit = max(1, min(limit, MAX_PAGE))
    items = _filtered(project, filters)
    head = ranking_head(project)
    if sort in SCORE_SORTS or filters.uses_scores():
        page, more, total = _head_page(project, items, head, filters, sort, after, limit)
        total = total if after is None else None
    else:
        if ROW_SORTS[sort][0] != "id":  # a sort by a value lists the items that have one
            items = items.exclude(**{f"{ROW_SORTS[sort][0]}__isnull": True})
        page, more = _row_page(items, sort, after, limit)
        # Counted on the first page only (the filters' cost twice otherwise); unordered: any 1,001 rows will do.
        total = items.order_by().values("id")[: COUNT_CAP + 1].count() if after is None else None
    _decorate(project, page, head)
    next_cursor = _cursor_encode(sort, page[-1], head) if more and page else None
    if total is None:
        return BrowsePage(page, next_cursor, None, False)
    return BrowsePage(page, next_cursor, min(total, COUNT_CAP), total > COUNT_CAP)


def _filtered(project: Project, f: BrowseFilters) -> QuerySet[Item]:
    items = Item.objects.filter(project=project)
    if f.status:
        items = items.filter(status=f.status)
    if f.reviewed is not None:  # listed as values, not "<> unreviewed": the browse_review index serves both
        done = [ReviewStatus.ACCEPTED, ReviewStatus.CORRECTED] if f.reviewed else [ReviewStatus.UNREVIEWED]
        items = items.filter(review_status__in=done)
    if f.disagreement is not None:
        items = items.filter(agreement__lt=1) if f.disagreement else items.filter(agreement__gte=1)
    if f.imported_after is not None:
        # Also bounded by the first such item's id, so a page walks the id index from there instead of filtering
        # every older row (measured at 1,000,000 items on PostgreSQL: 600 ms -> 30 ms).
        # `id + 0`: a plain MIN(id) lets PostgreSQL walk the whole primary key instead of the browse_created range.
        since = Item.objects.filter(project=project, created_at__gte=f.imported_after)
        first = since.aggregate(first=Min(F("id") + 0))
        items = items.filter(created_at__gte=f.imported_after, id__gte=first["first"] or 0)
        if first["first"] is None:
            items = items.none()
    if f.search:
        items = items.filter(external_id__icontains=f.search)
    if f.annotator is not None:
        answered = Annotation.objects.filter(annotator=f.annotator, status=AnnotationStatus.ACTIVE)
        items = items.filter(id__in=answered.values("item_id"))
    if f.skipped is not None:
        skipped = Exists(Skip.objects.filter(item_id=OuterRef("pk")))
        items = items.filter(skipped if f.skipped else ~skipped)
    if f.flagged is not None:
        flagged = Q(id__in=_flagged_ids(project))
        items = items.filter(flagged if f.flagged else ~flagged)
    if f.label_id is not None:
        items = items.filter(_final_label_is(project, f.label_id))
    return items


def _final_label_is(project: Project, label_id: int) -> Q:
    """Items whose final label is `label_id` (or a label merged into it): corrected to it by their latest
    correction, or, uncorrected, answered with it by a strict majority of their active answers."""
    ids = [label_id, *Label.objects.filter(project=project, merged_into_id=label_id).values_list("id", flat=True)]
    # Per item row, and only for answered rows: a page stops after its first matches instead of grouping every
    # answer of the label up front (1,000,000 items on PostgreSQL: a page's query 1.1 s grouped, 7 ms per row).
    votes = (
        Annotation.labels.through.objects.filter(
            label_id__in=ids, annotation__status=AnnotationStatus.ACTIVE, annotation__item_id=OuterRef("pk")
        )
        .values("annotation__item_id")
        .annotate(n=Count("annotation_id", distinct=True))
        .values("n")
    )
    correct = Review.objects.filter(decision=Review.Decision.CORRECT)
    latest = correct.filter(item_id=OuterRef("review__item_id")).order_by("-id")
    corrections = Review.labels.through.objects.filter(
        label_id__in=ids, review__item__project=project, review_id=Subquery(latest.values("id")[:1])
    )
    by_majority = Q(annotation_count__gt=0) & Q(annotation_count__lt=2 * Subquery(votes))
    corrected = Q(review_status=ReviewStatus.CORRECTED)
    return (corrected & Q(id__in=corrections.values("review__item_id"))) | (~corrected & by_majority)


def _flagged_ids(project: Project) -> QuerySet:
    from active_learning.models import LabelIssue

    return LabelIssue.objects.filter(run_id=Subquery(_latest_issue_run(project))).values("item_id")


def _row_page(items: QuerySet[Item], sort: str, after, limit: int) -> tuple[list[Item], bool]:
    name, descending = ROW_SORTS[sort]
    if after is not None:
        value, last_id = after
        op = "lt" if descending else "gt"
        if name == "id":
            items = items.filter(**{f"id__{op}": last_id})
        else:
            items = items.filter(Q(**{f"{name}__{op}": value}) | Q(**{name: value, f"id__{op}": last_id}))
    order = [f"-{name}", "-id"] if descending else [name, "id"]
    page = list(items.order_by(*dict.fromkeys(order))[: limit + 1])
    return page[:limit], len(page) > limit


def _head_page(project: Project, items: QuerySet[Item], head: dict, filters: BrowseFilters, sort: str, after, limit):
    """A page among the scored items: the row filters run in SQL over the head (one query, no list of ids sent),
    the score filters, the order and the cursor in memory. Returns (items, more, count)."""
    scored = _scored_ids(head, filters)
    if filters.filters_rows():  # a ranking's items are its project's: without row filters, no query is needed
        in_head = RankedItem.objects.filter(ranking_id=project.current_ranking_id).values("item_id")
        passing = set(items.filter(id__in=in_head).order_by().values_list("id", flat=True))
        scored = [i for i in scored if i in passing]
    name, descending = SCORE_SORTS.get(sort) or ROW_SORTS[sort]
    if name == "agreement":  # scored items are unanswered: none has an agreement to sort by
        scored = []
    sign = -1 if descending else 1
    keyed = sorted(
        (sign * (i if name == "id" else head[i][name]), i) for i in scored if name == "id" or head[i][name] is not None
    )
    if after is not None:
        start = (sign * after[0], after[1])
        keyed = [key for key in keyed if key > start]
    page_ids = [i for _, i in keyed[:limit]]
    found = Item.objects.in_bulk(page_ids)
    return [found[i] for i in page_ids if i in found], len(keyed) > limit, len(scored)


# --- the current ranking's head, in memory ---------------------------------------------------------------------


def ranking_head(project: Project) -> dict[int, dict]:
    """item id -> {rank, uncertainty, novelty, confidence, suggestion, reason} for the current ranking's head."""
    if project.current_ranking_id is None:
        return {}
    created = Ranking.objects.filter(id=project.current_ranking_id).values_list("created_at", flat=True).first()
    return _head(project.current_ranking_id, created) if created else {}


@functools.lru_cache(maxsize=8)
def _head(ranking_id: int, created_at) -> dict[int, dict]:
    """A ranking's rows never change once written; `created_at` guards against a reused id."""
    head = {}
    rows = RankedItem.objects.filter(ranking_id=ranking_id).values_list("item_id", "rank", "insight")
    for item_id, rank, insight in rows.iterator(chunk_size=5000):
        insight = insight or {}
        scores = insight.get("scores") or {}
        suggestion = insight.get("suggestion") or {}
        head[item_id] = {
            "rank": rank,
            "uncertainty": scores.get("uncertainty"),
            "novelty": scores.get("novelty"),
            "typicality": scores.get("typicality"),
            "confidence": suggestion.get("confidence"),
            "suggestion": suggestion.get("label_ids") or [],
            "reason": insight.get("reason", ""),
            "picked_by": insight.get("picked_by", ""),
        }
    return head


def _scored_ids(head: dict[int, dict], f: BrowseFilters) -> list[int]:
    def keep(row: dict) -> bool:
        if f.suggested_label_id is not None and f.suggested_label_id not in row["suggestion"]:
            return False
        for name, (low, high) in f.score_ranges.items():
            value = row.get(name)
            if (low is not None or high is not None) and value is None:
                return False
            if (low is not None and value < low) or (high is not None and value > high):
                return False
        return True

    return [item_id for item_id, row in head.items() if keep(row)]


# --- page decoration: final labels, scores, flags (3 queries for any page size) --------------------------------


def _decorate(project: Project, items: list[Item], head: dict[int, dict]) -> None:
    ids = [item.id for item in items]
    finals = final_labels_of(project, ids)
    flagged = set(_flagged_ids(project).filter(item_id__in=ids).values_list("item_id", flat=True)) if ids else set()
    for item in items:
        item.final_label_ids = finals.get(item.id, [])
        item.head = head.get(item.id)
        item.flagged = item.id in flagged


def final_labels_of(project: Project, item_ids: list[int]) -> dict[int, list[int]]:
    """item id -> final label ids (the latest correction, else the strict majority of active answers), with
    merged labels shown as the label they were merged into. Two queries."""
    if not item_ids:
        return {}
    merged = dict(Label.objects.filter(project=project, merged_into__isnull=False).values_list("id", "merged_into"))
    answers: dict[int, dict[int, list[int]]] = {}
    rows = Annotation.labels.through.objects.filter(
        annotation__item_id__in=item_ids, annotation__status=AnnotationStatus.ACTIVE
    ).values_list("annotation__item_id", "annotation_id", "label_id")
    for item_id, annotation_id, label_id in rows:
        answers.setdefault(item_id, {}).setdefault(annotation_id, []).append(label_id)
    corrections: dict[int, tuple[int, list[int]]] = {}
    corrected = Review.objects.filter(item_id__in=item_ids, decision=Review.Decision.CORRECT)
    for item_id, review_id, label_id in corrected.values_list("item_id", "id", "labels__id").order_by("id"):
        if item_id not in corrections or corrections[item_id][0] != review_id:
            corrections[item_id] = (review_id, [])  # a later correction replaces an earlier one
        if label_id is not None:
            corrections[item_id][1].append(label_id)
    out = {}
    for item_id in item_ids:
        correction = corrections.get(item_id)
        answer = final_answer(
            [sorted(labels) for labels in answers.get(item_id, {}).values()], correction[1] if correction else None
        )
        if answer:
            out[item_id] = sorted({merged.get(label_id, label_id) for label_id in answer})
    return out


# --- cursors ---------------------------------------------------------------------------------------------------


def _cursor_encode(sort: str, last: Item, head: dict[int, dict]) -> str:
    value = head[last.id][SCORE_SORTS[sort][0]] if sort in SCORE_SORTS else getattr(last, ROW_SORTS[sort][0])
    raw = json.dumps([sort, value, last.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str | None, sort: str):
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, last_id = json.loads(raw)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("This cursor is not one the item browser gave out.", field="cursor") from exc
    if cursor_sort != sort:
        raise InvalidInput(
            "This cursor belongs to another sort order; start again from the first page.", field="cursor"
        )
    if not isinstance(last_id, int) or not (value is None or isinstance(value, int | float)):
        raise InvalidInput("This cursor is not one the item browser gave out.", field="cursor")
    return value, last_id


# --- one item ------------------------------------------------------------------------------------------------


def item_story(*, project: Project, item_id: int) -> dict:
    """What the item page shows beside the item: its final label, the model's view from the current ranking,
    whether the latest ranking flagged it (and why), and whether anyone skipped it."""
    from active_learning.models import LabelIssue

    head = ranking_head(project)
    issue = (
        LabelIssue.objects.filter(item_id=item_id, run_id=Subquery(_latest_issue_run(project)))
        .values("given_label_ids", "suggested_label_id", "confidence", "quality")
        .first()
    )
    skips = Skip.objects.filter(item_id=item_id).count()
    return {
        "final_label_ids": final_labels_of(project, [item_id]).get(item_id, []),
        "model": head.get(item_id),
        "label_issue": issue,
        "skips": skips,
    }


def _latest_issue_run(project: Project):
    """The latest rank run that listed label issues (written by active learning, read here as item lists)."""
    from active_learning.models import LabelIssue

    return LabelIssue.objects.filter(run__project=project).order_by("-run_id").values("run_id")[:1]
