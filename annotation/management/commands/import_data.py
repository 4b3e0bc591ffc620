from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.io.archive import archive_import
from annotation.jobs import import_job_create_local, import_job_execute
from annotation.models import ImportJob, JobStatus, Project
from core.errors import DomainError
from core.models import User


def project_by_id_or_name(value: str) -> Project:
    project = Project.objects.filter(id=int(value)).first() if value.isdigit() else None
    project = project or Project.objects.filter(name__iexact=value).first()
    if project is None:
        raise CommandError(f"No project with id or name {value!r}.")
    return project


class Command(BaseCommand):
    help = (
        "Import a table (CSV/TSV/JSONL/Parquet) or images (a folder, with one sub-folder per class if wanted, or "
        "a zip) into a project, in this process; the same importer as the API's background jobs. Given a Loupe "
        "project archive (*.loupe.zip), create a new project with that name from it instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("path", type=Path, help="a table file, an image folder, or a zip")
        parser.add_argument("--user", help="who the import (and its labels) is recorded as; default: first admin")
        parser.add_argument("--valid-only", action="store_true", help="import valid rows/files, report the rest")
        parser.add_argument("--format", choices=["csv", "tsv", "jsonl", "parquet"])
        parser.add_argument("--encoding")
        parser.add_argument("--delimiter")
        parser.add_argument("--id-column")
        parser.add_argument("--label-column")
        parser.add_argument("--labels-from-folders", action="store_true")

    def handle(self, *args, project, path, user, valid_only, **options):
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        users = User.objects.filter(username=user) if user else User.objects.filter(is_superuser=True)
        owner = users.order_by("id").first()
        if owner is None:
            raise CommandError("No such user; pass --user.")
        if path.name.endswith(".loupe.zip"):
            try:
                with path.open("rb") as source:
                    created = archive_import(source=source, name=project, owner=owner)
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"Created {created.name} from {path.name}: {created.items.count()} items")
            return
        project = project_by_id_or_name(project)
        keys = ("format", "encoding", "delimiter", "id_column", "label_column", "labels_from_folders")
        job = import_job_create_local(
            project=project,
            user=owner,
            path=path.resolve(),
            mode=ImportJob.Mode.VALID_ONLY if valid_only else ImportJob.Mode.ALL_OR_NOTHING,
            options={k: options[k] for k in keys if options.get(k)},
        )
        import_job_execute(job_id=job.id)
        job.refresh_from_db()
        for error in job.errors[:20]:
            self.stderr.write(f"  {error['where']}: {error['reason']}")
        summary = (
            f"{job.created_count} items created, {job.duplicate_count} duplicates skipped, "
            f"{job.annotation_count} labels imported, {job.error_count} errors"
        )
        if job.status != JobStatus.DONE:
            raise CommandError(f"Import failed: {job.failure} ({summary})")
        self.stdout.write(f"Imported into {project.name}: {summary}")
