from django.conf import settings
from django.db import models

from annotation.models import Project

EVENTS = (
    "annotation.created",
    "annotation.updated",
    "item.reviewed",
    "import.finished",
    "export.finished",
    "model_version.created",
    "drift.detected",
)


class Webhook(models.Model):
    """A URL a manager entered to receive the project's events, signed with its own secret (HMAC-SHA256)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    events = models.JSONField()  # a subset of EVENTS (services checks it)
    secret = models.CharField(max_length=64)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "id"]


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one webhook: every attempt's outcome is kept on the row."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its next attempt
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"  # refused, or no 2xx after the last attempt

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()  # {"event", "project", "data", "created_at"}: exactly what is sent
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)  # of the last attempt
    error = models.CharField(max_length=500, blank=True)  # of the last attempt
    log = models.JSONField(default=list)  # [{"at", "status", "error", "seconds"}], one per attempt
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["webhook", "-id"], name="webhook_delivery_latest")]
