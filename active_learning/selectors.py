"""Reads behind active learning's API and pages."""

from datetime import timedelta

import numpy as np
from django.db import connection
from django.db.models import Max, Prefetch
from django.utils import timezone

from active_learning import artifacts, schemas
from active_learning.models import DriftAlert, LabelIssue, LearningRun, ModelVersion, StrategySetting
from annotation.agreement import final_answer
from annotation.models import Annotation, Item, JobStatus, Label, Lease, Project, Review, ReviewStatus
from annotation.selectors import project_ratings
from core.db import fetch_one, json_int
from core.selectors import live_workers

MAP_POINTS = 5000  # at most this many points on the 2-D map


def strategy_current(project: Project) -> tuple[StrategySetting | None, schemas.StrategySpec]:
    """The setting in force (None before any was saved) and its spec (the defaults when None)."""
    setting = StrategySetting.objects.filter(project=project).order_by("-version").first()
    spec = schemas.StrategySpec.model_validate(setting.spec) if setting else schemas.StrategySpec()
    return setting, spec


# The after-submit check (is a new ranking due?) runs on every submit, so its reads are plain SQL.
RUN, SETTING = LearningRun._meta.db_table, StrategySetting._meta.db_table
ANSWER, ITEM, PROJECT = Annotation._meta.db_table, Item._meta.db_table, Project._meta.db_table


def last_ranking_state(project_id: int, *, recent_since) -> tuple[str, bool, int] | None:
    """(status, created after `recent_since`, answers it saw) of the project's latest ranking that did not
    fail; None before the first."""
    row = fetch_one(
        f"SELECT status, created_at > %s, {json_int('result', 'annotations_seen')} FROM {RUN} "
        "WHERE project_id = %s AND kind = %s AND status <> %s ORDER BY id DESC LIMIT 1",
        [connection.ops.adapt_datetimefield_value(recent_since), project_id, LearningRun.Kind.RANK, JobStatus.FAILED],
    )
    return None if row is None else (row[0], bool(row[1]), row[2] or 0)


def has_embedding(project_id: int) -> bool:
    """Whether an embedding run of the project has finished (so a ranking can be made)."""
    found = fetch_one(
        f"SELECT 1 FROM {RUN} WHERE project_id = %s AND kind = %s AND status = %s LIMIT 1",
        [project_id, LearningRun.Kind.EMBED, JobStatus.DONE],
    )
    return found is not None


def answers_since(project_id: int, *, seen: int) -> tuple[int, int, schemas.StrategySpec]:
    """(answers in the project with an id above `seen`, its overlap, its strategy spec in force)."""
    new, overlap, spec = fetch_one(
        f"SELECT (SELECT COUNT(*) FROM {ANSWER} a JOIN {ITEM} i ON i.id = a.item_id "
        "WHERE i.project_id = p.id AND a.id > %s), p.overlap, "
        f"(SELECT s.spec FROM {SETTING} s WHERE s.project_id = p.id ORDER BY s.version DESC LIMIT 1) "
        f"FROM {PROJECT} p WHERE p.id = %s",
        [seen, project_id],
    )
    if spec is None:
        return new, overlap, schemas.StrategySpec()
    if isinstance(spec, str):
        return new, overlap, schemas.StrategySpec.model_validate_json(spec)
    return new, overlap, schemas.StrategySpec.model_validate(spec)


def labeled_count(project_id: int) -> int:
    """Items with at least one active annotation: the labels the budget counts."""
    return Item.objects.filter(project_id=project_id, annotation_count__gt=0).count()


def final_labels(project: Project) -> dict[int, list[int]]:
    """item id -> its final label ids (reviewer's correction, else strict majority), merged labels mapped to the
    label they were merged into, retired ones dropped; items without a final answer are absent."""
    labels = {row["id"]: row for row in Label.objects.filter(project=project).values("id", "merged_into", "retired_at")}

    def current(label_id: int) -> int | None:
        seen = set()
        while labels[label_id]["merged_into"] and label_id not in seen:
            seen.add(label_id)
            label_id = labels[label_id]["merged_into"]
        return None if labels[label_id]["retired_at"] else label_id

    corrections: dict[int, list[int]] = {}
    latest: dict[int, int] = {}
    corrected = Review.objects.filter(
        item__project=project, item__review_status=ReviewStatus.CORRECTED, decision=Review.Decision.CORRECT
    ).order_by("id")
    for item_id, review_id, label_id in corrected.values_list("item_id", "id", "labels__id"):
        if latest.get(item_id) != review_id:  # an item corrected again: the latest correction counts
            latest[item_id], corrections[item_id] = review_id, []
        corrections[item_id].extend([label_id] if label_id else [])
    out: dict[int, list[int]] = {}
    for item_id, by_user in project_ratings(project=project).items():
        answer = final_answer(list(by_user.values()), corrections.get(item_id))
        if answer is None:
            continue
        mapped = sorted({m for m in (current(label_id) for label_id in answer) if m is not None})
        if mapped:
            out[item_id] = mapped
    return out


def _run_fields(run: LearningRun | None) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "reason": run.reason,
        "progress": run.progress,
        "message": run.message,
        "n_items": run.n_items,
        "n_labels": run.n_labels,
        "failure": run.failure,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    }


def _latest(project: Project, kind: str, *statuses) -> LearningRun | None:
    runs = LearningRun.objects.filter(project=project, kind=kind)
    if statuses:
        runs = runs.filter(status__in=statuses)
    return runs.order_by("-id").first()


def learning_status(*, project: Project) -> dict:
    """What the project's model is doing, whether the queue's ranking is current, and the budget."""
    setting, spec = strategy_current(project)
    labeled = labeled_count(project.id)
    embed = _latest(project, LearningRun.Kind.EMBED)
    rank = _latest(project, LearningRun.Kind.RANK)
    ranked = _latest(project, LearningRun.Kind.RANK, JobStatus.DONE)
    version = ModelVersion.objects.filter(project=project).order_by("-version").first()
    workers = live_workers().exists()
    since = labeled - (ranked.n_labels if ranked else 0)
    stale_reason = ""
    if ranked is None:
        stale_reason = "No ranking yet: the queue is in import order."
    if not workers:
        stale_reason = "No worker is running: the queue keeps the last ranking and the model is not updated."
    elif rank and rank.status == JobStatus.FAILED:
        stale_reason = f"The last ranking failed: {rank.failure}"
    elif (
        ranked is not None
        and since >= spec.batch_size
        and not (rank and rank.status in (JobStatus.QUEUED, JobStatus.RUNNING))
    ):
        stale_reason = f"{since} labels are newer than the ranking and no ranking is on its way."
    pending = (
        rank is not None
        and rank.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        and rank.created_at < (timezone.now() - timedelta(minutes=2))
    )
    if pending and not stale_reason:
        stale_reason = "A ranking has been waiting for over two minutes."
    if not stale_reason and rank is not None and rank.is_orphaned:
        stale_reason = "The worker running the ranking stopped; another worker takes the ranking over shortly."
    report = schemas.rank_result(ranked.result) if ranked else None
    curve = list(
        ModelVersion.objects.filter(project=project).order_by("version").values_list("n_labels", "cv_accuracy")
    )
    projected = None
    if spec.budget and curve:
        # scipy and scikit-learn: imported only when there is a curve
        from active_learning.core.evaluation import projected_range

        projected = projected_range(
            [n for n, _ in curve], [float("nan") if a is None else a for _, a in curve], spec.budget
        )
    return {
        "strategy": {"version": setting.version if setting else 0, **spec.model_dump(mode="json")},
        "budget": {
            "total": spec.budget,
            "used": labeled,
            "left": None if spec.budget is None else max(spec.budget - labeled, 0),
            "projected_accuracy": None if projected is None else projected[1],
            # (low, high): where the curve refitted without each point lands, widened by its residual spread;
            # never below the accuracy measured last
            "projected_accuracy_range": None if projected is None else [projected[0], projected[2]],
        },
        "stale": bool(stale_reason),
        "stale_reason": stale_reason,
        "labels_since_ranking": since,
        "workers_alive": workers,
        "model_version": _version_fields(version),
        "stopping_rule_met": bool(report and report.stopping_rule_met),
        "ranking_phase": report.phase if report else None,
        "latest_embedding": _run_fields(embed),
        "latest_ranking": _run_fields(rank),
    }


def _version_fields(version: ModelVersion | None) -> dict | None:
    if version is None:
        return None
    return {
        "version": version.version,
        "n_labels": version.n_labels,
        "classifier": version.classifier,
        "cv_accuracy": version.cv_accuracy,
        "cv_macro_f1": version.cv_macro_f1,
        "cv_folds": version.cv_folds,
        "per_class": version.per_class,
        "created_at": version.created_at,
    }


def model_versions(*, project: Project) -> list[dict]:
    return [_version_fields(v) for v in ModelVersion.objects.filter(project=project).order_by("version")]


def learning_runs(*, project: Project, kind: str | None = None):
    runs = LearningRun.objects.filter(project=project).select_related("created_by")
    return runs.filter(kind=kind) if kind else runs


# A label is flagged as a possible mistake only when the model, out of fold, gives another label at least this
# probability: below it, "the model disagrees" was mostly noise (5 of 6 flagged digits at 31-35% were right).
LABEL_ISSUE_MIN_CONFIDENCE = 0.6


def label_issue_list(*, project: Project):
    """Label issues found by the latest rank run that looked for them, worst first, with the item."""
    latest = LabelIssue.objects.filter(run__project=project).aggregate(run=Max("run_id"))["run"]
    items = Prefetch("item", queryset=Item.objects.with_ranking())
    return LabelIssue.objects.filter(run_id=latest).prefetch_related(items).order_by("rank")


def novel_items(*, project: Project, limit: int = 100):
    """The most novel unlabeled items of the latest ranking, most novel first."""
    ranked = _latest(project, LearningRun.Kind.RANK, JobStatus.DONE)
    report = schemas.rank_result(ranked.result) if ranked else None
    ids = report.novel_item_ids[:limit] if report else []
    items = {item.id: item for item in Item.objects.with_ranking().filter(id__in=ids, annotation_count=0)}
    return [items[i] for i in ids if i in items]


def embedding_map(*, project: Project) -> dict:
    """The latest embedding's 2-D map: up to MAP_POINTS points (queued, novel and labeled ones always kept),
    each with its state: labeled, queued (the current batch or leased now), novel, or unlabeled."""
    run = _latest(project, LearningRun.Kind.EMBED, JobStatus.DONE)
    if run is None:
        return {"run": None, "projection": None, "points": [], "total": 0}
    arrays = artifacts.load(run.artifact)
    ids, coords = arrays["item_ids"], arrays["map"]
    if run.result.get("map_artifact"):  # the UMAP map, drawn after the embedding
        coords = artifacts.load(run.result["map_artifact"])["map"]
    ranked = _latest(project, LearningRun.Kind.RANK, JobStatus.DONE)
    report = schemas.rank_result(ranked.result) if ranked else None
    batch = set(report.batch_item_ids) if report else set()
    novel = set(report.novel_item_ids[:50]) if report else set()
    leased = set(
        Lease.objects.filter(item__project=project, expires_at__gt=timezone.now()).values_list("item_id", flat=True)
    )
    labeled = set(Item.objects.filter(project=project, annotation_count__gt=0).values_list("id", flat=True))
    state = np.array(
        [
            "labeled"
            if i in labeled
            else "queued"
            if (i in batch or i in leased)
            else "novel"
            if i in novel
            else "unlabeled"
            for i in ids.tolist()
        ]
    )
    keep = np.flatnonzero(state != "unlabeled")
    rest = np.flatnonzero(state == "unlabeled")
    room = max(MAP_POINTS - keep.size, 0)
    if rest.size > room:
        rest = np.sort(np.random.default_rng(run.id).choice(rest, room, replace=False))
    chosen = np.concatenate([keep, rest])[:MAP_POINTS]
    return {
        "run": run.id,
        "projection": run.result.get("map", "pca"),  # maps drawn before UMAP came in are PCA
        "total": len(ids),
        "points": [
            {
                "item_id": int(ids[i]),
                "x": round(float(coords[i, 0]), 4),
                "y": round(float(coords[i, 1]), 4),
                "state": str(state[i]),
            }
            for i in chosen
        ],
    }


def drift_alerts(*, project: Project, limit: int = 20) -> list[dict]:
    """The project's drift alerts, newest first, with their most novel items (id, external id, labeled or not)."""
    alerts = list(DriftAlert.objects.filter(project=project).order_by("-id")[:limit])
    item_ids = {i for alert in alerts for i in alert.novel_item_ids}
    items = {row["id"]: row for row in Item.objects.filter(id__in=item_ids).values("id", "external_id", "status")}
    return [
        {
            "id": alert.id,
            "created_at": alert.created_at,
            "open": alert.covered_at is None,
            "covered_at": alert.covered_at,
            "n_new": alert.n_new,
            "n_reference": alert.n_reference,
            "statistic": alert.statistic,
            "threshold": alert.threshold,
            "p_value": alert.p_value,
            "alpha": alert.alpha,
            "needed": alert.needed,
            "region": alert.region,
            "novel_items": [items[i] for i in alert.novel_item_ids if i in items],
        }
        for alert in alerts
    ]
