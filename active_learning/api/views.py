"""Active learning's API: status and staleness, strategy and budget, runs, model versions, label issues,
novel items and the embedding map."""

import tempfile

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from active_learning import model_exports, schemas, selectors, services
from active_learning.models import LearningRun, StrategySetting
from annotation.access import Capability, project_for_user
from annotation.api.serializers import ItemOutputSerializer
from core.api.fields import TypedJSONField
from core.api.pagination import LimitOffsetPagination
from core.errors import Conflict, NotFound


@extend_schema_field(schemas.LearningRunResult)  # type: ignore[arg-type]  # drf-spectacular reads pydantic models
class LearningRunResultField(serializers.Field):
    """LearningRun.result read through its kind's schema (null while the run has not finished)."""

    def to_representation(self, run: LearningRun):
        result = schemas.learning_run_result(run.kind, run.result)
        return None if result is None else result.model_dump(mode="json")


class LearningRunOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    result = LearningRunResultField(source="*", read_only=True)

    class Meta:
        model = LearningRun
        fields = [
            "id",
            "kind",
            "reason",
            "status",
            "progress",
            "message",
            "n_items",
            "n_labels",
            "result",
            "failure",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]


class StrategySettingOutputSerializer(serializers.ModelSerializer):
    changed_by = serializers.CharField(source="changed_by.username", default=None)
    spec = TypedJSONField(schemas.StrategySpec)

    class Meta:
        model = StrategySetting
        fields = ["version", "spec", "changed_by", "created_at"]


class ModelVersionOutputSerializer(serializers.Serializer):
    class ClassFiguresSerializer(serializers.Serializer):
        precision = serializers.FloatField(required=False, help_text="absent with too few labels to cross-validate")
        recall = serializers.FloatField(required=False)
        f1 = serializers.FloatField(required=False)
        support = serializers.IntegerField()

    version = serializers.IntegerField()
    n_labels = serializers.IntegerField()
    classifier = serializers.CharField()
    cv_accuracy = serializers.FloatField(allow_null=True, help_text="cross-validated; null with too few labels")
    cv_macro_f1 = serializers.FloatField(allow_null=True)
    cv_folds = serializers.IntegerField()
    per_class = serializers.DictField(child=ClassFiguresSerializer(), help_text="label id -> cross-validated figures")
    created_at = serializers.DateTimeField()


class LearningRunSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LearningRun.Kind.choices)
    status = serializers.CharField()
    reason = serializers.CharField()
    progress = serializers.FloatField()
    message = serializers.CharField()
    n_items = serializers.IntegerField(allow_null=True)
    n_labels = serializers.IntegerField(allow_null=True)
    failure = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class LearningStatusOutputSerializer(serializers.Serializer):
    class BudgetSerializer(serializers.Serializer):
        total = serializers.IntegerField(allow_null=True, help_text="null: no budget set")
        used = serializers.IntegerField(help_text="labeled items")
        left = serializers.IntegerField(allow_null=True)
        projected_accuracy = serializers.FloatField(allow_null=True, help_text="the learning curve at the budget")
        projected_accuracy_range = serializers.ListField(
            child=serializers.FloatField(),
            min_length=2,
            max_length=2,
            allow_null=True,
            help_text="[low, high]: where the curve refitted without each point lands; never below the last measured",
        )

    strategy = TypedJSONField(schemas.StrategyInForce)
    budget = BudgetSerializer()
    stale = serializers.BooleanField(help_text="the queue's ranking is behind the labels or the model is stuck")
    stale_reason = serializers.CharField(help_text="why, for people; empty when not stale")
    labels_since_ranking = serializers.IntegerField()
    workers_alive = serializers.BooleanField()
    model_version = ModelVersionOutputSerializer(allow_null=True)
    stopping_rule_met = serializers.BooleanField()
    ranking_phase = serializers.CharField(allow_null=True)
    latest_embedding = LearningRunSummarySerializer(allow_null=True)
    latest_ranking = LearningRunSummarySerializer(allow_null=True)


class LearningStatusApi(APIView):
    """The model's state for the project: budget, whether the queue's ranking is stale (and why), latest runs."""

    @extend_schema(responses=LearningStatusOutputSerializer)
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        return Response(LearningStatusOutputSerializer(selectors.learning_status(project=project)).data)


class StrategyApi(APIView):
    """The strategy and budget in force; PUT records a new version (schemas.StrategySpec), used from the next
    ranking on (one is requested at once)."""

    @extend_schema(responses=schemas.StrategyInForce)
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        setting, spec = selectors.strategy_current(project)
        in_force = schemas.StrategyInForce(version=setting.version if setting else 0, **spec.model_dump())
        return Response(in_force.model_dump(mode="json"))

    @extend_schema(request=schemas.StrategySpec, responses=schemas.StrategyInForce)
    def put(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        setting = services.strategy_set(project=project, user=request.user, spec=request.data)
        return Response(schemas.StrategyInForce(version=setting.version, **setting.spec).model_dump(mode="json"))


class StrategyHistoryApi(APIView):
    @extend_schema(responses=StrategySettingOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        settings = StrategySetting.objects.filter(project=project).select_related("changed_by").order_by("-version")
        return Response(StrategySettingOutputSerializer(settings, many=True).data)


class LearningRunListApi(APIView):
    pagination_class = LimitOffsetPagination  # documents the page envelope (count, next, previous, results)

    @extend_schema(responses=LearningRunOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        runs = selectors.learning_runs(project=project, kind=request.query_params.get("kind"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(runs, request)
        return paginator.get_paginated_response(LearningRunOutputSerializer(page, many=True).data)


class LearningRunDetailApi(APIView):
    @extend_schema(responses=LearningRunOutputSerializer)
    def get(self, request, project_id: int, run_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        run = selectors.learning_runs(project=project).filter(id=run_id).first()
        if run is None:
            raise NotFound("No such run in this project.")
        return Response(LearningRunOutputSerializer(run).data)


class TrainApi(APIView):
    """Train the autoencoder and embed every item (then a ranking follows). 503 when the broker is down."""

    @extend_schema(request=None, responses={202: LearningRunOutputSerializer})
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        run = services.training_run_request(project=project, reason="request", user=request.user)
        return Response(LearningRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RankApi(APIView):
    """Refit the classifier and re-rank now. 409 without an embedding, 503 when the broker is down."""

    @extend_schema(request=None, responses={202: LearningRunOutputSerializer})
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        run = services.ranking_request(project=project, reason="request", user=request.user, quiet=False)
        if run is None:
            raise Conflict("No embedding yet: train the project's model first.")
        return Response(LearningRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SimulationApi(APIView):
    """Replay strategies on the labeled items (schemas.SimulationSpec); the learning curves land in the run's
    `result`. GET lists earlier replays."""

    @extend_schema(responses=LearningRunOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        runs = selectors.learning_runs(project=project, kind=LearningRun.Kind.SIMULATE)[:20]
        return Response(LearningRunOutputSerializer(runs, many=True).data)

    @extend_schema(request=schemas.SimulationSpec, responses={202: LearningRunOutputSerializer})
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        run = services.simulation_run_request(project=project, user=request.user, spec=request.data)
        return Response(LearningRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ModelVersionListApi(APIView):
    """Every classifier fit with its cross-validated figures: the project's learning curve."""

    @extend_schema(responses=ModelVersionOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        return Response(ModelVersionOutputSerializer(selectors.model_versions(project=project), many=True).data)


class ModelDownloadApi(APIView):
    """A model version ("latest" or its number) as a zip: encoder weights (state dict), the classifier (skops),
    model.json (labels, metrics, preprocessing) and predict.py, which needs only PyTorch and scikit-learn."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, project_id: int, version: str):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        model_version = model_exports.model_version_for(project=project, version=version)
        out = tempfile.SpooledTemporaryFile(max_size=16 * 2**20)  # noqa: SIM115 (the response closes it)
        model_exports.model_bundle_write(project=project, model_version=model_version, out=out)
        out.seek(0)
        name = f"loupe-model-{project.id}-v{model_version.version}.zip"
        return FileResponse(out, as_attachment=True, filename=name, content_type="application/zip")


class PredictionExportApi(APIView):
    """Every item's prediction by a model version ("latest" or its number): predicted label, confidence, each
    label's probability, uncertainty and novelty, labeled items too. `?format=csv` (default) or `parquet`."""

    def perform_content_negotiation(self, request, force=False):
        # `format` names the file here, not one of DRF's renderers (errors still answer in JSON).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=list(model_exports.PREDICTION_FORMATS))],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request, project_id: int, version: str):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        fmt = request.query_params.get("format", "csv")
        model_version = model_exports.model_version_for(project=project, version=version)
        out = tempfile.SpooledTemporaryFile(max_size=16 * 2**20)  # noqa: SIM115 (the response closes it)
        model_exports.predictions_write(project=project, model_version=model_version, fmt=fmt, out=out)
        out.seek(0)
        name = f"predictions-{project.id}-v{model_version.version}.{fmt}"
        content_type = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
        return FileResponse(out, as_attachment=True, filename=name, content_type=content_type)


class DriftAlertListApi(APIView):
    """Drift alerts, newest first: imports whose new items differ from the data already there (MMD permutation
    test in the embedding at false-alarm rate `alpha`), with their most novel items and their region on the map.
    An open alert gives a share of each batch to its items until `needed` of them are labeled."""

    @extend_schema(responses=inline_serializer("DriftAlert", {"id": serializers.IntegerField()}, many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        return Response(selectors.drift_alerts(project=project))


class LabelIssueOutputSerializer(serializers.Serializer):
    item = ItemOutputSerializer()
    given_label_ids = serializers.ListField(child=serializers.IntegerField())
    suggested_label_id = serializers.IntegerField()
    confidence = serializers.FloatField()
    quality = serializers.FloatField()
    rank = serializers.IntegerField()


class LabelIssueListApi(APIView):
    """Labeled items whose label the model confidently disagrees with (confident learning), worst first: a
    second look for reviewers."""

    pagination_class = LimitOffsetPagination  # documents the page envelope (count, next, previous, results)

    @extend_schema(responses=LabelIssueOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.label_issue_list(project=project), request)
        return paginator.get_paginated_response(LabelIssueOutputSerializer(page, many=True).data)


class NovelItemListApi(APIView):
    """The most novel unlabeled items of the latest ranking (unlike anything labeled so far), most novel first."""

    @extend_schema(responses=ItemOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        return Response(ItemOutputSerializer(selectors.novel_items(project=project), many=True).data)


class EmbeddingMapApi(APIView):
    """2-D map (UMAP, or PCA on tiny pools) of the latest embedding: points with their state (labeled, queued,
    novel, unlabeled)."""

    @extend_schema(
        responses=inline_serializer(
            "EmbeddingMap",
            {
                "run": serializers.IntegerField(allow_null=True, help_text="the embedding run; null before one"),
                "projection": serializers.ChoiceField(
                    choices=["umap", "pca", "none"], allow_null=True, help_text="how the map was drawn"
                ),
                "total": serializers.IntegerField(help_text="items in the embedding (the map shows a sample)"),
                "points": inline_serializer(
                    "EmbeddingMapPoint",
                    {
                        "item_id": serializers.IntegerField(),
                        "x": serializers.FloatField(),
                        "y": serializers.FloatField(),
                        "state": serializers.ChoiceField(choices=["labeled", "queued", "novel", "unlabeled"]),
                    },
                    many=True,
                ),
            },
        )
    )
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.VIEW)
        return Response(selectors.embedding_map(project=project))
