"""Import and export jobs: created by the web process, run by a worker (claimed, kept alive and fenced by
core.jobs). Re-running an import never duplicates items (content hashes); an export's file appears in storage
only once it is complete.
"""

import logging
import tempfile
import threading
import uuid
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, connections
from django.utils import timezone

from annotation import schemas
from annotation.io import archive, exporters, importers
from annotation.models import DataKind, ExportJob, ImportJob, Project
from core.errors import InvalidInput, ServiceUnavailable
from core.jobs import job_running, job_send_or_fail
from core.models import User
from integrations.services import event_emit

logger = logging.getLogger(__name__)
IMPORT_KEPT = "the items imported before it stopped are kept, and importing again skips them."


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


def archive_import_job_create(*, upload: UploadedFile, name: str, owner: User) -> ImportJob:
    """A new, empty project with the archive's settings, and a job that restores the archive into it. The
    archive's manifest is checked here, so a file that is not an archive is refused before anything exists."""
    manifest = archive.archive_manifest(upload)
    project = archive.archive_project_create(manifest=manifest, name=name, owner=owner)
    source_dir = f"imports/{project.id}/{uuid.uuid4().hex}"
    upload.seek(0)
    default_storage.save(f"{source_dir}/project.loupe.zip", upload)
    job = ImportJob.objects.create(
        project=project, created_by=owner, kind=ImportJob.Kind.ARCHIVE, options={}, source_dir=source_dir
    )
    try:
        return job_send_or_fail(job, "The task broker is unreachable, so the import cannot start now; try again.")
    except ServiceUnavailable:
        project.delete()
        _storage_dir_delete(source_dir)
        raise


def import_job_create_local(*, project: Project, user: User, path: Path, mode: str, options: dict) -> ImportJob:
    """An import of a server-side file or folder (the CLI), read in place."""
    checked = schemas.ImportOptions.model_validate({**options, "local_path": str(path)})
    return _import_job_queue(project=project, user=user, mode=mode, options=checked, source_dir="")


def _import_job_queue(*, project, user, mode, options, source_dir) -> ImportJob:
    job = ImportJob.objects.create(
        project=project,
        created_by=user,
        mode=mode,
        options=options.model_dump(exclude_none=True),
        kind=ImportJob.Kind.TABLE if project.data_kind == DataKind.TABULAR else ImportJob.Kind.IMAGES,
        source_dir=source_dir,
    )
    if options.local_path:
        return job  # the command line runs it itself
    try:
        return job_send_or_fail(job, "The task broker is unreachable, so the import cannot start now; try again.")
    except ServiceUnavailable:
        _storage_dir_delete(source_dir)  # the failed job will never read its files
        raise


def import_job_execute(*, job_id: int) -> None:
    finished = False  # stays False when the run is superseded (job_running ends it quietly)
    with job_running(ImportJob, job_id, kept=IMPORT_KEPT) as run:
        if run is None:
            return  # done, failed, or alive on another worker
        job = ImportJob.objects.select_related("project", "created_by").get(id=job_id)
        try:
            outcome = importers.run(job, lambda outcome: run.beat(**_outcome_fields(outcome)))
        except importers.ImportFailed as exc:  # its message is already meant for the person importing
            run.fail(str(exc), **(_outcome_fields(exc.outcome) if exc.outcome else {}))
            return
        finished = run.finish(**_outcome_fields(outcome))
    if not finished:
        return
    data = {"import_id": job.id, **_outcome_fields(outcome)}
    event_emit(project_id=job.project_id, event="import.finished", data=data)
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
    try:
        exporters.check_format(project, fmt)
    except exporters.ExportRefused as exc:
        raise InvalidInput(str(exc), field="format") from exc
    checked = schemas.ExportFilters.model_validate(filters)
    job = ExportJob.objects.create(
        project=project, created_by=user, format=fmt, filters=checked.model_dump(mode="json", exclude_none=True)
    )
    return job_send_or_fail(job, "The task broker is unreachable, so the export cannot start now; try again.")


def export_job_execute(*, job_id: int) -> None:
    with job_running(ExportJob, job_id) as run:
        if run is None:
            return
        job = ExportJob.objects.select_related("project").get(id=job_id)
        run.beat(total=job.project.items.count())
        progress = partial(_progress_beside, run) if not connection.in_atomic_block else run.beat
        with tempfile.TemporaryFile(dir=_scratch_dir()) as out:
            count = exporters.write(job.project, job.format, job.filters, out, lambda done: progress(processed=done))
            out.seek(0)
            name = _export_file_save(job, run.attempt, out)
        # The file becomes downloadable only here, once it is complete.
        if not run.finish(file=name, processed=count):
            default_storage.delete(name)  # another run took over meanwhile; its own file will be the one
            return
    data = {"export_id": job.id, "format": job.format, "items": count}
    event_emit(project_id=job.project_id, event="export.finished", data=data)


def _progress_beside(run, **fields) -> None:
    """Progress written on a connection of its own: the export's connection holds its snapshot transaction, and
    a write there would conflict with the heartbeat's (PostgreSQL refuses it under REPEATABLE READ)."""
    failed: list[BaseException] = []

    def beat() -> None:
        try:
            run.beat(**fields)
        except BaseException as exc:  # Superseded included: raised again in the export's thread
            failed.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name="export-progress")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


def _export_file_save(job: ExportJob, attempt: int, out) -> str:
    """Copy the finished file into storage; a copy that fails part-way (a full disk) leaves nothing behind."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    name = default_storage.get_available_name(
        f"exports/{job.project_id}/{job.id}-{attempt}-{stamp}{exporters.FORMATS[job.format].extension}"
    )
    try:
        return default_storage.save(name, File(out))
    except BaseException:
        if default_storage.exists(name):  # the name was free before this save: what is there is its partial file
            default_storage.delete(name)
        raise


def export_to_path(*, project: Project, fmt: str, filters: dict, path: Path) -> int:
    """The CLI's export: straight to a local file, same writers."""
    exporters.check_format(project, fmt)
    with open(path, "wb") as out:
        return exporters.write(project, fmt, filters, out)


def _scratch_dir() -> Path:
    path = Path(settings.DATA_DIR) / "tmp"
    path.mkdir(exist_ok=True)
    return path
