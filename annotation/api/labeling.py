"""The labeling workflow's API: next item, lease renewal, submit, skip, edit, undo, drafts, review, progress."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import labeling, queue_sql, schemas, selectors
from annotation.access import Capability, project_for_user
from annotation.agreement import project_agreement
from annotation.api.serializers import ItemOutputSerializer
from annotation.models import Item, Review
from annotation.review import item_review
from annotation.schemas import MAX_LABELS
from core.api.fields import IdField, TypedJSONField, validated
from core.api.pagination import LimitOffsetPagination
from core.errors import NotFound


class AnnotationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item_id = serializers.IntegerField()
    annotator = serializers.CharField(source="annotator.username")
    label_ids = serializers.SerializerMethodField()
    status = serializers.CharField()
    schema_version = serializers.IntegerField()
    time_spent_ms = serializers.IntegerField(allow_null=True)
    suggested_label_ids = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    accepted_suggestion = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_label_ids(self, annotation) -> list[int]:
        known = annotation.known_label_ids  # a new answer's, as just written
        return known if known is not None else sorted(label.id for label in annotation.labels.all())


class RejectionSerializer(serializers.Serializer):
    comment = serializers.CharField()
    reviewer = serializers.CharField()
    decided_at = serializers.DateTimeField()


class ExternalPredictionOutputSerializer(serializers.Serializer):
    source = serializers.CharField()
    label_ids = serializers.ListField(child=serializers.IntegerField())
    score = serializers.FloatField(allow_null=True)


class QueueItemOutputSerializer(serializers.Serializer):
    item = ItemOutputSerializer()
    lease_expires_at = serializers.DateTimeField()
    draft = TypedJSONField(schemas.DraftPayload, allow_null=True)
    rejection = RejectionSerializer(
        allow_null=True, required=False, help_text="A reviewer sent this item back to you: why, by whom, when."
    )
    predictions = ExternalPredictionOutputSerializer(
        many=True, help_text="Other models' predictions for the item, imported by a manager: suggestions."
    )


class QueuePrefetchOutputSerializer(QueueItemOutputSerializer):
    upcoming = QueueItemOutputSerializer(many=True, required=False, help_text="Only with ?prefetch=N: the next items.")


# The hot path's answers reuse one serializer each, built once: building one per answer (DRF copies every declared
# field, and a ModelSerializer introspects its model) cost 0.5 ms an answer, where a built one's
# `to_representation` costs 0.04 ms and keeps no state between calls.
_QUEUE_ANSWER = QueueItemOutputSerializer()
_ANNOTATION = AnnotationOutputSerializer()


def _queue_answer(item: Item, lease, user) -> dict:
    answer = _queue_answers([(item, lease)], user)
    del answer["upcoming"]
    return answer


def _queue_answers(found: list, user) -> dict:
    """The first item as in a plain answer, the others under `upcoming`; drafts, sent-back answers and
    predictions in one query, the reviewers' notes in two more when an answer was sent back."""
    drafts, rejected, imported = queue_sql.queue_extras(user_id=user.id, item_ids=[item.id for item, _ in found])
    rejections = selectors.rejection_notes(user=user, item_ids=sorted(rejected)) if rejected else {}
    answers = [
        _QUEUE_ANSWER.to_representation(
            {
                "item": item,
                "lease_expires_at": lease.expires_at,
                "draft": drafts.get(item.id),
                "rejection": rejections.get(item.id),
                "predictions": imported.get(item.id, []),
            }
        )
        for item, lease in found
    ]
    return {**answers[0], "upcoming": answers[1:]}


class QueueNextApi(APIView):
    """Hand out the next item (leased to the caller), or the one the caller already holds. 204: nothing left.
    With `?prefetch=N` (1 to 3) the caller also gets up to N more items, leased too, under `upcoming`: every item it
    holds comes back (the first is the one to show), topped up with new ones."""

    MAX_PREFETCH = 3

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("prefetch", int, description="How many more items to lease and return (0-3).")],
        responses={200: QueuePrefetchOutputSerializer, 204: None},
    )
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        prefetch = serializers.IntegerField(min_value=0, max_value=self.MAX_PREFETCH).run_validation(
            request.query_params.get("prefetch", "0")
        )
        if prefetch:
            found = labeling.items_next_for_user(user=request.user, project=project, count=1 + prefetch)
            if not found:
                return Response(status=status.HTTP_204_NO_CONTENT)
            return Response(_queue_answers(found, request.user))
        found = labeling.item_next_for_user(user=request.user, project=project)
        if found is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(_queue_answer(*found, request.user))


class LeaseRenewApi(APIView):
    @extend_schema(request=None, responses=inline_serializer("Lease", {"expires_at": serializers.DateTimeField()}))
    def post(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        lease = labeling.lease_renew(user=request.user, project=project, item_id=item_id)
        return Response({"expires_at": lease.expires_at})


class AnnotationSubmitApi(APIView):
    class InputSerializer(serializers.Serializer):
        item_id = IdField()
        label_ids = serializers.ListField(child=IdField(), allow_empty=True, max_length=MAX_LABELS)
        client_key = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
        time_spent_ms = serializers.IntegerField(min_value=0, max_value=86_400_000, required=False, allow_null=True)
        accepted_suggestion = serializers.BooleanField(
            required=False, default=False, help_text="The annotator took the model's suggestion (the A key)."
        )

    INPUT = InputSerializer()  # built once, like the answers' serializers above

    @extend_schema(
        request=InputSerializer, responses={201: AnnotationOutputSerializer, 200: AnnotationOutputSerializer}
    )
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        data = validated(self.INPUT, request.data)
        annotation, created = labeling.annotation_submit(user=request.user, project=project, **data)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(_ANNOTATION.to_representation(annotation), status=code)


class AnnotationDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        label_ids = serializers.ListField(child=IdField(), allow_empty=True, max_length=MAX_LABELS)

    @extend_schema(request=InputSerializer, responses=AnnotationOutputSerializer)
    def patch(self, request, project_id: int, annotation_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = labeling.annotation_edit(
            user=request.user, project=project, annotation_id=annotation_id, **data.validated_data
        )
        return Response(AnnotationOutputSerializer(annotation).data)


class AnnotationUndoApi(APIView):
    """Take back your latest annotation in this project; the item comes back to you, with its labels as a draft."""

    @extend_schema(request=None, responses=QueueItemOutputSerializer)
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        item = labeling.annotation_undo(user=request.user, project=project)
        lease = item.leases.get(user=request.user)
        return Response(_queue_answer(item, lease, request.user))


class ItemSkipApi(APIView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        labeling.annotation_skip(user=request.user, project=project, item_id=item_id, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SkippedItemOutputSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    external_id = serializers.CharField(source="item.external_id")
    reason = serializers.CharField()
    skipped_at = serializers.DateTimeField(source="created_at")


class SkippedListApi(APIView):
    """Your skipped items that still need an answer, latest first: a way back to each."""

    pagination_class = LimitOffsetPagination  # documents the page envelope (count, next, previous, results)

    @extend_schema(responses=SkippedItemOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        paginator = self.pagination_class()
        skips = selectors.skipped_for_user(user=request.user, project=project)
        page = paginator.paginate_queryset(skips, request, view=self)
        return paginator.get_paginated_response(SkippedItemOutputSerializer(page, many=True).data)


class SkipRevisitApi(APIView):
    """Take back your skip of an item: it is leased to you and comes back as a queue answer, to label now."""

    @extend_schema(request=None, responses=QueueItemOutputSerializer)
    def post(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        item, lease = labeling.skip_revisit(user=request.user, project=project, item_id=item_id)
        return Response(_queue_answer(item, lease, request.user))


class ReviewFeedbackApi(APIView):
    """How reviewers judged your answers in this project: how many were corrected or sent back, and the latest
    corrections with your label and the final one."""

    @extend_schema(responses=schemas.ReviewFeedback)
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        return Response(selectors.review_feedback(user=request.user, project=project))


class ItemDraftApi(APIView):
    @extend_schema(
        request=inline_serializer(
            "DraftInput",
            {
                "label_ids": serializers.ListField(child=serializers.IntegerField()),
                "note": serializers.CharField(required=False),
            },
        ),
        responses={204: None},
    )
    def put(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.LABEL)
        labeling.draft_save(user=request.user, project=project, item_id=item_id, payload=request.data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ItemAnnotationsApi(APIView):
    """All answers for an item, for reviewers and managers (annotators work blind)."""

    @extend_schema(responses=AnnotationOutputSerializer(many=True))
    def get(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        item = _item(project, item_id)
        return Response(AnnotationOutputSerializer(selectors.item_annotations(item=item), many=True).data)


class ItemHistoryApi(APIView):
    class OutputSerializer(serializers.Serializer):
        kind = serializers.CharField()
        actor = serializers.CharField(source="actor.username")
        annotation_id = serializers.IntegerField(allow_null=True)
        label_ids = serializers.ListField(child=serializers.IntegerField())
        comment = serializers.CharField()
        created_at = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        item = _item(project, item_id)
        return Response(self.OutputSerializer(selectors.item_history(item=item), many=True).data)


class ReviewQueueApi(APIView):
    pagination_class = LimitOffsetPagination  # documents the page envelope (count, next, previous, results)

    @extend_schema(
        parameters=[OpenApiParameter("order", str, enum=["disagreements", "all", "sample"])],
        responses=ItemOutputSerializer(many=True),
    )
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        order = serializers.ChoiceField(choices=["disagreements", "all", "sample"]).run_validation(
            request.query_params.get("order", "disagreements")
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.review_queue(project=project, order=order), request, view=self)
        return paginator.get_paginated_response(ItemOutputSerializer(page, many=True).data)


class ItemReviewApi(APIView):
    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=Review.Decision.choices)
        label_ids = serializers.ListField(child=IdField(), required=False, default=list, max_length=MAX_LABELS)
        comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=5000)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: inline_serializer(
                "ReviewSaved",
                {
                    "id": serializers.IntegerField(),
                    "decision": serializers.ChoiceField(choices=Review.Decision.choices),
                },
            )
        },
    )
    def post(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = item_review(reviewer=request.user, project=project, item_id=item_id, **data.validated_data)
        return Response({"id": review.id, "decision": review.decision}, status=status.HTTP_201_CREATED)


class ProgressOutputSerializer(serializers.Serializer):
    class ProgressByStatusSerializer(serializers.Serializer):
        open = serializers.IntegerField()
        done = serializers.IntegerField()
        accepted = serializers.IntegerField()
        corrected = serializers.IntegerField()

    class ProgressByLabelSerializer(serializers.Serializer):
        label_id = serializers.IntegerField()
        name = serializers.CharField()
        annotations = serializers.IntegerField()

    class ProgressByAnnotatorSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()
        username = serializers.CharField()
        annotations = serializers.IntegerField()
        last_hour = serializers.IntegerField()
        per_hour_last_day = serializers.FloatField()

    items = serializers.IntegerField()
    by_status = ProgressByStatusSerializer()
    by_label = ProgressByLabelSerializer(many=True)
    by_annotator = ProgressByAnnotatorSerializer(many=True)
    labels_last_hour = serializers.IntegerField()
    median_time_per_item_ms = serializers.FloatField(allow_null=True)


class ProgressApi(APIView):
    @extend_schema(responses=ProgressOutputSerializer)
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        return Response(ProgressOutputSerializer(selectors.project_progress(project=project)).data)


class AgreementOutputSerializer(serializers.Serializer):
    class AgreementPairSerializer(serializers.Serializer):
        annotators = serializers.ListField(child=serializers.IntegerField(), help_text="the two annotators' user ids")
        items = serializers.IntegerField(help_text="items both answered")
        cohen_kappa = serializers.FloatField(allow_null=True)

    items = serializers.IntegerField(help_text="items with two answers or more (the others are left out)")
    annotators = serializers.IntegerField()
    alpha = serializers.FloatField(allow_null=True, help_text="Krippendorff's alpha (nominal) over whole answers")
    fleiss_kappa = serializers.FloatField(allow_null=True, help_text="null unless every item has as many answers")
    per_label_alpha = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="label id -> alpha of the label's presence"
    )
    pairs = AgreementPairSerializer(many=True)


class AgreementApi(APIView):
    @extend_schema(responses=AgreementOutputSerializer)
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.REVIEW)
        agreement = project_agreement(selectors.project_ratings(project=project))
        return Response(AgreementOutputSerializer(agreement).data)


def _item(project, item_id: int) -> Item:
    item = Item.objects.filter(project=project, id=item_id).first()
    if item is None:
        raise NotFound("No such item in this project.")
    return item
