"""Reads for tokens and for the health report."""

import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from kombu import Connection

from core.models import ApiToken, User, WorkerHeartbeat

BROKER_TIMEOUT_S = 2.0
HEARTBEATS_MISSED_BEFORE_DEAD = 3


def api_token_list(*, user: User):
    return ApiToken.objects.filter(user=user)


def live_workers():
    cutoff = timezone.now() - HEARTBEATS_MISSED_BEFORE_DEAD * settings.WORKER_HEARTBEAT_INTERVAL
    return WorkerHeartbeat.objects.filter(stopped_at__isnull=True, last_seen_at__gte=cutoff).order_by("hostname")


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # a health probe reports every failure; it never raises
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _broker() -> dict[str, Any]:
    url = settings.CELERY_BROKER_URL
    with Connection(url, connect_timeout=BROKER_TIMEOUT_S) as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
        return {"transport": str(conn.transport_cls)}


def _workers() -> dict[str, Any]:
    try:
        hostnames = list(live_workers().values_list("hostname", flat=True))
    except DatabaseError as exc:
        raise RuntimeError("cannot read worker heartbeats") from exc
    if not hostnames:
        raise RuntimeError("no worker has sent a heartbeat recently: background jobs will wait")
    return {"count": len(hostnames), "hostnames": hostnames}


def health_report() -> dict[str, Any]:
    """Database, broker and worker status. `status` is "down" when the web process cannot serve
    (database or broker unreachable), "degraded" when only the workers are missing."""
    checks = {"database": _timed(_database), "broker": _timed(_broker), "workers": _timed(_workers)}
    if not (checks["database"]["ok"] and checks["broker"]["ok"]):
        overall = "down"
    elif not checks["workers"]["ok"]:
        overall = "degraded"
    else:
        overall = "ok"
    return {"status": overall, "checks": checks}
