"""The queue's hot path in plain SQL: next item and submit run several times a second per annotator, and the
ORM spent ~90% of their time building queries (profiled: 10 ms a loop, of which the database took 1 ms).

Each function is one statement, valid on SQLite and PostgreSQL. The rules they serve are documented in
`annotation.labeling`, which calls them inside its write transactions. Datetimes go through the backend's
adapter, so SQLite compares them in the same text form the ORM stores.
"""

import json
from datetime import datetime

from django.db import connection

from annotation.models import (
    RAISED_PRIORITY,
    Annotation,
    AnnotationStatus,
    Draft,
    ExternalPrediction,
    Item,
    ItemEvent,
    ItemStatus,
    Lease,
    Project,
    QueueOrder,
    RankedItem,
    Skip,
)
from annotation.schemas import ItemInsight
from core.db import fetch_one, in_list, model_columns, model_from_row

ITEM, LEASE, ANNOTATION = Item._meta.db_table, Lease._meta.db_table, Annotation._meta.db_table
PROJECT, RANKED = Project._meta.db_table, RankedItem._meta.db_table
ANSWER_LABELS = Annotation.labels.through._meta.db_table
SKIP, DRAFT, EVENT = Skip._meta.db_table, Draft._meta.db_table, ItemEvent._meta.db_table
PREDICTION = ExternalPrediction._meta.db_table
ORDERINGS = {
    "priority": "i.annotation_count DESC, i.priority DESC, i.id",
    "import": "i.annotation_count DESC, i.id",
    "random": "i.annotation_count DESC, i.random_key",
}


def _t(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _json_param() -> str:
    return "%s::jsonb" if connection.vendor == "postgresql" else "%s"


def _run(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def held_item_id(*, project_id: int, user_id: int, now: datetime) -> int | None:
    """The open item of this project that the user holds a live lease on and has not answered yet."""
    row = fetch_one(
        f"SELECT l.item_id FROM {LEASE} l JOIN {ITEM} i ON i.id = l.item_id "
        f"WHERE l.user_id = %s AND l.expires_at > %s AND i.project_id = %s AND i.status = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {ANNOTATION} a WHERE a.item_id = l.item_id AND a.annotator_id = %s "
        f"AND a.status = %s) ORDER BY l.created_at DESC LIMIT 1",
        [user_id, _t(now), project_id, ItemStatus.OPEN, user_id, AnnotationStatus.ACTIVE],
    )
    return row[0] if row else None


def held_item_ids(*, project_id: int, user_id: int, now: datetime, order: str, limit: int) -> list[int]:
    """Every open item of this project the user holds a live lease on and has not answered, in queue order."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.item_id FROM {LEASE} l JOIN {ITEM} i ON i.id = l.item_id "
            f"WHERE l.user_id = %s AND l.expires_at > %s AND i.project_id = %s AND i.status = %s "
            f"AND NOT EXISTS (SELECT 1 FROM {ANNOTATION} a WHERE a.item_id = l.item_id AND a.annotator_id = %s "
            f"AND a.status = %s) ORDER BY {ORDERINGS[order]} LIMIT %s",
            [user_id, _t(now), project_id, ItemStatus.OPEN, user_id, AnnotationStatus.ACTIVE, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def candidate_id(
    *, project_id: int, user_id: int, overlap: int, order: str, now: datetime, exclude: list[int]
) -> int | None:
    """The first open item in queue order that the user has neither answered nor skipped and that has a free
    slot once other people's live leases count. On PostgreSQL the row is locked, skipping rows others hold.

    Before everything come the items a reviewer rejected this user's answer on. Then, in priority order: items
    others have started (overlap > 1), then items a manager raised (in every order), then the head of the
    project's current ranking, then every other open item by its stored priority. Rankings live in their own
    rows, so the only item rows ever locked are the few other annotators hold for a moment: an open item is
    always found."""
    free = (
        f"i.status = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {ANNOTATION} a WHERE a.item_id = i.id AND a.annotator_id = %s "
        f"AND a.status = %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {SKIP} s WHERE s.item_id = i.id AND s.user_id = %s) "
        f"AND i.annotation_count + (SELECT COUNT(*) FROM {LEASE} l WHERE l.item_id = i.id AND l.user_id <> %s "
        f"AND l.expires_at > %s) < %s " + (f"AND i.id NOT IN ({', '.join(['%s'] * len(exclude))}) " if exclude else "")
    )
    params = [ItemStatus.OPEN, user_id, AnnotationStatus.ACTIVE, user_id, user_id, _t(now), overlap, *exclude]
    lock = " FOR UPDATE OF i SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    # An item a reviewer sent back comes to its annotators before anything else, whatever the queue order.
    scans = [
        (
            f"FROM {ANNOTATION} back JOIN {ITEM} i ON i.id = back.item_id "
            f"WHERE back.annotator_id = %s AND back.status = %s AND i.project_id = %s AND {free}",
            "back.id",
            [user_id, AnnotationStatus.REJECTED, project_id],
        )
    ]
    if order == QueueOrder.PRIORITY and overlap > 1:
        scans.append(
            (
                f"FROM {ITEM} i WHERE i.project_id = %s AND i.annotation_count > 0 AND {free}",
                ORDERINGS[order],
                [project_id],
            )
        )
    # Items a manager raised come before any order's own: the partial index queue_raised makes this scan free
    # while none are raised.
    raised = f"FROM {ITEM} i WHERE i.project_id = %s AND i.priority >= {RAISED_PRIORITY!r} AND {free}"
    scans.append((raised, "i.priority DESC, i.id", [project_id]))
    if order == QueueOrder.PRIORITY:
        # The current ranking's id as a scalar subquery, not a join: the planner then walks the (ranking, rank)
        # index and stops at the first free item (0.3 ms), where a join sorted the whole head (33 ms, measured).
        scans.append(
            (
                f"FROM {RANKED} r JOIN {ITEM} i ON i.id = r.item_id "
                f"WHERE r.ranking_id = (SELECT current_ranking_id FROM {PROJECT} WHERE id = %s) AND {free}",
                "r.rank",
                [project_id],
            )
        )
    scans.append((f"FROM {ITEM} i WHERE i.project_id = %s AND {free}", ORDERINGS[order], [project_id]))
    for source, ordering, leading in scans:
        row = fetch_one(f"SELECT i.id {source}ORDER BY {ordering} LIMIT 1{lock}", [*leading, *params])
        if row is not None:
            return row[0]
    return None


def has_room(*, item_id: int, user_id: int, overlap: int, now: datetime) -> bool:
    row = fetch_one(
        f"SELECT i.annotation_count + (SELECT COUNT(*) FROM {LEASE} l WHERE l.item_id = i.id "
        f"AND l.user_id <> %s AND l.expires_at > %s) FROM {ITEM} i WHERE i.id = %s AND i.status = %s",
        [user_id, _t(now), item_id, ItemStatus.OPEN],
    )
    return row is not None and row[0] < overlap


def lease_upsert(*, item_id: int, user_id: int, now: datetime, expires_at: datetime) -> None:
    _run(
        f"INSERT INTO {LEASE} (item_id, user_id, created_at, expires_at) VALUES (%s, %s, %s, %s) "
        f"ON CONFLICT (item_id, user_id) DO UPDATE SET expires_at = excluded.expires_at",
        [item_id, user_id, _t(now), _t(expires_at)],
    )


def lease_extend(*, item_id: int, user_id: int, now: datetime, expires_at: datetime) -> bool:
    """Extend a lease that is still live; False if it lapsed (the item may be someone else's by now)."""
    return bool(
        _run(
            f"UPDATE {LEASE} SET expires_at = %s WHERE item_id = %s AND user_id = %s AND expires_at > %s",
            [_t(expires_at), item_id, user_id, _t(now)],
        )
    )


def items_with_ranking(item_ids: list[int]) -> dict[int, Item]:
    """The items by id, with `insight` and `ranked_priority` from their project's current ranking (None outside
    its head), as `Item.objects.with_ranking()` gives them."""
    if not item_ids:
        return {}
    test, params = in_list(item_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Item, 'i')}, r.insight, r.priority FROM {ITEM} i "
            f"JOIN {PROJECT} p ON p.id = i.project_id "
            f"LEFT JOIN {RANKED} r ON r.ranking_id = p.current_ranking_id AND r.item_id = i.id WHERE i.id {test}",
            params,
        )
        rows = cursor.fetchall()
    items = {}
    for *values, insight, ranked_priority in rows:
        item = model_from_row(Item, values)
        item.insight = json.loads(insight) if isinstance(insight, str) else insight
        item.ranked_priority = ranked_priority
        items[item.id] = item
    return items


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def queue_extras(*, user_id: int, item_ids: list[int]) -> tuple[dict[int, dict], set[int], dict[int, list[dict]]]:
    """What comes with items handed to `user_id`, in one statement: their drafts by item, the items on which a
    reviewer sent this user's answer back, and the imported predictions by item ({source, label_ids, score},
    by source)."""
    test, params = in_list(item_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 'draft', item_id, payload, NULL, CAST(NULL AS DOUBLE PRECISION) FROM {DRAFT} "
            f"WHERE user_id = %s AND item_id {test} "
            f"UNION ALL SELECT 'rejected', item_id, NULL, NULL, NULL FROM {ANNOTATION} "
            f"WHERE annotator_id = %s AND status = %s AND item_id {test} "
            f"UNION ALL SELECT 'prediction', item_id, label_ids, source, score FROM {PREDICTION} WHERE item_id {test} "
            "ORDER BY 4",  # predictions by source, in the database's collation as everywhere else
            [user_id, *params, user_id, AnnotationStatus.REJECTED, *params, *params],
        )
        rows = cursor.fetchall()
    drafts: dict[int, dict] = {}
    rejected: set[int] = set()
    predictions: dict[int, list[dict]] = {}
    for kind, item_id, value, source, score in rows:
        if kind == "draft":
            drafts[item_id] = _json(value)
        elif kind == "rejected":
            rejected.add(item_id)
        else:
            predictions.setdefault(item_id, []).append({"source": source, "label_ids": _json(value), "score": score})
    return drafts, rejected, predictions


def item_lock(*, project_id: int, item_id: int) -> tuple[str, int, list[int] | None] | None:
    """(status, annotation_count, suggested label ids) of the item, row-locked on PostgreSQL. The suggestion is
    the current ranking's."""
    lock = " FOR UPDATE OF i" if connection.features.has_select_for_update else ""
    row = fetch_one(
        f"SELECT i.status, i.annotation_count, r.insight FROM {ITEM} i JOIN {PROJECT} p ON p.id = i.project_id "
        f"LEFT JOIN {RANKED} r ON r.ranking_id = p.current_ranking_id AND r.item_id = i.id "
        f"WHERE i.id = %s AND i.project_id = %s{lock}",
        [item_id, project_id],
    )
    if row is None:
        return None
    if row[2] is None:
        return row[0], row[1], None
    insight = ItemInsight.model_validate_json(row[2]) if isinstance(row[2], str) else ItemInsight.model_validate(row[2])
    return row[0], row[1], insight.suggestion.label_ids if insight.suggestion else None


def previous_answers(*, user_id: int, item_id: int, client_key: str) -> list[tuple[int, int, str]]:
    """(id, item_id, client_key) of the user's active answer on this item and of any answer with this key."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, item_id, client_key FROM {ANNOTATION} WHERE annotator_id = %s "
            f"AND ((item_id = %s AND status = %s) OR (client_key = %s AND client_key <> ''))",
            [user_id, item_id, AnnotationStatus.ACTIVE, client_key],
        )
        return cursor.fetchall()


def lease_holders(*, item_id: int, now: datetime) -> dict[int, bool]:
    """user id -> whether that user's lease on the item is still live."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT user_id, expires_at > %s FROM {LEASE} WHERE item_id = %s", [_t(now), item_id])
        return {user_id: bool(live) for user_id, live in cursor.fetchall()}


def annotation_insert(
    *,
    item_id: int,
    user_id: int,
    schema_version: int,
    client_key: str,
    time_spent_ms: int | None,
    label_ids: list[int],
    suggested_label_ids: list[int] | None,
    accepted_suggestion: bool,
    now: datetime,
) -> int:
    row = fetch_one(
        f"INSERT INTO {ANNOTATION} (item_id, annotator_id, schema_version, status, client_key, time_spent_ms, "
        f"suggested_label_ids, accepted_suggestion, created_at, updated_at) "
        f"VALUES (%s, %s, %s, %s, %s, %s, {_json_param()}, %s, %s, %s) RETURNING id",
        [
            item_id,
            user_id,
            schema_version,
            AnnotationStatus.ACTIVE,
            client_key,
            time_spent_ms,
            None if suggested_label_ids is None else json.dumps(suggested_label_ids),
            accepted_suggestion,
            _t(now),
            _t(now),
        ],
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {ANSWER_LABELS} (annotation_id, label_id) VALUES (%s, %s)",
            [(row[0], label_id) for label_id in label_ids],
        )
    return row[0]


def item_counts_set(*, item_id: int, count: int, status: str, agreement: float | None) -> None:
    _run(
        f"UPDATE {ITEM} SET annotation_count = %s, status = %s, agreement = %s WHERE id = %s",
        [count, status, agreement, item_id],
    )


def after_submit_cleanup(*, item_id: int, user_id: int, holds_lease: bool) -> None:
    if holds_lease:
        _run(f"DELETE FROM {LEASE} WHERE item_id = %s AND user_id = %s", [item_id, user_id])
    _run(f"DELETE FROM {DRAFT} WHERE item_id = %s AND user_id = %s", [item_id, user_id])


def event_insert(
    *, item_id: int, actor_id: int, kind: str, annotation_id: int | None, label_ids: list[int], now: datetime
) -> None:
    _run(
        f"INSERT INTO {EVENT} (item_id, actor_id, kind, annotation_id, label_ids, comment, created_at) "
        f"VALUES (%s, %s, %s, %s, {_json_param()}, '', %s)",
        [item_id, actor_id, kind, annotation_id, json.dumps(label_ids), _t(now)],
    )
