"""The item browser's API: filtered, keyset-paged items; one item's story; a correction; bulk actions."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import item_actions, item_browser, schemas
from annotation.access import Capability, project_for_user
from annotation.api.serializers import ItemOutputSerializer
from annotation.api.views import _item
from annotation.models import ItemStatus, Label, Project
from annotation.schemas import MAX_LABELS
from core.api.fields import IdField, TypedJSONField
from core.errors import InvalidInput
from core.models import User

RECORD_FIELDS = 8  # values of a tabular record a row of the browser shows when no columns are chosen


class BrowseItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    thumbnail_url = serializers.SerializerMethodField()
    record = serializers.SerializerMethodField(help_text="Tabular items: the shown columns' values.")  # TabularRecord
    status = serializers.CharField()
    review_status = serializers.CharField()
    annotation_count = serializers.IntegerField()
    agreement = serializers.FloatField(allow_null=True)
    final_label_ids = serializers.ListField(child=serializers.IntegerField())
    flagged = serializers.BooleanField(help_text="Listed as a possible label mistake by the latest ranking.")
    model = TypedJSONField(
        schemas.ItemModelView,
        source="head",
        allow_null=True,
        help_text="The current ranking's scores and suggestion (null outside it).",
    )
    created_at = serializers.DateTimeField()

    def get_thumbnail_url(self, item) -> str | None:
        if not (item.thumbnail or item.image):
            return None
        variant = "api:item-thumbnail" if item.thumbnail else "api:item-image"
        return reverse(variant, kwargs={"project_id": item.project_id, "item_id": item.id})

    @extend_schema_field(TypedJSONField(schemas.TabularRecord, allow_null=True))
    def get_record(self, item) -> dict | None:
        if not item.data:
            return None
        columns = self.context["columns"] or list(item.data)[:RECORD_FIELDS]
        return {name: item.data.get(name) for name in columns}


class ItemStoryOutputSerializer(serializers.Serializer):
    item = ItemOutputSerializer()
    final_label_ids = serializers.ListField(child=serializers.IntegerField())
    model = TypedJSONField(schemas.ItemModelView, allow_null=True, help_text="null outside the current ranking's head")
    label_issue = TypedJSONField(schemas.LabelIssueView, allow_null=True, help_text="a possible label mistake")
    skips = serializers.IntegerField()
    review_status = serializers.CharField()


class BrowsePageOutputSerializer(serializers.Serializer):
    results = BrowseItemOutputSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(allow_null=True, help_text="Matching items, up to 1,000; first page only.")
    count_capped = serializers.BooleanField()


class BulkResultOutputSerializer(serializers.Serializer):
    action = serializers.CharField()
    changed = serializers.ListField(child=serializers.IntegerField())
    unchanged = serializers.DictField(child=serializers.ListField(child=serializers.IntegerField()))


class ItemBrowseApi(APIView):
    """A page of the project's items, filtered and sorted, for reviewers and managers. Pages by keyset: pass the
    answer's `next_cursor` as `cursor` for the next page (with the same filters and sort)."""

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=ItemStatus.choices, required=False)
        label = IdField(required=False, help_text="Final label id (correction, else strict majority).")
        annotator = serializers.CharField(required=False, max_length=150, help_text="Answered by this username.")
        skipped = serializers.BooleanField(required=False, allow_null=True, default=None)
        reviewed = serializers.BooleanField(required=False, allow_null=True, default=None)
        disagreement = serializers.BooleanField(required=False, allow_null=True, default=None)
        flagged = serializers.BooleanField(required=False, allow_null=True, default=None)
        suggestion = IdField(required=False, help_text="The model suggests this label id.")
        uncertainty_min = serializers.FloatField(required=False, min_value=0, max_value=1)
        uncertainty_max = serializers.FloatField(required=False, min_value=0, max_value=1)
        novelty_min = serializers.FloatField(required=False, min_value=0, max_value=1)
        novelty_max = serializers.FloatField(required=False, min_value=0, max_value=1)
        confidence_min = serializers.FloatField(required=False, min_value=0, max_value=1)
        confidence_max = serializers.FloatField(required=False, min_value=0, max_value=1)
        imported_after = serializers.DateTimeField(required=False, input_formats=["iso-8601", "%Y-%m-%d"])
        search = serializers.CharField(required=False, max_length=255, allow_blank=True, default="")
        sort = serializers.ChoiceField(choices=item_browser.SORTS, required=False, default="id")
        cursor = serializers.CharField(required=False, max_length=500)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=item_browser.MAX_PAGE, default=50)

    @extend_schema(parameters=[InputSerializer], responses=BrowsePageOutputSerializer)
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        query = data.validated_data
        page = item_browser.item_browse(
            project=project,
            filters=_filters(project, query),
            sort=query["sort"],
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
        context = {"columns": list(project.shown_columns)}
        return Response(
            {
                "results": BrowseItemOutputSerializer(page.items, many=True, context=context).data,
                "next_cursor": page.next_cursor,
                "count": page.count,
                "count_capped": page.count_capped,
            }
        )


def _filters(project: Project, query: dict) -> item_browser.BrowseFilters:
    """The parsed query as filters; names that must exist in this project are checked here (a precise 400)."""
    for key in ("label", "suggestion"):
        if key in query and not Label.objects.filter(project=project, id=query[key]).exists():
            raise InvalidInput(f"No label {query[key]} in this project.", field=key)
    annotator = None
    if query.get("annotator"):
        annotator = User.objects.filter(username=query["annotator"]).first()
        if annotator is None:
            raise InvalidInput(f"No user named {query['annotator']!r}.", field="annotator")
    ranges = {
        name: (query.get(f"{name}_min"), query.get(f"{name}_max"))
        for name in item_browser.SCORES
        if f"{name}_min" in query or f"{name}_max" in query
    }
    return item_browser.BrowseFilters(
        status=query.get("status"),
        label_id=query.get("label"),
        annotator=annotator,
        skipped=query["skipped"],
        reviewed=query["reviewed"],
        disagreement=query["disagreement"],
        suggested_label_id=query.get("suggestion"),
        flagged=query["flagged"],
        imported_after=query.get("imported_after"),
        search=query["search"].strip(),
        score_ranges=ranges,
    )


class ItemStoryApi(APIView):
    """One item for the item page: the item, its final label, the model's view and a possible-mistake flag."""

    @extend_schema(responses=ItemStoryOutputSerializer)
    def get(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        item = _item(project, item_id)
        story = item_browser.item_story(project=project, item_id=item.id)
        return Response({"item": ItemOutputSerializer(item).data, **story, "review_status": item.review_status})


class ItemCorrectApi(APIView):
    """A reviewer's or manager's final label for one item, at any stage; recorded in its review history."""

    class InputSerializer(serializers.Serializer):
        label_ids = serializers.ListField(child=IdField(), min_length=1, max_length=MAX_LABELS)
        comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=5000)

    @extend_schema(request=InputSerializer, responses={201: schemas.CorrectionMade})
    def post(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = item_actions.item_label_correct(
            reviewer=request.user, project=project, item_id=item_id, **data.validated_data
        )
        labels = sorted(review.labels.values_list("id", flat=True))
        return Response({"id": review.id, "decision": review.decision, "label_ids": labels}, status=201)


class ItemBulkApi(APIView):
    """One action on a selection of items (at most MAX_BULK_ITEMS): label them (as the caller's own answers),
    send them to review, re-queue them, or raise their priority. All or nothing; items the action does not fit
    are reported under `unchanged` with the reason."""

    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=list(item_actions.BULK_CAPABILITIES))
        item_ids = serializers.ListField(
            child=IdField(), min_length=1, max_length=item_actions.MAX_BULK_ITEMS, allow_empty=False
        )
        label_ids = serializers.ListField(child=IdField(), required=False, default=list, max_length=MAX_LABELS)
        comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=5000)

    @extend_schema(request=InputSerializer, responses={200: BulkResultOutputSerializer})
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        needed = item_actions.BULK_CAPABILITIES[data.validated_data["action"]]
        if needed != Capability.REVIEW:
            project = project_for_user(user=request.user, project_id=project_id, capability=needed)
        result = item_actions.items_bulk_apply(user=request.user, project=project, **data.validated_data)
        return Response(BulkResultOutputSerializer(result).data, status=status.HTTP_200_OK)
