"""Figures behind the project dashboard that are not part of the labeling workflow's own API."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import selectors
from annotation.access import Capability, project_for_user


class LabelsOverTimeApi(APIView):
    """Active annotations per day or per hour, oldest first, empty buckets included. Counts only (no answers,
    no names), so every member may see them."""

    class InputSerializer(serializers.Serializer):
        bucket = serializers.ChoiceField(choices=["auto", "day", "hour"], default="auto")

    @extend_schema(
        parameters=[OpenApiParameter("bucket", str, enum=["auto", "day", "hour"])],
        responses=inline_serializer(
            "LabelsOverTime",
            {
                "bucket": serializers.CharField(),
                "series": inline_serializer(
                    "LabelsOverTimeBucket",
                    {"start": serializers.CharField(), "annotations": serializers.IntegerField()},
                    many=True,
                ),
                "total": serializers.IntegerField(),
            },
        ),
    )
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(selectors.labels_over_time(project=project, **params.validated_data))
