"""Active learning's writes from the web process: strategy settings and requests for background runs.

A request commits a queued LearningRun, then sends its task (core.jobs). Requests coming from labeling
(a full batch of new labels) never fail the caller: if the broker is down the run stays queued, the periodic
requeue sends it later, and the queue keeps serving the last ranking. A person's explicit request gets a clear
503 instead, and the run it made is marked failed.
"""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from active_learning import schemas
from active_learning.models import LearningRun, StrategySetting
from active_learning.selectors import (
    answers_since,
    has_embedding,
    labeled_count,
    last_ranking_state,
    strategy_current,
)
from annotation.models import Project
from core.errors import Conflict, InvalidInput
from core.jobs import job_send, job_send_or_fail
from core.models import JobStatus, User

logger = logging.getLogger(__name__)
PENDING = (JobStatus.QUEUED, JobStatus.RUNNING)
RESEND_AFTER = timedelta(seconds=60)  # a ranking queued this long ago without starting is sent again


def _send_or_fail(run: LearningRun) -> LearningRun:
    return job_send_or_fail(run, "The task broker is unreachable, so no training can start now. Labeling goes on.")


def _create(project: Project, kind: str, *, reason: str, user: User | None = None, **fields) -> LearningRun:
    """A new run; for embed and rank runs, the project's pending one if another request made it meanwhile (a
    unique constraint allows one pending run of each)."""
    try:
        with transaction.atomic():
            return LearningRun.objects.create(project=project, kind=kind, reason=reason, created_by=user, **fields)
    except IntegrityError:
        pending = _pending(project.id, kind)
        if pending is None:
            raise
        return pending


def _pending(project_id: int, kind: str) -> LearningRun | None:
    return LearningRun.objects.filter(project_id=project_id, kind=kind, status__in=PENDING).order_by("-id").first()


def training_run_request(*, project: Project, reason: str, user: User | None = None, quiet: bool = False):
    """Train the project's autoencoder and embed its items. One pending embed run per project: asking again while
    one is queued or running returns it. `quiet` (imports, the demo): a broker failure leaves the run queued."""
    if not project.items.exists():
        raise InvalidInput("The project has no items to train on yet; import some first.")
    pending = _pending(project.id, LearningRun.Kind.EMBED)
    if pending is not None:
        return pending
    run = _create(project, LearningRun.Kind.EMBED, reason=reason, user=user)
    if quiet:
        job_send(run)
        return run
    return _send_or_fail(run)


def latest_embedding(project_id: int) -> LearningRun | None:
    return (
        LearningRun.objects.filter(project_id=project_id, kind=LearningRun.Kind.EMBED, status=JobStatus.DONE)
        .order_by("-id")
        .first()
    )


def ranking_request(*, project: Project, reason: str, user: User | None = None, quiet: bool = True):
    """Refit the classifier and re-rank from the latest embedding (None when there is no embedding yet)."""
    embedding = latest_embedding(project.id)
    if embedding is None:
        return None
    pending = _pending(project.id, LearningRun.Kind.RANK)
    if pending is not None:
        if pending.status == JobStatus.QUEUED and pending.created_at < timezone.now() - RESEND_AFTER:
            job_send(pending)  # the broker was down when it was made, or its message was lost
        return pending
    setting, _ = strategy_current(project)
    run = _create(project, LearningRun.Kind.RANK, reason=reason, user=user, embedding=embedding, setting=setting)
    if quiet:
        job_send(run)
        return run
    return _send_or_fail(run)


def ranking_request_if_due(*, project_id: int) -> LearningRun | None:
    """After a submit: re-rank once a batch of new answers (batch size x overlap) is newer than the last
    ranking, within budget. A few indexed queries whose cost does not grow with the project (new answers are
    counted by id above the last ranking's high-water mark); it never raises into the labeling request."""
    try:
        last = last_ranking_state(project_id, recent_since=timezone.now() - RESEND_AFTER)
        if last is None:
            if not has_embedding(project_id):
                return None  # nothing to rank with yet: the embedding's own ranking comes first
        else:
            status, recent, seen = last
            if status in PENDING:
                if recent:
                    return None  # one is on its way; it re-checks when it finishes
            else:
                new, overlap, spec = answers_since(project_id, seen=seen)
                if new < spec.batch_size * overlap:
                    return None
                if spec.budget is not None and labeled_count(project_id) > spec.budget:
                    return None
        return ranking_request(project=Project.objects.get(id=project_id), reason="labels")
    except Exception:  # the labeling request already succeeded: log, never fail it
        logger.exception("Could not request a ranking for project %s", project_id)
        return None


def strategy_set(*, project: Project, user: User, spec: dict) -> StrategySetting:
    """Record a new strategy/budget for the project (a new version; history is kept) and re-rank with it."""
    checked = schemas.StrategySpec.model_validate(spec)
    with transaction.atomic():
        current, _ = strategy_current(project)
        setting = StrategySetting.objects.create(
            project=project,
            version=(current.version + 1) if current else 1,
            spec=checked.model_dump(mode="json"),
            changed_by=user,
        )
    ranking_request(project=project, reason="strategy", user=user)
    return setting


def simulation_run_request(*, project: Project, user: User, spec: dict) -> LearningRun:
    """Replay strategies on the project's labeled items (needs an embedding and enough labels)."""
    checked = schemas.SimulationSpec.model_validate(spec)
    _, current = strategy_current(project)
    if "mix" in checked.strategies and current.strategy != "mix":
        raise InvalidInput("A mix can be replayed once it is the project's strategy (its weights).", field="strategies")
    embedding = latest_embedding(project.id)
    if embedding is None:
        raise Conflict("No embedding yet: train the project's model first.")
    if labeled_count(project.id) < 20:
        raise Conflict("A replay needs at least 20 labeled items.")
    run = _create(
        project,
        LearningRun.Kind.SIMULATE,
        reason="request",
        user=user,
        embedding=embedding,
        params=checked.model_dump(mode="json"),
    )
    return _send_or_fail(run)
