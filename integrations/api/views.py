"""Webhooks of a project (managers): list, create, change, delete, test-send, and each one's delivery log."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import Capability, project_for_user
from core.api.pagination import LimitOffsetPagination
from core.errors import NotFound
from integrations import services
from integrations.models import EVENTS, Webhook, WebhookDelivery

_SCALAR = [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "event": {"type": "string"},
            "project": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "data": {
                "type": "object",
                "description": "The event's figures: ids, counts, scores, lists of ids",
                "additionalProperties": {
                    "oneOf": [
                        *_SCALAR,
                        {
                            "type": "array",
                            "items": {
                                "oneOf": [*_SCALAR, {"type": "object", "additionalProperties": {"oneOf": _SCALAR}}]
                            },
                        },
                        {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "number"}}},
                    ],
                    "nullable": True,
                },
            },
        },
    }
)
class PayloadField(serializers.JSONField):
    """Exactly what was sent: {event, project, data, created_at}."""


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "at": {"type": "string", "format": "date-time"},
                "status": {"type": "integer", "nullable": True},
                "error": {"type": "string"},
                "seconds": {"type": "number", "nullable": True},
            },
        },
    }
)
class DeliveryLogField(serializers.JSONField):
    """One entry per attempt."""


class WebhookOutputSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "secret", "active", "created_at"]


class DeliveryOutputSerializer(serializers.ModelSerializer):
    log = DeliveryLogField()
    payload = PayloadField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "status",
            "attempts",
            "response_status",
            "error",
            "log",
            "payload",
            "next_attempt_at",
            "created_at",
            "delivered_at",
        ]


def _webhook(request, project_id: int, webhook_id: int) -> Webhook:
    project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
    webhook = Webhook.objects.filter(project=project, id=webhook_id).first()
    if webhook is None:
        raise NotFound("No such webhook in this project.")
    return webhook


class WebhookListApi(APIView):
    """The project's webhooks; POST adds one (url, events) and answers with its signing secret."""

    class InputSerializer(serializers.Serializer):
        url = serializers.URLField(max_length=2000)
        events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS), allow_empty=False)

    @extend_schema(responses=WebhookOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        return Response(WebhookOutputSerializer(Webhook.objects.filter(project=project), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: WebhookOutputSerializer})
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        webhook = services.webhook_create(project=project, user=request.user, **data.validated_data)
        return Response(WebhookOutputSerializer(webhook).data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        url = serializers.URLField(max_length=2000, required=False)
        events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS), allow_empty=False, required=False)
        active = serializers.BooleanField(required=False)

    @extend_schema(responses=WebhookOutputSerializer)
    def get(self, request, project_id: int, webhook_id: int):
        return Response(WebhookOutputSerializer(_webhook(request, project_id, webhook_id)).data)

    @extend_schema(request=InputSerializer, responses=WebhookOutputSerializer)
    def patch(self, request, project_id: int, webhook_id: int):
        webhook = _webhook(request, project_id, webhook_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(WebhookOutputSerializer(services.webhook_update(webhook=webhook, **data.validated_data)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, webhook_id: int):
        _webhook(request, project_id, webhook_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestApi(APIView):
    """Send a "ping" event to the webhook now (by a worker); its outcome appears in the delivery log."""

    @extend_schema(request=None, responses={202: DeliveryOutputSerializer})
    def post(self, request, project_id: int, webhook_id: int):
        delivery = services.webhook_test_send(webhook=_webhook(request, project_id, webhook_id))
        return Response(DeliveryOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryListApi(APIView):
    """The webhook's deliveries, newest first, each with its attempts (status code, error, time taken)."""

    @extend_schema(responses=DeliveryOutputSerializer(many=True))
    def get(self, request, project_id: int, webhook_id: int):
        webhook = _webhook(request, project_id, webhook_id)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(webhook.deliveries.all(), request)
        return paginator.get_paginated_response(DeliveryOutputSerializer(page, many=True).data)
