"""Background jobs of every kind (core.jobs): the claim and its fencing, the heartbeat, the requeue sweep, queues
by kind of work and a dead worker's job taken over (real worker processes), the broker down when a person asks
for a job, and failures said in words."""

import errno
import hashlib
import os
import signal
import socket
import subprocess
import sys
from datetime import timedelta

import numpy as np
import pytest
from celery import current_app
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F
from django.utils import timezone
from sklearn.datasets import load_digits

from active_learning import artifacts, services, training
from active_learning.models import LearningRun
from annotation.demo import digit_png
from annotation.jobs import export_job_execute
from annotation.models import DataKind, ExportJob, ImportJob, Item, Project, RankedItem
from core import jobs as core_jobs
from core.db import write_transaction
from core.jobs import BROKER_DOWN, MAX_ATTEMPTS, Superseded, job_claim, job_running, job_writes, jobs_requeue_stale
from core.models import BrokerProbe, JobStatus, WorkerHeartbeat
from core.tasks import receive_broker_probe
from loupe.celery import app
from tests.factories import UserFactory, make_project
from tests.integration.conftest import ROOT, client_for
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
TAKEOVER_PROMISE_S = 60  # a dead worker's job is taken over within this of its last heartbeat


@pytest.fixture
def manager():
    return UserFactory(username="manager", is_staff=True)


def table_project(owner, n_items: int, name: str = "Table") -> Project:
    project = make_project(owner=owner, name=name, data_kind=DataKind.TABULAR, labels=[{"name": "a"}, {"name": "b"}])
    project.columns = [{"name": f"x{j}", "type": "numeric"} for j in range(8)]
    project.save(update_fields=["columns"])
    values = np.random.default_rng(0).normal(size=(n_items, 8)).round(4)
    Item.objects.bulk_create(
        (
            Item(project=project, external_id=f"r{i}", data={f"x{j}": float(v) for j, v in enumerate(row)})
            for i, row in enumerate(values)
        ),
        batch_size=5_000,
    )
    return project


def export_job(project: Project, owner) -> ExportJob:
    return ExportJob.objects.create(project=project, created_by=owner, format="csv")


def lapse(model, job_id: int, by: timedelta) -> None:
    """Time passes for a job: its heartbeat and its last send are `by` older."""
    model.objects.filter(id=job_id).update(heartbeat_at=F("heartbeat_at") - by, sent_at=F("sent_at") - by)


# --- the claim ------------------------------------------------------------------------------------------


def test_a_queued_job_is_claimed_once_however_often_it_is_delivered(manager):
    job = export_job(table_project(manager, 3), manager)

    assert job_claim(ExportJob, job.id) == 1
    assert job_claim(ExportJob, job.id) is None  # alive on the first worker
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 1)
    assert job.started_at is not None
    assert job.heartbeat_at is not None


def test_a_stale_job_is_taken_over_and_the_old_attempt_can_no_longer_write(manager, settings):
    job = export_job(table_project(manager, 3), manager)
    first = job_claim(ExportJob, job.id)
    lapse(ExportJob, job.id, settings.JOB_LEASE + timedelta(seconds=1))

    second = job_claim(ExportJob, job.id)
    assert (first, second) == (1, 2)
    assert job_claim(ExportJob, job.id) is None  # the new attempt's heartbeat is fresh
    assert job_writes(ExportJob, job.id, first).update(processed=7) == 0
    assert job_writes(ExportJob, job.id, second).update(processed=7) == 1


def test_a_job_that_keeps_dying_fails_with_the_reason_after_max_attempts(manager, settings):
    job = export_job(table_project(manager, 3), manager)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert job_claim(ExportJob, job.id) == attempt
        lapse(ExportJob, job.id, settings.JOB_LEASE + timedelta(seconds=1))

    assert job_claim(ExportJob, job.id) is None
    assert job_claim(ExportJob, job.id) is None  # and stays failed
    job.refresh_from_db()
    assert (job.status, job.attempts, job.failure) == (JobStatus.FAILED, MAX_ATTEMPTS, "Gave up after 3 attempts.")


# --- the heartbeat --------------------------------------------------------------------------------------


def test_a_running_job_beats_while_it_reports_no_progress(manager, settings):
    settings.JOB_HEARTBEAT_INTERVAL = timedelta(seconds=0.1)
    job = export_job(table_project(manager, 3), manager)
    with job_running(ExportJob, job.id) as run:
        claimed_at = ExportJob.objects.get(id=job.id).heartbeat_at
        wait_until(lambda: ExportJob.objects.get(id=job.id).heartbeat_at > claimed_at, 10, "a heartbeat")
    assert not run.heartbeat.is_alive()  # it stops with the run


def test_a_run_taken_over_stops_at_its_next_progress_call(manager, settings):
    settings.JOB_HEARTBEAT_INTERVAL = timedelta(seconds=0.1)
    job = export_job(table_project(manager, 3), manager)
    went_on = []
    with job_running(ExportJob, job.id) as run:
        ExportJob.objects.filter(id=job.id).update(attempts=F("attempts") + 1)  # another worker took it over
        wait_until(run.heartbeat.superseded.is_set, 10, "the heartbeat to notice")
        run.beat(processed=1)
        went_on.append(True)
    assert went_on == []
    job.refresh_from_db()
    assert (job.status, job.processed, job.failure) == (JobStatus.RUNNING, 0, "")  # the new attempt's to write


def test_superseded_is_quiet_and_any_other_error_fails_the_job_in_words(manager):
    project = table_project(manager, 3)
    quiet, loud = export_job(project, manager), export_job(project, manager)
    with job_running(ExportJob, quiet.id):
        raise Superseded
    with pytest.raises(KeyError), job_running(ExportJob, loud.id):
        raise KeyError("column 'x9'")
    quiet.refresh_from_db(), loud.refresh_from_db()
    assert quiet.status == JobStatus.RUNNING
    assert loud.status == JobStatus.FAILED
    assert "KeyError" not in loud.failure
    assert "column" not in loud.failure
    assert loud.failure.endswith("nothing was saved.")


# --- the sweep ------------------------------------------------------------------------------------------


@pytest.fixture
def sent(monkeypatch):
    """Messages handed to the broker (the boundary), instead of sending them."""
    messages = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args, **options: messages.append((name, args[0])))
    return messages


def test_the_sweep_resends_dead_and_unsent_jobs_of_every_kind_once(manager, settings, sent):
    project = table_project(manager, 3)
    long_ago = timezone.now() - settings.JOB_LEASE - timedelta(seconds=5)
    dead = export_job(project, manager)
    job_claim(ExportJob, dead.id)
    lapse(ExportJob, dead.id, settings.JOB_LEASE + timedelta(seconds=1))
    alive = export_job(project, manager)
    job_claim(ExportJob, alive.id)
    unsent = ImportJob.objects.create(project=project, created_by=manager, kind="table", source_dir="imports/x")
    command_line = ImportJob.objects.create(project=project, created_by=manager, kind="table", source_dir="")
    embed = LearningRun.objects.create(project=project, kind=LearningRun.Kind.EMBED, reason="import")
    failed = export_job(project, manager)
    ExportJob.objects.filter(id=failed.id).update(status=JobStatus.FAILED)
    fresh = export_job(project, manager)  # its request may still be sending it
    for model in (ExportJob, ImportJob, LearningRun):
        model.objects.exclude(id=fresh.id).update(created_at=long_ago)

    assert jobs_requeue_stale() == 3
    assert sorted(sent) == sorted(
        [
            ("annotation.tasks.run_export", dead.id),
            ("annotation.tasks.run_import", unsent.id),
            ("active_learning.tasks.run_embed", embed.id),
        ]
    )
    assert jobs_requeue_stale() == 0  # sent once; the claim decides who runs
    assert command_line.id not in [job_id for name, job_id in sent if name.endswith("run_import")]


def test_after_a_redis_restart_the_sweep_resends_every_job_sent_but_not_started(manager, settings, sent):
    """A Redis that keeps nothing on disk comes back empty: jobs sent before it went are sent again at the next
    sweep, not minutes later. The restart is seen as a new server run id; here the sweep is told it last saw
    another one."""
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the embedded broker keeps its messages in its database file")
    project = table_project(manager, 3)
    waiting = export_job(project, manager)
    ExportJob.objects.filter(id=waiting.id).update(sent_at=timezone.now())  # sent a moment ago, not started

    assert jobs_requeue_stale() == 0  # the first sweep learns the server's run id
    core_jobs._broker_seen[settings.CELERY_BROKER_URL] = "a server that is gone"
    assert jobs_requeue_stale() == 1
    assert sent == [("annotation.tasks.run_export", waiting.id)]
    assert jobs_requeue_stale() == 0  # the same server since: nothing more


def test_the_default_timings_take_a_dead_workers_job_over_within_a_minute():
    """With nothing configured, lease + sweep interval leave time for the pick-up inside the promise, and a
    live job can miss three beats before it looks dead."""
    code = (
        "from loupe import settings as s; "
        "print(s.JOB_HEARTBEAT_INTERVAL.total_seconds(), s.JOB_LEASE.total_seconds(), "
        "s.JOB_SWEEP_INTERVAL.total_seconds(), s.CELERY_BEAT_SCHEDULE['requeue-stale-jobs']['schedule'])"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("JOB_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    beat, lease, sweep, scheduled = map(float, out.stdout.split())
    assert lease + sweep + 10 <= TAKEOVER_PROMISE_S  # 10 s for the pick-up and a late sweep
    assert 3 * beat <= lease
    assert scheduled == sweep


def test_learning_status_says_when_a_rankings_worker_died(manager, settings):
    project = table_project(manager, 3)
    previous = fake_embedding(project, manager)
    LearningRun.objects.create(project=project, kind=LearningRun.Kind.RANK, reason="embedding", status="done")
    rank = LearningRun.objects.create(project=project, kind=LearningRun.Kind.RANK, reason="labels", embedding=previous)
    job_claim(LearningRun, rank.id)
    WorkerHeartbeat.objects.create(hostname="other@host", pid=1, started_at=timezone.now(), last_seen_at=timezone.now())
    url = f"/api/v1/projects/{project.id}/learning/"
    assert "worker running the ranking stopped" not in client_for(manager).get(url).json()["stale_reason"]

    lapse(LearningRun, rank.id, settings.JOB_LEASE + timedelta(seconds=1))

    status = client_for(manager).get(url).json()
    assert status["stale"] is True
    assert "worker running the ranking stopped" in status["stale_reason"]


# --- failures in words ----------------------------------------------------------------------------------


def test_a_run_that_cannot_be_done_says_why_in_its_own_words(manager):
    run = LearningRun.objects.create(project=table_project(manager, 1), kind=LearningRun.Kind.EMBED, reason="request")

    training.embed_run_execute(run_id=run.id)
    training.embed_run_execute(run_id=run.id)  # a redelivery changes nothing

    run.refresh_from_db()
    assert (run.status, run.attempts) == (JobStatus.FAILED, 1)
    assert run.failure == "At least two items are needed to train an autoencoder."


def test_an_export_on_a_full_disk_fails_in_words_and_leaves_no_partial_file(manager, monkeypatch):
    job = export_job(table_project(manager, 300), manager)

    def chunks_then_full(self, chunk_size=None):
        yield self.read(64)  # a partial file lands in storage
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(File, "chunks", chunks_then_full)
    with pytest.raises(OSError, match="No space left"):
        export_job_execute(job_id=job.id)
    export_job_execute(job_id=job.id)  # a redelivery changes nothing

    job.refresh_from_db()
    assert (job.status, job.failure, job.file.name) == (
        JobStatus.FAILED,
        "The server's disk is full; nothing was saved.",
        "",
    )
    assert default_storage.listdir(f"exports/{job.project_id}")[1] == []


# --- the broker down ------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns


@pytest.fixture
def unreachable_broker(celery_broker):
    """This process publishes to a closed port (a Redis broker that is down) until the returned function puts
    the real broker back."""
    celery_broker(f"redis://127.0.0.1:{_closed_port()}/0")
    return lambda: celery_broker(None)


def test_jobs_asked_for_with_the_broker_down_answer_503_and_never_run(manager, start_worker, unreachable_broker):
    project = table_project(manager, 20)
    api = client_for(manager)
    base = f"/api/v1/projects/{project.id}"
    upload = SimpleUploadedFile("t.csv", b"x0,x1\n1,2\n3,4\n")

    responses = [
        api.post(f"{base}/imports/", {"files": [upload], "mode": "all_or_nothing"}, format="multipart"),
        api.post(f"{base}/exports/", {"format": "csv"}, format="json"),
        api.post(f"{base}/learning/train/"),
    ]

    assert [r.status_code for r in responses] == [503, 503, 503]
    assert all("broker is unreachable" in r.json()["detail"] for r in responses)
    jobs = [ImportJob.objects.get(), ExportJob.objects.get(), LearningRun.objects.get()]
    for job in jobs:
        assert (job.status, job.failure, job.attempts) == (JobStatus.FAILED, BROKER_DOWN, 0)
    assert default_storage.listdir(jobs[0].source_dir) == ([], [])  # the upload is not kept for nothing

    unreachable_broker()  # the broker is back; a worker starts
    start_worker()
    assert jobs_requeue_stale() == 0
    for job in jobs:  # even a message that got through after all runs nothing
        current_app.send_task(job.task_name, (job.id,))
    probes = [BrokerProbe.objects.create() for _ in app.conf.task_queues]
    for probe, queue in zip(probes, app.conf.task_queues, strict=True):  # sent last on each queue
        receive_broker_probe.apply_async((probe.id,), queue=queue.name)
    wait_until(lambda: not BrokerProbe.objects.filter(received_at=None).exists(), 60, "the worker to drain both queues")
    for job in jobs:
        job.refresh_from_db()
        assert (job.status, job.attempts) == (JobStatus.FAILED, 0)


# --- real workers: queues by kind of work, a dead worker's job taken over ----------------------------------


def test_work_is_routed_by_kind(settings):
    kinds = {
        "active_learning.tasks.run_embed": "training",
        "active_learning.tasks.run_map": "training",
        "active_learning.tasks.run_simulate": "training",
        "active_learning.tasks.run_rank": "rankings",
        "annotation.tasks.run_import": "interactive",
        "annotation.tasks.run_export": "interactive",
        "core.tasks.requeue_stale_jobs": "interactive",
        "core.tasks.receive_broker_probe": "interactive",
    }
    for task, kind in kinds.items():
        queue = app.amqp.router.route({}, task, (1,), {})["queue"]
        assert (queue.name, queue.routing_key) == (settings.TASK_QUEUES[kind], settings.TASK_QUEUES[kind]), task


def fake_embedding(project: Project, owner) -> LearningRun:
    """A finished embed run with arrays of the right shapes, as an earlier embedding left them."""
    ids = np.array(list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True)))
    rng = np.random.default_rng(0)
    run = LearningRun.objects.create(project=project, kind=LearningRun.Kind.EMBED, reason="import", status="done")
    path = artifacts.save(
        project_id=project.id,
        run_id=run.id,
        attempt=1,
        name="embed",
        item_ids=ids,
        embedding=rng.normal(size=(len(ids), 4)).astype(np.float32),
        features=rng.normal(size=(len(ids), 8)).astype(np.float32),
        reconstruction_error=rng.random(len(ids)).astype(np.float32),
        typicality=rng.random(len(ids)).astype(np.float32),
        map=rng.normal(size=(len(ids), 2)).astype(np.float32),
    )
    LearningRun.objects.filter(id=run.id).update(artifact=path, finished_at=timezone.now())
    return run


def test_an_export_and_a_ranking_finish_while_an_embedding_runs(manager, start_worker):
    project = table_project(manager, 10_000)
    previous = fake_embedding(project, manager)
    training_worker = start_worker(queues=["training"])
    start_worker(queues=["interactive", "rankings"])
    embed = services.training_run_request(project=project, reason="request", user=manager)
    wait_until(lambda: LearningRun.objects.filter(id=embed.id, status=JobStatus.RUNNING).exists(), 60, "the embed")
    # Held mid-embed however fast this machine trains (on SQLite, frozen outside a write of its own).
    with write_transaction():
        training_worker.send_signal(signal.SIGSTOP)

    export = client_for(manager).post(f"/api/v1/projects/{project.id}/exports/", {"format": "csv"}, format="json")
    rank = services.ranking_request(project=project, reason="request", user=manager, quiet=False)
    done = wait_until(
        lambda: ExportJob.objects.filter(id=export.data["id"], status=JobStatus.DONE).first(), 60, "the export"
    )
    ranked = wait_until(lambda: LearningRun.objects.filter(id=rank.id, status=JobStatus.DONE).first(), 60, "the rank")

    assert LearningRun.objects.get(id=embed.id).status == JobStatus.RUNNING  # both finished beside it
    assert done.processed == 10_000
    assert ranked.embedding_id == previous.id  # the ranking used the previous embedding
    training_worker.kill()  # frozen mid-embed


def test_a_killed_workers_run_is_taken_over_within_a_minute_of_its_last_heartbeat(manager, start_worker):
    fast = {"JOB_HEARTBEAT_INTERVAL_S": "0.5", "JOB_LEASE_S": "3", "JOB_SWEEP_INTERVAL_S": "1"}
    project = make_project(owner=manager, name="Digits", labels=[{"name": str(d)} for d in range(10)])
    for index, pixels in enumerate(load_digits().images[:200]):
        png = digit_png(pixels)
        item = Item(project=project, external_id=f"digit-{index}", content_hash=hashlib.sha256(png).hexdigest())
        item.image.save(f"d{index}.png", ContentFile(png), save=False)
        item.save()
    doomed = start_worker(env=fast)
    run = services.training_run_request(project=project, reason="request", user=manager)
    claimed = wait_until(lambda: LearningRun.objects.filter(id=run.id, status=JobStatus.RUNNING).first(), 60, "a claim")
    wait_until(lambda: LearningRun.objects.get(id=run.id).heartbeat_at > claimed.heartbeat_at, 30, "a heartbeat")
    start_worker(env=fast, beat=True)  # idle: the queue is empty until the sweep re-sends the run

    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    last_heartbeat = LearningRun.objects.get(id=run.id).heartbeat_at
    taken = wait_until(
        lambda: LearningRun.objects.filter(id=run.id, attempts=2).first(), TAKEOVER_PROMISE_S + 30, "the takeover"
    )

    assert (taken.started_at - last_heartbeat).total_seconds() < TAKEOVER_PROMISE_S
    finished = wait_until(
        lambda: LearningRun.objects.filter(id=run.id, status__in=[JobStatus.DONE, JobStatus.FAILED]).first(),
        300,  # a whole training run again, on a busy machine
        "the run to finish",
    )
    assert (finished.status, finished.attempts) == (JobStatus.DONE, 2), finished.failure
    ranked = wait_until(
        lambda: LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK, status=JobStatus.DONE).first(),
        60,
        "the ranking that follows",
    )
    project.refresh_from_db()
    assert project.current_ranking.run_id == ranked.id
    assert RankedItem.objects.filter(ranking=project.current_ranking).count() == 200  # nothing stuck
