from django.db.models import Max

from integrations.models import Webhook, WebhookDelivery


def webhook_list(*, project) -> list[dict]:
    """The project's webhooks, each with its latest delivery (three queries, however long the log)."""
    hooks = list(Webhook.objects.filter(project=project).order_by("id"))
    newest = WebhookDelivery.objects.filter(webhook__in=hooks).values("webhook_id").annotate(last=Max("id"))
    latest = {d.webhook_id: d for d in WebhookDelivery.objects.filter(id__in=[row["last"] for row in newest])}
    return [{"id": h.id, "url": h.url, "events": h.events, "active": h.active, "last": latest.get(h.id)} for h in hooks]
