"""Import and export API: upload files (a background job imports them), preview a table, export to a file."""

import re

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import jobs, schemas
from annotation.access import Capability, can_create_projects, project_for_user
from annotation.api.serializers import ProjectOutputSerializer
from annotation.io import exporters, importers, tables
from annotation.models import ExportJob, ImportJob
from core.api.fields import JSONField, NameField, TypedJSONField
from core.api.parsers import MultiPartParser
from core.errors import Conflict, DomainError, NotFound, PermissionDenied


class UploadTooLarge(DomainError):
    status_code = 413


def _check_upload_size(request) -> None:
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.UPLOAD_MAX_BYTES:
        raise UploadTooLarge(f"The upload is {length:,} bytes; the limit is {settings.UPLOAD_MAX_BYTES:,}.")


def _check_file_count(files: list) -> None:
    if len(files) > settings.UPLOAD_MAX_FILES:
        raise UploadTooLarge(
            f"The upload has {len(files):,} files; the limit is {settings.UPLOAD_MAX_FILES:,} (zip many images into "
            "one archive).",
            field="files",
        )


class ImportJobOutputSerializer(serializers.ModelSerializer):
    options = TypedJSONField(schemas.ImportOptions)
    # A declared field, which DRF's metaclass takes off the class: it does not hide Serializer.errors.
    errors = TypedJSONField(schemas.ImportProblems, help_text="The lines, rows or files refused (the first ones).")  # type: ignore[assignment]

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "mode",
            "options",
            "status",
            "total",
            "processed",
            "created_count",
            "duplicate_count",
            "annotation_count",
            "error_count",
            "errors",
            "failure",
            "attempts",
            "created_at",
            "finished_at",
        ]


class ExportJobOutputSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()
    filters = TypedJSONField(schemas.ExportFilters)

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "format",
            "filters",
            "status",
            "total",
            "processed",
            "failure",
            "created_at",
            "finished_at",
            "download_url",
        ]

    def get_download_url(self, job) -> str | None:
        if job.status != "done":
            return None
        return f"/api/v1/projects/{job.project_id}/exports/{job.id}/download/"


class ImportListApi(APIView):
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        files = serializers.ListField(child=serializers.FileField(allow_empty_file=False), allow_empty=False)
        mode = serializers.ChoiceField(choices=ImportJob.Mode.choices, default=ImportJob.Mode.ALL_OR_NOTHING)
        options = JSONField(binary=True, required=False, default=dict, help_text="schemas.ImportOptions")

    @extend_schema(responses=ImportJobOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        return Response(ImportJobOutputSerializer(project.import_jobs.all()[:100], many=True).data)

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={202: ImportJobOutputSerializer})
    def post(self, request, project_id: int):
        _check_upload_size(request)
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        _check_file_count(request.FILES.getlist("files"))
        # dict(...items()): an empty body parses to a plain dict, a form to a QueryDict (last value per key).
        data = self.InputSerializer(data={**dict(request.data.items()), "files": request.FILES.getlist("files")})
        data.is_valid(raise_exception=True)
        job = jobs.import_job_create(project=project, user=request.user, **data.validated_data)
        return Response(ImportJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetailApi(APIView):
    @extend_schema(responses=ImportJobOutputSerializer)
    def get(self, request, project_id: int, job_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        job = project.import_jobs.filter(id=job_id).first()
        if job is None:
            raise NotFound("No such import in this project.")
        return Response(ImportJobOutputSerializer(job).data)


class TablePreviewApi(APIView):
    """Read the head of a table without importing it: inferred column types (or the ones chosen), the first rows,
    the bad lines among them, and how the columns differ from the project's."""

    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=False)
        format = serializers.ChoiceField(choices=tables.FORMATS, required=False)
        encoding = serializers.CharField(required=False, max_length=40)
        delimiter = serializers.CharField(required=False, min_length=1, max_length=1)
        options = JSONField(binary=True, required=False, default=dict, help_text="schemas.ImportOptions")

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses=schemas.TablePreview)
    def post(self, request, project_id: int):
        _check_upload_size(request)
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data.pop("file")
        return Response(importers.table_preview(project=project, upload=upload, **data.validated_data))


class ExportListApi(APIView):
    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=list(exporters.FORMATS))
        filters = JSONField(required=False, default=dict, help_text="annotation.schemas.ExportFilters")

    @extend_schema(responses=ExportJobOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        return Response(ExportJobOutputSerializer(project.export_jobs.all()[:100], many=True).data)

    @extend_schema(request=InputSerializer, responses={202: ExportJobOutputSerializer})
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = jobs.export_job_create(
            project=project,
            user=request.user,
            fmt=data.validated_data["format"],
            filters=data.validated_data["filters"],
        )
        return Response(ExportJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _export_job(request, project_id: int, job_id: int) -> ExportJob:
    project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
    job = project.export_jobs.filter(id=job_id).first()
    if job is None:
        raise NotFound("No such export in this project.")
    return job


class ExportDetailApi(APIView):
    @extend_schema(responses=ExportJobOutputSerializer)
    def get(self, request, project_id: int, job_id: int):
        return Response(ExportJobOutputSerializer(_export_job(request, project_id, job_id)).data)


class ExportDownloadApi(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, project_id: int, job_id: int):
        job = _export_job(request, project_id, job_id)
        if job.status != "done":
            raise Conflict(f"This export is {job.status}; it can be downloaded once it is done.")
        safe_name = re.sub(r"[^\w .-]+", "_", job.project.name).strip() or "export"
        filename = f"{safe_name}{exporters.FORMATS[job.format].extension}"
        return FileResponse(job.file.open("rb"), as_attachment=True, filename=filename)


class ArchiveImportOutputSerializer(serializers.Serializer):
    project = ProjectOutputSerializer()
    job = ImportJobOutputSerializer(source="*")


class ArchiveImportApi(APIView):
    """Create a new project from a Loupe project archive (admins, like any project creation): the project is
    made at once, empty, and a worker restores the archive into it (follow the job at the project's imports)."""

    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=False)
        name = NameField(max_length=200)

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={202: ArchiveImportOutputSerializer})
    def post(self, request):
        _check_upload_size(request)
        if not can_create_projects(request.user):
            raise PermissionDenied("Only admins create projects.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = jobs.archive_import_job_create(
            upload=data.validated_data["file"], name=data.validated_data["name"], owner=request.user
        )
        return Response(ArchiveImportOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
