import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.io.exporters import FORMATS, ExportRefused
from annotation.jobs import export_to_path
from annotation.management.commands.import_data import project_by_id_or_name


class Command(BaseCommand):
    help = "Export a project (or a filtered part of it) to a local file; the same writers as the API's exports."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("output", type=Path, help="file to write")
        parser.add_argument("--format", choices=list(FORMATS), required=True)
        parser.add_argument("--filters", default="{}", help='JSON, e.g. {"status": "done", "label": "cat"}')

    def handle(self, *args, project, output, format, filters, **options):
        project = project_by_id_or_name(project)
        try:
            count = export_to_path(project=project, fmt=format, filters=json.loads(filters), path=output)
        except (ExportRefused, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Exported {count} items of {project.name} to {output}")
