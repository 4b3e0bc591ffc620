"""Another model's predictions in (as suggestions for annotators), and each source's acceptance rate."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import predictions, schemas
from annotation.access import Capability, project_for_user
from annotation.api.io import _check_upload_size
from core.api.fields import TypedJSONField


class PredictionSourceOutputSerializer(serializers.Serializer):
    source = serializers.CharField()
    predictions = serializers.IntegerField()
    answers = serializers.IntegerField(help_text="Active answers given to items this source predicted.")
    accepted = serializers.IntegerField(help_text="Answers whose labels are exactly this source's prediction.")
    acceptance_rate = serializers.FloatField(allow_null=True)


class PredictionListApi(APIView):
    """GET: the sources of imported predictions with their acceptance rates. POST: import a table of another
    model's predictions (`file`: CSV/TSV, JSONL or Parquet with item_id or external_id, label or labels, score)
    under a `source` name; a new import of the same source replaces its predictions for the items it names."""

    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        source = serializers.CharField(max_length=predictions.MAX_SOURCE_CHARS)
        file = serializers.FileField(allow_empty_file=False)

    @extend_schema(responses=PredictionSourceOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        return Response(
            PredictionSourceOutputSerializer(predictions.prediction_sources(project=project), many=True).data
        )

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses=inline_serializer(
            "PredictionImport",
            {
                "source": serializers.CharField(),
                "imported": serializers.IntegerField(),
                "error_count": serializers.IntegerField(),
                "errors": TypedJSONField(schemas.ImportProblems),
            },
        ),
    )
    def post(self, request, project_id: int):
        _check_upload_size(request)
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        outcome = predictions.predictions_import(
            project=project,
            user=request.user,
            source=data.validated_data["source"],
            file_name=upload.name,
            data=upload.read(),
        )
        return Response(outcome, status=201)
