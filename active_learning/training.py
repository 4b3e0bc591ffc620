"""Learning runs, executed by workers: embed (autoencoder), rank (classifier + strategy -> the queue's order),
simulate (replay strategies on the labeled items).

Each run is claimed like every background job (core.jobs): a conditional UPDATE takes it, every write is fenced
by the attempt number, a heartbeat beats while it works, a dead worker's run is taken over once its lease lapses,
and one that keeps dying stops after MAX_ATTEMPTS. Outputs are keyed by run and attempt, so a repeated delivery
changes nothing.

A rank run writes the head of its order as a new annotation.models.Ranking beside the one being served, then
makes it current with the model version and the label issues in one small transaction: the queue serves the
previous ranking or the new one, never a mix, and no item row is locked while a ranking is written.
"""

import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.core.files.storage import default_storage
from django.db.models import Max, Min
from django.utils import timezone
from PIL import Image

from active_learning import artifacts, bundle, schemas
from active_learning import core as engine_package
from active_learning.advice import explanation, pool_percentiles
from active_learning.core.autoencoders import AutoencoderCollapsedError
from active_learning.core.budget import cohen_kappa
from active_learning.core.classifiers import ProbabilisticClassifier, default_classifier
from active_learning.core.evaluation import cross_validated_metrics, label_issues
from active_learning.core.features import pool_standardized
from active_learning.core.ranking import (
    DRIFT_REASON,
    disagreement_scores,
    rank_pool,
    strategy_from_spec,
    suggestions,
    with_disagreement_picks,
    with_picks,
)
from active_learning.core.scores import nearest_labeled_distances, novelty_scores
from active_learning.core.selector import ActiveSelector
from active_learning.core.simulation import simulate
from active_learning.core.strategies import top_k
from active_learning.drift import mmd_permutation_test
from active_learning.models import DriftAlert, LabelIssue, LearningRun, ModelVersion
from active_learning.projection import map_coordinates
from active_learning.selectors import LABEL_ISSUE_MIN_CONFIDENCE, final_labels, strategy_current
from active_learning.services import latest_embedding, ranking_request, ranking_request_if_due
from annotation.models import (
    Annotation,
    DataKind,
    ExternalPrediction,
    Item,
    Label,
    Project,
    RankedItem,
    Ranking,
    TaskType,
)
from annotation.schemas import ItemInsight, Suggestion
from core.db import bulk_insert, write_transaction
from core.jobs import JobFailed, JobRun, Superseded, job_running
from core.models import JobStatus
from integrations.services import event_emit

logger = logging.getLogger(__name__)
IMAGE_SIZE = 32  # side the autoencoder sees
NOVEL_KEPT = 200  # novel items listed per ranking
RANKING_HEAD = 5_000  # queued items a ranking writes (with their insight); the queue serves beyond them by id
DRIFT_MIN_NEW = 10  # fewer new items than this: no drift test
DRIFT_MIN_REFERENCE = 20
DRIFT_NOVEL_KEPT = 50  # new items an alert lists, most novel first
DRIFT_COVERED_SHARE = 0.2  # an alert is covered once this share of its listed items is labeled
DRIFT_SHARE = 0.5  # of each batch, for an open alert's items: exploration of the new data
WRITE_CHUNK = 1_000  # ranking rows per write transaction: each holds SQLite's write lock for milliseconds


def ranking_classifier(random_state: int) -> ProbabilisticClassifier:
    """The model behind rankings and suggestions: the engine's default, as the library and the simulator use it."""
    return default_classifier(random_state)


@contextmanager
def _run(run_id: int, kind: str):
    """Claim the run and yield (run, job) — `job` (core.jobs.JobRun) beats and finishes it, fenced by the
    attempt; failures are recorded. A task for another kind of run (a stray message) claims nothing."""
    if not LearningRun.objects.filter(id=run_id, kind=kind).exists():
        yield None, None
        return
    with job_running(LearningRun, run_id) as job:
        if job is None:
            yield None, None  # done, failed, or alive on another worker
            return
        job.beat(progress=0.0, message="Starting")
        yield LearningRun.objects.select_related("project", "embedding", "setting").get(id=run_id), job


def _finish(job: JobRun, result: schemas.EmbedResult | schemas.RankResult | schemas.SimulationResult, **fields) -> bool:
    """Mark the run done with its result (and e.g. its `artifact`); False when a newer attempt owns it."""
    return job.finish(progress=1.0, message="Done", result=result.model_dump(mode="json"), **fields)


# --- embed --------------------------------------------------------------------------------------------


def engine_kind(project: Project) -> str:
    """The engine's data kind for a project: "image" or "tabular"."""
    return "image" if project.data_kind == DataKind.IMAGE else "tabular"


def pool_data(project: Project) -> tuple[np.ndarray, object, list[str]]:
    """(item ids, X, columns) of every item of the project in id order: X is an object table (n, n_columns) for
    tabular projects (the feature `columns`, or every column) and a list of (32, 32[, 3]) arrays for images (no
    columns)."""
    items = Item.objects.filter(project=project).order_by("id")
    if project.data_kind == DataKind.TABULAR:
        rows = list(items.values_list("id", "data"))
        columns = pool_columns(project, rows)
        table = np.array([[data.get(c) for c in columns] for _, data in rows], dtype=object).reshape(len(rows), -1)
        return np.array([i for i, _ in rows], dtype=np.int64), table, columns
    rows = list(items.values_list("id", "thumbnail", "image"))
    images = [_small_image(thumbnail or image) for _, thumbnail, image in rows]
    mode_color = any(image.ndim == 3 for image in images)
    images = [np.stack([i] * 3, axis=-1) if mode_color and i.ndim == 2 else i for i in images]
    return np.array([i for i, _, _ in rows], dtype=np.int64), images, []


def pool_columns(project: Project, rows: list[tuple[int, dict]]) -> list[str]:
    """The columns a tabular project's model reads: its feature columns, else every column, else every key."""
    columns = list(project.feature_columns) or [c["name"] for c in project.columns]
    return columns or sorted({key for _, data in rows for key in data})


def _small_image(name: str) -> np.ndarray:
    with default_storage.open(name, "rb") as handle, Image.open(handle) as image:
        image.draft("RGB", (IMAGE_SIZE * 2, IMAGE_SIZE * 2))
        gray = image.mode in ("L", "LA", "I", "I;16", "1") or (
            image.mode in ("P", "RGB") and _is_gray(image.convert("RGB"))
        )
        small = image.convert("L" if gray else "RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
        return np.asarray(small, dtype=np.float32) / 255.0


def _is_gray(image: Image.Image) -> bool:
    pixels = np.asarray(image.resize((16, 16)), dtype=np.int16)
    return bool(np.abs(pixels - pixels.mean(axis=2, keepdims=True)).max() <= 2)


def embed_run_execute(*, run_id: int) -> None:
    done = False
    with _run(run_id, LearningRun.Kind.EMBED) as (run, job):
        if run is None:
            return
        started = time.monotonic()
        job.beat(message="Reading items")
        ids, X, columns = pool_data(run.project)
        if len(ids) < 2:
            raise JobFailed("At least two items are needed to train an autoencoder.")
        job.beat(n_items=len(ids), progress=0.05, message=f"Training on {len(ids)} items")
        kind = engine_kind(run.project)
        epochs = ActiveSelector(kind)._default_ae().max_epochs

        def on_epoch_end(epoch: int, loss: float) -> None:
            progress = 0.05 + 0.85 * (epoch + 1) / epochs
            job.beat(progress=progress, message=f"Epoch {epoch + 1}/{epochs}, loss {loss:.4f}")

        try:
            spec_json = strategy_current(run.project)[1].model_dump_json()
            selector = ActiveSelector(
                kind,
                strategy=_strategy_new(spec_json, kind),  # fitted here once, kept for the rankings
                image_size=IMAGE_SIZE,
                random_state=0,
                on_epoch_end=on_epoch_end,
            ).fit(X)
        except AutoencoderCollapsedError as exc:
            raise JobFailed(f"The autoencoder learned nothing from these items: {exc}.") from exc
        trained = time.monotonic()
        job.beat(progress=0.92, message="Measuring typicality")
        embedding = selector.embedding_
        typicality = selector.typicality_
        # A quick PCA map now; the UMAP map is drawn after the ranking is asked for (map_draw_execute), so the
        # first ranking on a new embedding never waits for UMAP (tens of seconds of compiling in a fresh worker).
        coords, projection = map_coordinates(embedding, method="pca", random_state=0)
        job.beat(progress=0.94, message="Keeping the strategy fitted on the embedding")
        kept_strategy, kept_key = _strategy_keep(run, selector.strategy_, spec_json, kind)
        path = artifacts.save(
            project_id=run.project_id,
            run_id=run.id,
            attempt=run.attempts,
            name="embed",
            item_ids=ids,
            embedding=embedding.astype(np.float32),
            features=selector.classifier_input_.astype(np.float32),
            reconstruction_error=np.asarray(selector.reconstruction_error_, dtype=np.float32),
            typicality=typicality.astype(np.float32),
            map=coords.astype(np.float32),
        )
        encoder = _encoder_save(run, selector, X, columns)
        loss = float(getattr(selector.autoencoder_, "loss_", np.nan))
        result = schemas.EmbedResult(
            encoder=encoder,
            max_item_id=int(ids.max()),  # items above it are new to the next embedding (its drift check)
            device=str(selector.autoencoder_.device_) if hasattr(selector.autoencoder_, "device_") else "",
            epochs=epochs,
            final_loss=None if np.isnan(loss) else loss,
            # each training run: learning rate, retry, epochs, held-out loss, why it collapsed (None: it did not)
            training_runs=selector.autoencoder_.attempts_,
            n_components=int(embedding.shape[1]),
            train_seconds=round(trained - started, 2),
            map=projection,
            fitted_strategy=kept_strategy,
            fitted_strategy_key=kept_key,
            seconds=round(time.monotonic() - started, 2),
        )
        done = _finish(job, result, artifact=path)
    if run is not None and done:
        _drift_check(run, ids, embedding, selector.reconstruction_error_, coords)
        # The rankings worker reads the strategy fitted above (or fits it, once per embedding) and keeps it.
        ranking_request(project=run.project, reason="embedding")
        _old_artifacts_delete(run.project_id, LearningRun.Kind.EMBED, keep=2)  # rankings may still read the last
        _map_draw_send(run.id)


def _map_draw_send(run_id: int) -> None:
    from active_learning.tasks import run_map

    try:
        run_map.delay(run_id)
    except Exception:  # the PCA map stays; the next embedding draws a map again
        logger.warning("Could not ask for the UMAP map of embedding run %s", run_id, exc_info=True)


def map_draw_execute(*, run_id: int) -> None:
    """Draw the embedding's map with UMAP (PCA where UMAP does not apply) and keep it beside the embedding's
    arrays; readers take it from `result["map_artifact"]`. Idempotent: the same seed draws the same map, and a
    run whose arrays were deleted (two newer embeddings) is left alone."""
    run = LearningRun.objects.filter(id=run_id, kind=LearningRun.Kind.EMBED, status=JobStatus.DONE).first()
    if run is None or not run.artifact or run.result.get("map_artifact"):
        return
    arrays = artifacts.load(run.artifact)
    started = time.monotonic()
    coords, projection = map_coordinates(arrays["embedding"], random_state=0)
    path = artifacts.save(
        project_id=run.project_id, run_id=run.id, attempt=run.attempts, name="map", map=coords.astype(np.float32)
    )
    drawn = {"map": projection, "map_artifact": path, "map_seconds": round(time.monotonic() - started, 2)}
    if not LearningRun.objects.filter(id=run.id).exclude(artifact="").update(result={**run.result, **drawn}):
        default_storage.delete(path)  # the embedding's arrays went meanwhile: so does its map


def _encoder_save(run: LearningRun, selector: ActiveSelector, X, columns: list[str]) -> dict[str, str]:
    """The fitted encoder's weights and the input's preprocessing, kept for every model version made from this
    embedding (downloads): {"encoder": path, "input": path}. Small, and never deleted with the embedding's arrays."""
    pixel_range = (0.0, 1.0)
    if run.project.data_kind == DataKind.IMAGE:  # images_to_array rescales the pool's floats by their range
        pixel_range = (min(float(i.min()) for i in X), max(float(i.max()) for i in X))
    spec = bundle.input_spec(selector, columns=columns, pixel_range=pixel_range)
    keys = {"project_id": run.project_id, "run_id": run.id, "attempt": run.attempts}
    return {
        "encoder": artifacts.save_file(**keys, name="encoder.pt", data=bundle.encoder_weights(selector.autoencoder_)),
        "input": artifacts.save_file(**keys, name="input.json", data=json.dumps(spec).encode()),
    }


def _drift_check(run: LearningRun, ids, embedding, reconstruction_error, coords) -> DriftAlert | None:
    """After an embedding: do the items new since the previous embedding differ from those already there (an MMD
    permutation test in this embedding, false-alarm rate drift.ALPHA)? If so, a DriftAlert with the new items most
    unlike the labeled ones (and a drift.detected event). The test's figures go to the run's result either way.
    The reference is every earlier item, not the labeled ones alone: those are chosen by the strategy (typical,
    uncertain, novel items), not drawn at random, so a test against them alone would alarm on every import."""
    previous = (
        LearningRun.objects.filter(project=run.project, kind=LearningRun.Kind.EMBED, status=JobStatus.DONE)
        .filter(id__lt=run.id)
        .order_by("-id")
        .first()
    )
    seen = (previous.result or {}).get("max_item_id") if previous else None
    new = ids > seen if seen is not None else np.zeros(len(ids), dtype=bool)
    if new.sum() < DRIFT_MIN_NEW or (~new).sum() < DRIFT_MIN_REFERENCE:
        return None
    try:
        test = mmd_permutation_test(embedding[~new], embedding[new], random_state=run.id)
        figures = {"p_value": test.p_value, "alpha": test.alpha, "n_new": int(new.sum()), "drift": test.drift}
        result = LearningRun.objects.values_list("result", flat=True).get(id=run.id)
        LearningRun.objects.filter(id=run.id).update(result={**result, "drift": figures})
        if not test.drift:
            return None
        return _drift_alert_create(run, ids, embedding, reconstruction_error, coords, new, test)
    except Exception:  # the embedding is done and served: a failed check must not undo it
        logger.exception("Drift check of run %s failed", run.id)
        return None


def _drift_alert_create(run, ids, embedding, reconstruction_error, coords, new, test) -> DriftAlert:
    labeled = _positions(ids, list(final_labels(run.project)))
    novelty = novelty_scores(reconstruction_error, nearest_labeled_distances(embedding, labeled[labeled >= 0]))
    novel = top_k(novelty, np.flatnonzero(new), DRIFT_NOVEL_KEPT)
    points = coords[novel]
    alert, _ = DriftAlert.objects.get_or_create(
        run=run,
        defaults={
            "project_id": run.project_id,
            "n_new": int(new.sum()),
            "n_reference": int((~new).sum()),
            "statistic": test.statistic,
            "threshold": test.threshold,
            "p_value": test.p_value,
            "alpha": test.alpha,
            "novel_item_ids": ids[novel].tolist(),
            "region": {
                "center": np.round(points.mean(axis=0), 4).tolist(),
                "min": np.round(points.min(axis=0), 4).tolist(),
                "max": np.round(points.max(axis=0), 4).tolist(),
            },
            "needed": max(1, math.ceil(DRIFT_COVERED_SHARE * len(novel))),
        },
    )
    data = {"alert_id": alert.id, "n_new": alert.n_new, "p_value": alert.p_value, "alpha": alert.alpha}
    event_emit(project_id=run.project_id, event="drift.detected", data={**data, "novel_item_ids": alert.novel_item_ids})
    return alert


def _with_drift_picks(project: Project, ranking, ids: np.ndarray, idx: np.ndarray):
    """While the project's latest drift alert is open, a DRIFT_SHARE of the batch goes to its most novel items not
    labeled yet; once `needed` of them are labeled, the alert is covered (and the batch is the strategy's again)."""
    alert = DriftAlert.objects.filter(project=project, covered_at=None).order_by("-id").first()
    if alert is None:
        return ranking
    labeled = set(ids[idx].tolist())
    if len(labeled & set(alert.novel_item_ids)) >= alert.needed:
        DriftAlert.objects.filter(id=alert.id, covered_at=None).update(covered_at=timezone.now())
        return ranking
    scores = np.full(len(ids), np.nan)
    novel = _positions(ids, alert.novel_item_ids)
    novel = novel[novel >= 0]
    scores[novel] = 1.0 - np.arange(len(novel)) / (2.0 * max(len(novel), 1))  # most novel first, all >= 0.5
    return with_picks(ranking, scores, DRIFT_SHARE, rule="novelty", reason=DRIFT_REASON)


def _embedding_of(run: LearningRun) -> LearningRun:
    """The run's embedding, or the latest one if two newer embeddings replaced its arrays while the run waited."""
    if run.embedding and run.embedding.artifact:
        return run.embedding
    return latest_embedding(run.project_id)


def _old_artifacts_delete(project_id: int, kind: str, keep: int) -> None:
    """Delete the arrays of all but the `keep` newest finished runs of a kind (storage would grow with every run)."""
    done = LearningRun.objects.filter(project_id=project_id, kind=kind, status=JobStatus.DONE).exclude(artifact="")
    for old in done.order_by("-id")[keep:]:
        default_storage.delete(old.artifact)
        for kept in ("map_artifact", "fitted_strategy"):
            if old.result.get(kept):
                default_storage.delete(old.result[kept])
        LearningRun.objects.filter(id=old.id).update(artifact="")


# --- rank ---------------------------------------------------------------------------------------------


def _strategy_new(spec_json: str, data_kind: str):
    spec = schemas.StrategySpec.model_validate_json(spec_json)
    return strategy_from_spec(spec.strategy, spec.mix, spec.exploration_share, spec.random_state, data_kind=data_kind)


@lru_cache(maxsize=1)
def _engine_fingerprint() -> str:
    """A digest of the engine's source: a strategy kept by another version of the code is fitted again."""
    digest = hashlib.sha256()
    for source in sorted(Path(engine_package.__file__).parent.rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _strategy_key(spec_json: str, data_kind: str) -> str:
    return json.dumps({"spec": json.loads(spec_json), "kind": data_kind, "engine": _engine_fingerprint()})


def _strategy_keep(run: LearningRun, fitted, spec_json: str, kind: str) -> tuple[str | None, str | None]:
    """Keep the project's strategy fitted on a new embedding beside the run (storage path, key): its
    label-independent part (the pool's typicality: a k-nearest-neighbour search over the whole pool) is the slow
    part of a first ranking, and here it ran on the training queue instead of in front of annotators."""
    try:
        path = artifacts.save_fitted(
            project_id=run.project_id,
            run_id=run.id,
            attempt=run.attempts,
            name="strategy",
            fitted=fitted,
            shared=fitted.X_,  # the embedding, as stored beside it: not written twice
        )
    except Exception:  # the first ranking fits it instead
        logger.warning("Could not keep the strategy fitted on embedding run %s", run.id, exc_info=True)
        return None, None
    return path, _strategy_key(spec_json, kind)


@lru_cache(maxsize=4)
def _fitted_strategy(artifact: str, spec_json: str, data_kind: str, kept: str | None = None):
    """The strategy fitted on an embedding: label independent, so kept per (embedding, spec) in the worker, and
    read from `kept` (the embedding run's own fit, see _strategy_keep) when there is one."""
    embedding = artifacts.load(artifact)["embedding"]
    if kept:
        try:
            return artifacts.load_fitted(kept, embedding)
        except Exception:  # deleted, or unreadable: fit it here
            logger.warning("Could not read the kept strategy %s; fitting it again", kept, exc_info=True)
    return _strategy_new(spec_json, data_kind).fit(embedding)


# The last ranking's model per embedding in this worker: the next fit on that embedding starts from its
# coefficients (a batch adds a few labels, so the optimum is close), as the simulator's replays do batch after
# batch. A model of other classes or columns is not used; a worker that has none fits from zero, to the same optimum.
_last_models: OrderedDict[str, ProbabilisticClassifier] = OrderedDict()
LAST_MODELS_KEPT = 4


def _last_model_keep(artifact: str, model: ProbabilisticClassifier | None) -> None:
    if model is None:
        return
    _last_models[artifact] = model
    _last_models.move_to_end(artifact)
    while len(_last_models) > LAST_MODELS_KEPT:
        _last_models.popitem(last=False)


def _kept_strategy(embedding: LearningRun, spec_json: str, data_kind: str) -> str | None:
    result = embedding.result or {}
    if result.get("fitted_strategy_key") != _strategy_key(spec_json, data_kind):
        return None
    return result.get("fitted_strategy")


@lru_cache(maxsize=4)
def _classifier_features(artifact: str) -> np.ndarray:
    """The embedding's classifier features standardized over the pool, once per embedding in the worker: those
    stored before 2026-12-04 were not; later ones are (the selector's classifier_input_), and stay as they are."""
    features = pool_standardized(artifacts.load(artifact)["features"])
    features.setflags(write=False)
    return features


@lru_cache(maxsize=4)
def _pool_scaler(artifact: str) -> dict:
    """The scaler of the embedding's stored classifier features (bundle.pool_scaler), once per embedding."""
    return bundle.pool_scaler(artifacts.load(artifact)["features"])


def _positions(item_ids: np.ndarray, wanted: list[int]) -> np.ndarray:
    """(len(wanted),) the position of each wanted item id in `item_ids` (an embedding's, each id once), -1 where
    it is not there: a search, where a dict over the pool's ids cost 0.2 s a ranking at a million items."""
    wanted_ids = np.asarray(wanted, dtype=np.int64)
    if not len(item_ids) or not wanted_ids.size:
        return np.full(wanted_ids.size, -1, dtype=np.int64)
    sorter = np.argsort(item_ids, kind="stable")  # linear when already in id order, as embeddings store them
    at = sorter[np.minimum(np.searchsorted(item_ids, wanted_ids, sorter=sorter), len(item_ids) - 1)]
    return np.where(item_ids[at] == wanted_ids, at, -1)


def training_labels(project: Project, item_ids: np.ndarray):
    """(positions into item_ids, labels, classes) of the items with a final label, oldest first (by the item's
    first answer: the strategies read which label found each class): labels are label ids, or 0/1 rows over
    `classes` (the active labels) for multi-label projects."""
    finals = final_labels(project)
    final_ids = list(finals)
    found = zip(final_ids, _positions(item_ids, final_ids).tolist(), strict=True)
    in_pool = [(item_id, at) for item_id, at in found if at >= 0]
    answered = Annotation.objects.filter(item__project=project).values("item_id").annotate(first=Min("id"))
    first_answer = {row["item_id"]: row["first"] for row in answered}
    oldest_first = sorted(in_pool, key=lambda pair: (first_answer.get(pair[0], 0), pair[1]))
    labeled = [(at, finals[item_id]) for item_id, at in oldest_first]
    classes = np.array(
        list(Label.objects.filter(project=project, retired_at=None, merged_into=None).values_list("id", flat=True))
    )
    idx = np.array([p for p, _ in labeled], dtype=np.int64)
    if project.task_type == TaskType.MULTI_LABEL:
        rows = np.zeros((len(labeled), len(classes)), dtype=int)
        column = {label_id: j for j, label_id in enumerate(classes.tolist())}
        for r, (_, answer) in enumerate(labeled):
            rows[r, [column[a] for a in answer if a in column]] = 1
        return idx, rows, classes
    return idx, np.array([answer[0] for _, answer in labeled], dtype=np.int64), classes


def rank_run_execute(*, run_id: int) -> None:
    with _run(run_id, LearningRun.Kind.RANK) as (run, job):
        if run is None:
            return
        started = time.monotonic()
        project = run.project
        spec = schemas.StrategySpec.model_validate(run.setting.spec if run.setting else {})
        seen = Annotation.objects.filter(item__project=project).aggregate(top=Max("id"))["top"] or 0
        embedding = _embedding_of(run)
        arrays = artifacts.load(embedding.artifact)
        ids, features = arrays["item_ids"], _classifier_features(embedding.artifact)
        idx, labels, classes = training_labels(project, ids)
        multilabel = project.task_type == TaskType.MULTI_LABEL
        job.beat(n_items=len(ids), n_labels=len(idx), progress=0.1, message=f"Fitting on {len(idx)} labels")
        spec_json, kind = spec.model_dump_json(), engine_kind(project)
        strategy = _fitted_strategy(embedding.artifact, spec_json, kind, _kept_strategy(embedding, spec_json, kind))
        ranking = rank_pool(
            strategy,
            ranking_classifier(spec.random_state),
            features,
            idx,
            labels,
            spec.batch_size,
            arrays["reconstruction_error"],
            arrays["typicality"],
            previous=_last_models.get(embedding.artifact),
        )
        _last_model_keep(embedding.artifact, ranking.classifier)
        if ranking.proba is not None:
            disagreement = _disagreement(project, ids, ranking.proba, classes if multilabel else ranking.classes)
            if disagreement is not None:
                ranking = with_disagreement_picks(ranking, disagreement, spec.disagreement_share)
        ranking = _with_drift_picks(project, ranking, ids, idx)
        ranked = time.monotonic()
        job.beat(progress=0.6, message="Cross-validating the model")
        metrics, issues = None, []
        if ranking.classifier is not None:
            chosen = ranking.classifier.chosen_ or "logistic"
            estimator = ProbabilisticClassifier(candidates=(chosen,), calibrate=False, random_state=spec.random_state)
            metrics = cross_validated_metrics(estimator, features[idx], labels, random_state=spec.random_state)
            if not multilabel and metrics.oof_proba is not None:
                issues = _issues(ids, idx, labels, metrics)
        previous = _previous_predictions(project, run)
        predictions = _predictions(ranking, len(ids))
        kappa = (
            cohen_kappa(previous, predictions) if previous is not None and len(previous) == len(predictions) else None
        )
        stable = _stable_streak(project, run, kappa, spec)
        job.beat(progress=0.8, message="Writing the ranking")
        files = _model_files_save(run, embedding, arrays, ranking, classes if multilabel else ranking.classes)
        path = artifacts.save(
            project_id=project.id,
            run_id=run.id,
            attempt=run.attempts,
            name="rank",
            compress=False,
            predictions=predictions,
        )
        novelty = ranking.why["novelty"]
        unlabeled = ranking.order
        novel = top_k(novelty, unlabeled, NOVEL_KEPT)
        result = schemas.RankResult(
            phase=ranking.phase,
            strategy=spec.strategy,
            batch_item_ids=ids[ranking.batch].tolist(),
            novel_item_ids=ids[novel].tolist(),
            kappa_with_previous=kappa,
            stable_streak=stable,
            stopping_rule_met=bool(spec.stopping_rule and stable >= spec.stopping_rule.patience),
            rank_seconds=round(ranked - started, 2),
            annotations_seen=seen,
        )
        last_version = ModelVersion.objects.filter(project=project).aggregate(top=Max("version"))["top"] or 0
        version_number = last_version + 1 if ranking.classifier is not None else None
        writing = time.monotonic()
        new = _ranking_write(run, ids, ranking, version_number, classes, multilabel)
        result.write_seconds = round(time.monotonic() - writing, 3)
        swapping = time.monotonic()
        with write_transaction():
            current = (
                Project.objects.select_for_update(no_key=True)
                .filter(id=project.id)
                .values_list("current_ranking", flat=True)
            )
            # The lock makes rankings swap in one at a time; NO KEY: rows that reference the project (a new
            # member, an import's items) are not held up by it.
            replaced = current.first()
            if not job.writes.exists():
                raise Superseded
            # The number the ranking's insights carry: one pending rank run per project, so nobody took it since.
            _model_version_create(project, run, ranking, metrics, classes, multilabel, version_number, files)
            LabelIssue.objects.filter(run__project=project).delete()
            LabelIssue.objects.bulk_create(LabelIssue(run=run, **issue) for issue in issues)
            Project.objects.filter(id=project.id).update(current_ranking=new)
            result.seconds = round(time.monotonic() - started, 2)
            result.swap_seconds = round(time.monotonic() - swapping, 3)
            _finish(job, result, artifact=path)
        _old_rankings_delete(project.id, new.id, replaced)
        if version_number is not None:
            data = {"version": version_number, "run_id": run.id, "n_labels": len(idx)}
            if metrics is not None:
                data.update(cv_accuracy=metrics.accuracy, cv_macro_f1=metrics.macro_f1)
            event_emit(project_id=project.id, event="model_version.created", data=data)
    if run is not None:
        _old_artifacts_delete(run.project_id, LearningRun.Kind.RANK, keep=2)  # the last two, for the kappa
        ranking_request_if_due(project_id=run.project_id)  # labels that arrived while this run worked


def _disagreement(project: Project, ids: np.ndarray, proba: np.ndarray, label_ids) -> np.ndarray | None:
    """(n,) how much this model disagrees with the project's imported predictions (ranking.disagreement_scores;
    several sources are averaged), NaN for items without one; None when the project has none."""
    rows = list(ExternalPrediction.objects.filter(project=project).values_list("item_id", "label_ids"))
    if not rows:
        return None
    column = {int(label_id): j for j, label_id in enumerate(label_ids)}
    other = len(column)  # a label this model never saw: it gives it no probability
    predicted = np.zeros((len(ids), other + 1))
    sources = np.zeros(len(ids))
    for (_, labels), i in zip(rows, _positions(ids, [item_id for item_id, _ in rows]).tolist(), strict=True):
        if i >= 0:
            sources[i] += 1
            for label_id in labels:
                predicted[i, column.get(label_id, other)] += 1
    if not sources.any():
        return None
    predicted /= np.maximum(sources, 1)[:, None]
    padded = np.hstack([proba, np.zeros((len(proba), 1))])
    return disagreement_scores(padded, predicted, multilabel=project.task_type == TaskType.MULTI_LABEL)


def _issues(ids, idx, labels, metrics) -> list[dict]:
    used = metrics.used
    classes = np.unique(labels[used])
    found, quality = label_issues(labels[used], metrics.oof_proba, classes)
    found = found[metrics.oof_proba[found].max(axis=1) >= LABEL_ISSUE_MIN_CONFIDENCE] if found.size else found
    out = []
    for rank, position in enumerate(found.tolist(), start=1):
        best = int(np.argmax(metrics.oof_proba[position]))
        out.append(
            {
                "item_id": int(ids[idx[used[position]]]),
                "given_label_ids": [int(labels[used[position]])],
                "suggested_label_id": int(classes[best]),
                "confidence": round(float(metrics.oof_proba[position, best]), 4),
                "quality": round(float(quality[position]), 4),
                "rank": rank,
            }
        )
    return out


def _predictions(ranking, n: int) -> np.ndarray:
    """(n,) predicted class per item (multi-label: the row's bits as one code), -1 without a model."""
    if ranking.proba is None:
        return np.full(n, -1, dtype=np.int64)
    if ranking.proba.ndim == 2 and ranking.classifier.multilabel_:
        bits = (ranking.proba >= 0.5).astype(np.int64)
        return (bits * (1 << np.arange(bits.shape[1]))).sum(axis=1)
    return np.asarray(ranking.classes[np.argmax(ranking.proba, axis=1)], dtype=np.int64)


def _previous_run(project: Project, run: LearningRun) -> LearningRun | None:
    return (
        LearningRun.objects.filter(
            project=project, kind=LearningRun.Kind.RANK, status=JobStatus.DONE, embedding=run.embedding, id__lt=run.id
        )
        .exclude(artifact="")
        .order_by("-id")
        .first()
    )


def _previous_predictions(project: Project, run: LearningRun) -> np.ndarray | None:
    previous = _previous_run(project, run)
    return None if previous is None else artifacts.load(previous.artifact)["predictions"]


def _stable_streak(project, run, kappa, spec) -> int:
    """Consecutive rankings whose predictions agree with the previous one's at kappa >= the stopping threshold."""
    threshold = spec.stopping_rule.threshold if spec.stopping_rule else 0.99
    if kappa is None or kappa < threshold:
        return 0
    previous = _previous_run(project, run)
    report = schemas.rank_result(previous.result) if previous else None
    return 1 + (report.stable_streak if report else 0) if previous else 1


def _model_version_create(project, run, ranking, metrics, classes, multilabel, version, files) -> None:
    if ranking.classifier is None:
        return
    per_class = {}
    if metrics is not None:
        for key, figures in metrics.per_class.items():
            label_id = int(classes[int(key)]) if multilabel else int(key)
            per_class[str(label_id)] = schemas.ClassFigures.model_validate(figures).model_dump(exclude_none=True)
    ModelVersion.objects.create(
        project=project,
        run=run,
        version=version,
        n_labels=metrics.n_labels if metrics else 0,
        classifier=ranking.classifier.chosen_ or "",
        cv_accuracy=None if metrics is None else metrics.accuracy,
        cv_macro_f1=None if metrics is None else metrics.macro_f1,
        cv_folds=0 if metrics is None else metrics.folds,
        per_class=per_class,
        files=files,
    )


def _model_files_save(run, embedding, arrays, ranking, label_ids) -> dict:
    """The fitted classifier, the pool's scaler and every item's predictions as files of this run (a model version's
    download and predictions export); {} without a model, or for an embedding made before models were kept."""
    encoder = (embedding.result or {}).get("encoder")
    if ranking.classifier is None or not encoder:
        return {}
    keys = {"project_id": run.project_id, "run_id": run.id, "attempt": run.attempts}
    features = arrays["features"]
    model = {"pool_scaler": _pool_scaler(embedding.artifact), "label_ids": [int(c) for c in label_ids]}
    files = {
        **encoder,
        "classifier": artifacts.save_file(
            **keys, name="classifier.skops", data=bundle.classifier_bytes(ranking.classifier, features[:1])
        ),
        "model": artifacts.save_file(**keys, name="model.json", data=json.dumps(model).encode()),
        "predictions": artifacts.save(
            **keys,
            name="predictions",
            compress=False,
            item_ids=arrays["item_ids"],
            proba=ranking.proba.astype(np.float32),
            uncertainty=ranking.why["uncertainty"].astype(np.float32),
            novelty=ranking.why["novelty"].astype(np.float32),
        ),
    }
    return schemas.ModelFiles.model_validate(files).model_dump()


def _ranking_write(run, ids, ranking, model_version, label_ids, multilabel) -> Ranking:
    """The head of the queue's new order (its first RANKING_HEAD unlabeled items, each with its priority and
    insight) as a new Ranking, written beside the one being served in short transactions of WRITE_CHUNK rows,
    so the queue is never held up and no item row is locked; it is served once made current. `label_ids`: the
    label of each probability column for multi-label projects."""
    head = ranking.order[:RANKING_HEAD]
    # The head's values as Python lists: one row at a time below, where numpy scalars cost several times more.
    batch = zip(ranking.batch.tolist(), ranking.rules, ranking.reasons, strict=True)
    picked = {i: (rule, reason) for i, rule, reason in batch}
    if ranking.proba is not None:
        classes = label_ids if multilabel else ranking.classes
        suggested_classes, confidences = suggestions(ranking.proba[head], classes, multilabel)
        suggested = [[int(c) for c in row] for row in suggested_classes]
        confidence = [round(value, 4) for value in confidences.tolist()]
    why = {name: np.round(values[head], 4).tolist() for name, values in ranking.why.items()}
    percentiles = {name: values.tolist() for name, values in _pool_percentiles(ranking, head).items()}
    names = dict(Label.objects.filter(project_id=run.project_id).values_list("id", "name"))
    columns = [] if ranking.proba is None else label_ids if multilabel else ranking.classes
    column_names = [names.get(int(c), f"#{int(c)}") for c in columns]
    item_ids, priorities = ids[head].tolist(), ranking.priority[head].tolist()
    rows = []
    for j, i in enumerate(head.tolist()):
        rule, reason = picked.get(i, ("score", "ranked by the strategy's score"))
        own = {name: values[j] for name, values in percentiles.items()}
        insight = ItemInsight(
            ranking_run=run.id,
            model_version=model_version,
            rank=j + 1,
            picked_by=rule,
            reason=reason,
            scores={name: (None if math.isnan(values[j]) else values[j]) for name, values in why.items()},
            percentiles={name: (None if math.isnan(value) else round(value, 4)) for name, value in own.items()},
            explanation=explanation(
                rule, own, None if ranking.proba is None else ranking.proba[i], column_names, multilabel
            ),
            suggestion=None if ranking.proba is None else Suggestion(label_ids=suggested[j], confidence=confidence[j]),
        )
        rows.append((j + 1, item_ids[j], priorities[j], insight.model_dump_json()))
    new = Ranking.objects.create(project_id=run.project_id, run_id=run.id, size=len(rows))
    for start in range(0, len(rows), WRITE_CHUNK):
        with write_transaction():
            chunk = rows[start : start + WRITE_CHUNK]
            bulk_insert(RankedItem, ["rank", "item", "priority", "insight", "ranking"], [(*r, new.id) for r in chunk])
    return new


def _pool_percentiles(ranking, head: np.ndarray) -> dict[str, np.ndarray]:
    """The scores the strategy used, as percentiles among the unlabeled items, for the `head` positions: the
    strategy's own order ("strategy") and each score behind "why this item"."""
    unlabeled = ranking.priority >= 0  # labeled items have priority -1
    found = {"strategy": pool_percentiles(ranking.priority, unlabeled, head)}
    for name, values in ranking.why.items():
        found[name] = pool_percentiles(values, unlabeled, head)
    return found


def _old_rankings_delete(project_id: int, current_id: int, replaced_id: int | None) -> None:
    """Keep the current ranking and the one it replaced (a request may still be reading it); delete older ones.
    Newer ones may be in the middle of being written."""
    old = Ranking.objects.filter(project_id=project_id, id__lt=current_id).exclude(id=replaced_id)
    with write_transaction():
        old.delete()  # their RankedItem rows go with them


# --- simulate -----------------------------------------------------------------------------------------


REPLAY_TEST_SHARE = 0.3  # what simulate() holds back by default to measure accuracy, stratified by class


def replay_missing(labels: np.ndarray, names: dict[int, str]) -> str:
    """What a young project lacks for a replay, in words ("" when nothing): the replay holds back a stratified
    share of the labeled items to measure accuracy, so every class needs two labels and the held-back share at
    least one item per class."""
    classes, counts = np.unique(labels, return_counts=True)
    rare = [names.get(int(c), f"#{int(c)}") for c, n in zip(classes, counts, strict=True) if n < 2]
    if rare:
        return (
            f"Label at least 2 items of each class before a replay: {', '.join(sorted(rare))} "
            f"{'has' if len(rare) == 1 else 'have'} only one so far."
        )
    needed = int(np.ceil(len(classes) / REPLAY_TEST_SHARE))
    if len(labels) < needed:
        return (
            f"Label at least {needed} items before a replay ({len(labels)} so far): it holds "
            f"{round(100 * REPLAY_TEST_SHARE)}% of them back to measure accuracy, at least one of each of the "
            f"{len(classes)} classes."
        )
    return ""


def simulate_run_execute(*, run_id: int) -> None:
    with _run(run_id, LearningRun.Kind.SIMULATE) as (run, job):
        if run is None:
            return
        spec = schemas.SimulationSpec.model_validate(run.params)
        arrays = artifacts.load(_embedding_of(run).artifact)
        idx, labels, _ = training_labels(run.project, arrays["item_ids"])
        in_pool_order = np.argsort(idx, kind="stable")  # a replay does not depend on who labeled what first
        idx, labels = idx[in_pool_order], labels[in_pool_order]
        if labels.ndim != 1 or np.unique(labels).size < 2:
            raise JobFailed("A replay needs a single-label project with at least two labeled classes.")
        missing = replay_missing(labels, dict(Label.objects.filter(project=run.project).values_list("id", "name")))
        if missing:
            raise JobFailed(missing)
        _, current = strategy_current(run.project)
        budget = spec.budget or min(current.budget or len(idx), int(len(idx) * 0.7))
        budget = max(min(budget, int(len(idx) * 0.7)), spec.batch_size)
        steps = len(spec.strategies) * spec.seeds * max(budget // spec.batch_size, 1)
        done = [0]

        def on_round(name, seed, n_labels, accuracy):
            done[0] += 1
            job.beat(progress=min(0.99, done[0] / steps), message=f"{name}, seed {seed}: {n_labels} labels")

        job.beat(n_items=len(idx), n_labels=len(idx), message="Replaying")

        kind = engine_kind(run.project)

        def factory(name):  # the project's own settings and kind (and its mix, for its own strategy)
            mix = current.mix if name == current.strategy else None
            return lambda seed: strategy_from_spec(name, mix, current.exploration_share, seed, data_kind=kind)

        # The stored classifier features are replayed as a table (an image project's are its embedding), with the
        # stored embedding and reconstruction errors: what the workers rank on.
        results = simulate(
            arrays["features"][idx],
            labels,
            strategies={name: factory(name) for name in spec.strategies},
            data_kind="tabular",
            budget=budget,
            batch_size=spec.batch_size,
            seeds=range(spec.seeds),
            classifier=ranking_classifier(0),
            on_round=on_round,
            embedding=arrays["embedding"][idx],
            reconstruction_error=arrays["reconstruction_error"][idx],
        )
        plain = json.loads(json.dumps(results, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
        _finish(job, schemas.SimulationResult.model_validate(plain))
