"""Background jobs of every kind (imports, exports, learning runs: core.models.BackgroundJob) are claimed, kept
alive, fenced and re-sent here; the apps say what a job does, never how it is run.

- A run claims its job with one conditional UPDATE (queued, or running with a heartbeat older than the lease
  because its worker died) that also counts the attempt; every later write is fenced by that attempt number, so
  a run that was taken over cannot overwrite the newer run's progress or result. A job that keeps dying stops
  after MAX_ATTEMPTS with the reason.
- While a run works, a thread beats (`heartbeat_at`) every JOB_HEARTBEAT_INTERVAL whatever the work is doing (one
  epoch can take minutes), so only a dead worker's job goes stale; when its fenced write finds the job taken
  over, the run stops at its next progress call.
- The web process commits the row, then sends the task. The requeue sweep, every JOB_SWEEP_INTERVAL, re-sends
  jobs that were never sent, were lost, or whose worker died; the claim decides who runs, so a duplicate message
  is harmless.
"""

import errno
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from core.errors import ServiceUnavailable
from core.models import BackgroundJob, JobStatus

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
RESEND_UNSTARTED = timedelta(minutes=5)  # a sent job not started this long after is sent again (message lost)
BROKER_DOWN = "The task broker is unreachable; nothing ran."
NOTHING_KEPT = "nothing was saved."


class Superseded(Exception):
    """This run's heartbeat lapsed and another worker took the job over: stop without writing anything more."""


class JobFailed(Exception):
    """The job cannot be done as asked; the message says why, in words for the person who asked."""


def job_claim(model: type[BackgroundJob], job_id: int) -> int | None:
    """Take the job (queued, or running with a stale heartbeat); returns this run's attempt number."""
    now = timezone.now()
    stale = Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - settings.JOB_LEASE)
    claimable = model.objects.filter(Q(status=JobStatus.QUEUED) | stale, id=job_id)
    with transaction.atomic():
        if claimable.filter(attempts__lt=MAX_ATTEMPTS).update(
            status=JobStatus.RUNNING, heartbeat_at=now, started_at=now, attempts=F("attempts") + 1
        ):
            return model.objects.filter(id=job_id).values_list("attempts", flat=True).get()
    claimable.update(status=JobStatus.FAILED, failure=f"Gave up after {MAX_ATTEMPTS} attempts.", finished_at=now)
    return None


def job_writes(model: type[BackgroundJob], job_id: int, attempt: int) -> QuerySet:
    """Writes of a run are fenced by its attempt number, so a run that was taken over cannot overwrite the
    newer run's progress or result."""
    return model.objects.filter(id=job_id, status=JobStatus.RUNNING, attempts=attempt)


def failure_reason(exc: BaseException, kept: str = NOTHING_KEPT) -> str:
    """Why a job stopped and what it left (`kept`), as a sentence for the person who asked; the exception
    itself goes to the worker's log."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "The server's disk is full"
    elif isinstance(exc, SoftTimeLimitExceeded):
        why = "The job ran past its time limit and was stopped"
    elif isinstance(exc, MemoryError):
        why = "The server ran out of memory"
    elif isinstance(exc, DatabaseError):
        why = "The database failed while the job ran"
    else:
        why = "An unexpected error stopped the job (the worker's log has the details)"
    return f"{why}; {kept}"


class _Heartbeat(threading.Thread):
    """Beats for a run from its own thread and database connection, fenced by the run's attempt."""

    def __init__(self, writes: QuerySet, interval: float) -> None:
        super().__init__(daemon=True, name="job-heartbeat")
        self.writes, self.interval = writes, interval
        self.stopped, self.superseded = threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    if not self.writes.update(heartbeat_at=timezone.now()):
                        self.superseded.set()
                        return
                except DatabaseError:  # a database blip: the next beat may work; if none does, the lease lapses
                    logger.warning("job heartbeat failed", exc_info=True)
                    connections.close_all()  # the next beat reconnects rather than reuse a broken connection
        finally:
            connections.close_all()  # this thread's own connections

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=1.0)  # one stuck in a database call ends by itself (a daemon thread)


class JobRun:
    """One claimed attempt at a job: `beat` records progress (and raises Superseded once the job was taken
    over), `finish` and `fail` end it; every write goes through the attempt-fenced `writes`."""

    def __init__(self, model: type[BackgroundJob], job_id: int, attempt: int) -> None:
        self.job_id, self.attempt = job_id, attempt
        self.writes = job_writes(model, job_id, attempt)
        self.heartbeat: _Heartbeat | None = None

    def beat(self, **fields) -> None:
        superseded = self.heartbeat is not None and self.heartbeat.superseded.is_set()
        if superseded or not self.writes.update(heartbeat_at=timezone.now(), **fields):
            raise Superseded

    def finish(self, **fields) -> bool:
        """Mark the job done; False when a newer attempt owns it (this one's outputs are then not the job's)."""
        return bool(self.writes.update(status=JobStatus.DONE, finished_at=timezone.now(), **fields))

    def fail(self, failure: str, **fields) -> bool:
        return bool(self.writes.update(status=JobStatus.FAILED, failure=failure, finished_at=timezone.now(), **fields))


@contextmanager
def job_running(model: type[BackgroundJob], job_id: int, *, kept: str = NOTHING_KEPT) -> Iterator[JobRun | None]:
    """Claim the job and yield its JobRun (None: done, failed, or alive on another worker), beating meanwhile.
    A Superseded run ends quietly; JobFailed marks the job failed with its message; any other exception marks
    it failed in words (failure_reason) and is re-raised for the worker's log."""
    attempt = job_claim(model, job_id)
    if attempt is None:
        yield None
        return
    run = JobRun(model, job_id, attempt)
    # A connection of another thread cannot see rows of a transaction that is still open (a test's, a caller's).
    if not connection.in_atomic_block:
        run.heartbeat = _Heartbeat(run.writes, settings.JOB_HEARTBEAT_INTERVAL.total_seconds())
        run.heartbeat.start()
    try:
        yield run
    except Superseded:
        return
    except JobFailed as exc:
        run.fail(str(exc))
    except Exception as exc:
        logger.exception("%s %s failed (attempt %s)", model.__name__, job_id, attempt)
        run.fail(failure_reason(exc, kept))
        raise
    finally:
        if run.heartbeat is not None:
            run.heartbeat.stop()


# --- sending --------------------------------------------------------------------------------------------


def job_send(job: BackgroundJob) -> bool:
    """Hand the job's task to the broker now, once (callers decide what a failure means)."""
    try:
        current_app.send_task(job.task_name, (job.id,), retry=False)
    except Exception as exc:  # kombu.OperationalError, redis/socket errors: the broker is unreachable
        logger.warning("Could not queue %s %s: %s", type(job).__name__, job.id, exc)
        return False
    type(job).objects.filter(id=job.id).update(sent_at=timezone.now())
    return True


def job_send_or_fail(job: BackgroundJob, unavailable: str) -> BackgroundJob:
    """Send a job a person asked for, whose row is committed. If the broker cannot take it, the job is marked
    failed (so no sweep sends it later and nothing runs unasked) and ServiceUnavailable(`unavailable`) raised.
    Not `delay_on_commit`: a publish that fails after the commit could no longer change the answer."""
    if job_send(job):
        return job
    failed = type(job).objects.filter(id=job.id, status=JobStatus.QUEUED)
    if not failed.update(status=JobStatus.FAILED, failure=BROKER_DOWN, finished_at=timezone.now()):
        return job  # the message did get through after all: a worker claimed the job meanwhile
    raise ServiceUnavailable(unavailable)


def job_models() -> list[type[BackgroundJob]]:
    return [model for model in apps.get_models() if issubclass(model, BackgroundJob)]


def jobs_requeue_stale() -> int:
    """Re-send jobs whose worker died (stale heartbeat; once per lapse), jobs never sent, and sent jobs that
    never started (after RESEND_UNSTARTED, or at once when the broker restarted and lost its messages since the
    last sweep); returns how many were sent."""
    now = timezone.now()
    cutoff = now - settings.JOB_LEASE
    unstarted_since = now if _broker_restarted() else now - RESEND_UNSTARTED
    resend = Q(sent_at__isnull=True) | Q(sent_at__lt=unstarted_since)
    dead = Q(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff) & (resend | Q(sent_at__lt=F("heartbeat_at")))
    waiting = Q(status=JobStatus.QUEUED) & (Q(created_at__lt=cutoff) | Q(sent_at__lt=unstarted_since)) & resend
    count = 0
    for model in job_models():
        for job in model.objects.filter(dead | waiting).filter(model.sweepable()).order_by("id"):
            count += job_send(job)
    return count


_broker_seen: dict[str, str] = {}  # broker URL -> the server run id the last sweep in this process saw


def _broker_restarted() -> bool:
    """Whether the broker is a Redis server that restarted since this process last looked (its run id changed):
    a Redis that keeps nothing on disk comes back empty, so every message sent before is gone. False the first
    time, for other brokers, and when the broker cannot be asked (the sends below will fail and say so)."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return False
    try:
        with current_app.connection_for_write() as conn:
            run_id = conn.default_channel.client.info("server")["run_id"]
    except Exception as exc:  # a broker that is down or hangs: the sweep's sends report it
        logger.warning("Could not ask the broker whether it restarted: %s", exc)
        return False
    previous, _broker_seen[url] = _broker_seen.get(url), run_id
    return previous is not None and previous != run_id
