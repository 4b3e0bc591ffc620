"""Webhooks: managers register URLs for a project's events; every event becomes one delivery per subscribed
webhook, sent by a worker (integrations.tasks), signed, retried with exponential back-off, logged on its row.

Signature: `X-Loupe-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>` with the timestamp (Unix
seconds) in `X-Loupe-Timestamp`; receivers recompute it and reject stale timestamps (replays).
"""

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import Project
from core.db import fetch_one
from core.errors import InvalidInput
from core.models import User
from integrations.models import EVENTS, Webhook, WebhookDelivery
from integrations.urlguard import URLRefused, url_check

logger = logging.getLogger(__name__)
TIMEOUT_S = 10
MAX_WEBHOOKS = 20  # per project
Status = WebhookDelivery.Status


def _checked(url: str, events: list[str]) -> tuple[str, list[str]]:
    unknown = sorted(set(events) - set(EVENTS))
    if not events or unknown:
        raise InvalidInput(f"Choose events among {', '.join(EVENTS)} (unknown: {unknown}).", field="events")
    try:
        url_check(url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE)
    except URLRefused as exc:
        raise InvalidInput(str(exc), field="url") from exc
    return url, sorted(set(events))


def webhook_create(*, project: Project, user: User, url: str, events: list[str]) -> Webhook:
    """A new webhook with a fresh secret; 400 for a URL Loupe may not call (see urlguard) or unknown events."""
    url, events = _checked(url, events)
    if Webhook.objects.filter(project=project).count() >= MAX_WEBHOOKS:
        raise InvalidInput(f"A project has at most {MAX_WEBHOOKS} webhooks.")
    return Webhook.objects.create(
        project=project, url=url, events=events, secret=secrets.token_hex(32), created_by=user
    )


def webhook_update(*, webhook: Webhook, url: str | None = None, events: list[str] | None = None, active=None):
    new_url, new_events = _checked(url or webhook.url, events if events is not None else webhook.events)
    webhook.url, webhook.events = new_url, new_events
    if active is not None:
        webhook.active = active
    webhook.save(update_fields=["url", "events", "active"])
    return webhook


def event_on_commit(*, project_id: int, event: str, data: dict) -> None:
    """Emit the event once the caller's transaction commits (at once outside one): a rolled-back change sends
    nothing, and the delivery rows are not written inside the caller's transaction."""
    transaction.on_commit(lambda: event_emit(project_id=project_id, event=event, data=data), robust=True)


def event_emit(*, project_id: int, event: str, data: dict) -> list[int]:
    """Record the event for each active webhook of the project that wants it; each is sent after the commit.
    Costs one plain query when the project has no webhook. Never raises into the caller's request."""
    try:
        if not _has_active_webhook(project_id):
            return []
        hooks = [h for h in Webhook.objects.filter(project_id=project_id, active=True) if event in h.events]
        return [_delivery_create(h, event, data).id for h in hooks]
    except Exception:  # the event's own change already succeeded: log, never fail it
        logger.exception("Could not record the %s event of project %s", event, project_id)
        return []


def _has_active_webhook(project_id: int) -> bool:
    """Plain SQL: every submit asks, and most projects have no webhook."""
    found = fetch_one(
        f"SELECT 1 FROM {connection.ops.quote_name(Webhook._meta.db_table)} WHERE project_id = %s AND active LIMIT 1",
        [project_id],
    )
    return found is not None


def webhook_test_send(*, webhook: Webhook) -> WebhookDelivery:
    """A "ping" delivery to the webhook, to check the receiver and its signature check."""
    return _delivery_create(webhook, "ping", {"message": "A test from Loupe."})


def _delivery_create(webhook: Webhook, event: str, data: dict) -> WebhookDelivery:
    payload = {
        "event": event,
        "project": webhook.project_id,
        "data": data,
        "created_at": timezone.now().isoformat(),
    }
    delivery = WebhookDelivery.objects.create(webhook=webhook, event=event, payload=payload)
    transaction.on_commit(lambda: _send(delivery.id), robust=True)
    return delivery


def _send(delivery_id: int, countdown: float = 0) -> None:
    from integrations.tasks import deliver_webhook

    try:
        deliver_webhook.apply_async((delivery_id,), countdown=countdown, retry=False)
    except Exception as exc:  # the broker is down: the delivery waits, pending, for the periodic resend
        logger.warning("Could not queue webhook delivery %s: %s", delivery_id, exc)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: base, 2 x base, 4 x base..."""
    return settings.WEBHOOK_RETRY_BASE_S * 2 ** (attempts - 1)


def delivery_execute(*, delivery_id: int) -> None:
    """One attempt at a delivery (worker). Claimed by a conditional UPDATE, so a duplicated message sends once."""
    now = timezone.now()
    due = WebhookDelivery.objects.filter(id=delivery_id, status=Status.PENDING)
    due = due.exclude(next_attempt_at__gt=now)
    delivery = due.select_related("webhook").first()
    if delivery is None or not due.filter(attempts=delivery.attempts).update(status=Status.SENDING):
        return  # done, failed, not yet due, or taken by another worker
    attempts = delivery.attempts + 1
    webhook = delivery.webhook
    started = time.monotonic()
    status_code, error = _post(webhook, delivery)
    entry = {
        "at": now.isoformat(),
        "status": status_code,
        "error": error,
        "seconds": round(time.monotonic() - started, 3),
    }
    fields = {"attempts": attempts, "response_status": status_code, "error": error[:500], "log": [*delivery.log, entry]}
    if status_code is not None and 200 <= status_code < 300:
        fields.update(status=Status.DELIVERED, delivered_at=timezone.now(), next_attempt_at=None)
    elif error.startswith("refused:") or attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        fields.update(status=Status.FAILED, next_attempt_at=None)
    else:
        delay = retry_delay(attempts)
        fields.update(status=Status.PENDING, next_attempt_at=timezone.now() + timedelta(seconds=delay))
    WebhookDelivery.objects.filter(id=delivery.id, status=Status.SENDING).update(**fields)
    if fields["status"] == Status.PENDING:
        _send(delivery.id, countdown=delay)


def _post(webhook: Webhook, delivery: WebhookDelivery) -> tuple[int | None, str]:
    """(HTTP status, error text) of one POST; the URL is checked again first, and redirects are not followed."""
    try:
        url_check(webhook.url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE)
    except URLRefused as exc:
        return None, f"refused: {exc}"
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Loupe-Webhooks/1",
        "X-Loupe-Event": delivery.event,
        "X-Loupe-Delivery": str(delivery.id),
        "X-Loupe-Timestamp": str(timestamp),
        "X-Loupe-Signature": signature(webhook.secret, timestamp, body),
    }
    try:
        answer = requests.post(webhook.url, data=body, headers=headers, timeout=TIMEOUT_S, allow_redirects=False)
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 300 <= answer.status_code < 400:
        return answer.status_code, "redirects are not followed"
    return answer.status_code, "" if answer.ok else f"HTTP {answer.status_code}"


def pending_resend(*, older_than_s: float = 300) -> int:
    """Send again the deliveries still pending well after their due time (their message was lost, or the broker
    was down when they were made); the periodic sweep calls this."""
    late = timezone.now() - timedelta(seconds=older_than_s)
    stale = WebhookDelivery.objects.filter(status=Status.PENDING, created_at__lt=late)
    stale = stale.exclude(next_attempt_at__gt=late).values_list("id", flat=True)[:1000]
    for delivery_id in stale:
        _send(delivery_id)
    return len(stale)
