"""Import and export jobs: created by the web process, run by a worker.

A run is claimed with a conditional UPDATE (queued, or running with a stale heartbeat after a worker died), so a
repeated delivery is harmless; progress and the heartbeat are written after every batch; a job that keeps
dying stops after MAX_ATTEMPTS with the reason. Re-running an import never duplicates items (content hashes).
"""

import logging
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from annotation import schemas
from annotation.io import exporters, importers
from annotation.models import DataKind, ExportJob, ImportJob, JobStatus, Project
from core.errors import InvalidInput
from core.models import User

logger = logging.getLogger(__name__)
RUN_LEASE = timedelta(minutes=5)  # a running job whose heartbeat is older than this has lost its worker
MAX_ATTEMPTS = 3


# --- imports ----------------------------------------------------------------------------------------


def import_job_create(
    *, project: Project, user: User, files: list[UploadedFile], mode: str, options: dict
) -> ImportJob:
    """Keep the uploaded files in storage and queue the import."""
    checked = schemas.ImportOptions.model_validate(options)
    if checked.local_path:
        raise InvalidInput("local_path is for the command line only.", field="options")
    if not files:
        raise InvalidInput("Upload at least one file.", field="files")
    if project.data_kind == DataKind.TABULAR and len(files) != 1:
        raise InvalidInput("A table import takes exactly one file.", field="files")
    source_dir = f"imports/{project.id}/{uuid.uuid4().hex}"
    for upload in files:
        default_storage.save(f"{source_dir}/{Path(upload.name).name or 'upload'}", upload)
    return _import_job_queue(project=project, user=user, mode=mode, options=checked, source_dir=source_dir)


def import_job_create_local(*, project: Project, user: User, path: Path, mode: str, options: dict) -> ImportJob:
    """An import of a server-side file or folder (the CLI), read in place."""
    checked = schemas.ImportOptions.model_validate({**options, "local_path": str(path)})
    return _import_job_queue(project=project, user=user, mode=mode, options=checked, source_dir="")


def _import_job_queue(*, project, user, mode, options, source_dir) -> ImportJob:
    from annotation.tasks import run_import

    job = ImportJob.objects.create(
        project=project,
        created_by=user,
        mode=mode,
        options=options.model_dump(exclude_none=True),
        kind=ImportJob.Kind.TABLE if project.data_kind == DataKind.TABULAR else ImportJob.Kind.IMAGES,
        source_dir=source_dir,
    )
    if not options.local_path:
        run_import.delay_on_commit(job.id)
    return job


class Superseded(Exception):
    """This run's heartbeat lapsed and another worker took the job over: stop without writing anything more."""


def job_claim(model, job_id: int) -> int | None:
    """Take the job (queued, or running with a stale heartbeat); returns this run's attempt number."""
    now = timezone.now()
    stale = Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - RUN_LEASE)
    claimable = model.objects.filter(Q(status=JobStatus.QUEUED) | stale, id=job_id)
    with transaction.atomic():
        if claimable.filter(attempts__lt=MAX_ATTEMPTS).update(
            status=JobStatus.RUNNING, heartbeat_at=now, attempts=F("attempts") + 1
        ):
            return model.objects.filter(id=job_id).values_list("attempts", flat=True).get()
    claimable.update(status=JobStatus.FAILED, failure=f"Gave up after {MAX_ATTEMPTS} attempts.", finished_at=now)
    return None


def job_writes(model, job_id: int, attempt: int):
    """Writes of a run are fenced by its attempt number, so a run that was taken over cannot overwrite the
    newer run's progress or result."""
    return model.objects.filter(id=job_id, status=JobStatus.RUNNING, attempts=attempt)


def import_job_execute(*, job_id: int) -> None:
    attempt = job_claim(ImportJob, job_id)
    if attempt is None:
        return  # done, failed, or alive on another worker
    job = ImportJob.objects.select_related("project", "created_by").get(id=job_id)
    mine = job_writes(ImportJob, job_id, attempt)

    def progress(outcome: importers.Outcome) -> None:
        if not mine.update(heartbeat_at=timezone.now(), **_outcome_fields(outcome)):
            raise Superseded

    try:
        outcome = importers.run(job, progress)
    except Superseded:
        return
    except importers.ImportFailed as exc:
        fields = _outcome_fields(exc.outcome) if exc.outcome else {}
        mine.update(status=JobStatus.FAILED, failure=str(exc), finished_at=timezone.now(), **fields)
        return
    except Exception as exc:
        mine.update(status=JobStatus.FAILED, failure=f"{type(exc).__name__}: {exc}", finished_at=timezone.now())
        raise
    if not mine.update(status=JobStatus.DONE, finished_at=timezone.now(), **_outcome_fields(outcome)):
        return
    if job.source_dir:
        _storage_dir_delete(job.source_dir)
    if outcome.created:
        from active_learning.services import training_run_request

        training_run_request(project=job.project, reason="import", quiet=True)  # new items: embed them


def _outcome_fields(outcome: importers.Outcome) -> dict:
    return {
        "total": outcome.total,
        "processed": outcome.processed,
        "created_count": outcome.created,
        "duplicate_count": outcome.duplicates,
        "annotation_count": outcome.annotations,
        "errors": outcome.errors,
        "error_count": outcome.error_count,
    }


def _storage_dir_delete(path: str) -> None:
    _, names = default_storage.listdir(path)
    for name in names:
        default_storage.delete(f"{path}/{name}")


# --- exports ----------------------------------------------------------------------------------------


def export_job_create(*, project: Project, user: User, fmt: str, filters: dict) -> ExportJob:
    from annotation.tasks import run_export

    try:
        exporters.check_format(project, fmt)
    except exporters.ExportRefused as exc:
        raise InvalidInput(str(exc), field="format") from exc
    checked = schemas.ExportFilters.model_validate(filters)
    job = ExportJob.objects.create(
        project=project, created_by=user, format=fmt, filters=checked.model_dump(mode="json", exclude_none=True)
    )
    run_export.delay_on_commit(job.id)
    return job


def export_job_execute(*, job_id: int) -> None:
    attempt = job_claim(ExportJob, job_id)
    if attempt is None:
        return
    job = ExportJob.objects.select_related("project").get(id=job_id)
    mine = job_writes(ExportJob, job_id, attempt)
    mine.update(total=job.project.items.count())

    def progress(done: int) -> None:
        if not mine.update(processed=done, heartbeat_at=timezone.now()):
            raise Superseded

    try:
        with tempfile.TemporaryFile(dir=_scratch_dir()) as out:
            count = exporters.write(job.project, job.format, job.filters, out, progress)
            out.seek(0)
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            name = default_storage.save(
                f"exports/{job.project_id}/{job.id}-{attempt}-{stamp}{exporters.FORMATS[job.format]}", File(out)
            )
    except Superseded:
        return
    except Exception as exc:
        mine.update(status=JobStatus.FAILED, failure=f"{type(exc).__name__}: {exc}", finished_at=timezone.now())
        raise
    # The file becomes downloadable only here, once it is complete.
    if not mine.update(status=JobStatus.DONE, file=name, processed=count, finished_at=timezone.now()):
        default_storage.delete(name)  # another run took over meanwhile; its own file will be the one


def export_to_path(*, project: Project, fmt: str, filters: dict, path: Path) -> int:
    """The CLI's export: straight to a local file, same writers."""
    exporters.check_format(project, fmt)
    with open(path, "wb") as out:
        return exporters.write(project, fmt, filters, out)


def _scratch_dir() -> Path:
    path = Path(settings.DATA_DIR) / "tmp"
    path.mkdir(exist_ok=True)
    return path


def jobs_requeue_stale() -> int:
    """Re-send jobs whose worker died (stale heartbeat) and jobs never picked up; the claim decides who runs."""
    from annotation.tasks import run_export, run_import

    cutoff = timezone.now() - RUN_LEASE
    count = 0
    for model, task in ((ImportJob, run_import), (ExportJob, run_export)):
        stale = model.objects.filter(
            Q(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff) | Q(status=JobStatus.QUEUED, created_at__lt=cutoff)
        )
        if model is ImportJob:
            stale = stale.exclude(source_dir="")  # command-line imports run in their own process
        for job_id in stale.values_list("id", flat=True):
            task.delay(job_id)
            count += 1
    return count
