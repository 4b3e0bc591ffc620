"""Reads for tokens, the health report and the migration state."""

import math
import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from kombu import Connection

from core.db import fetch_one, model_columns, model_from_row
from core.models import ApiToken, User, WorkerHeartbeat

HEARTBEATS_MISSED_BEFORE_DEAD = 3
MIGRATIONS_RECHECK_S = 5.0


def api_token_list(*, user: User):
    return ApiToken.objects.filter(user=user)


def api_token_live(*, digest: str) -> ApiToken | None:
    """The unrevoked, unexpired token with this digest, its user attached; one plain-SQL read, since every API
    request signs in with it."""
    token_columns = len(ApiToken._meta.concrete_fields)
    quote = connection.ops.quote_name
    row = fetch_one(
        f"SELECT {model_columns(ApiToken, 't')}, {model_columns(User, 'u')} "
        f"FROM {quote(ApiToken._meta.db_table)} t JOIN {quote(User._meta.db_table)} u ON u.id = t.user_id "
        "WHERE t.digest = %s AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > %s)",
        [digest, connection.ops.adapt_datetimefield_value(timezone.now())],
    )
    if row is None:
        return None
    token = model_from_row(ApiToken, row[:token_columns])
    token.user = model_from_row(User, row[token_columns:])
    return token


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
    # The transport options carry the socket timeouts: a broker that accepts connections and never answers (a
    # paused Redis) fails this check within about BROKER_TIMEOUT_S instead of holding the request.
    timeout_s = settings.BROKER_TIMEOUT_S
    options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "max_retries": 0}
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout_s, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout_s)
        return {"transport": str(conn.transport_cls)}


def _migrations() -> dict[str, Any]:
    unapplied = migration_state.unapplied_apps()
    return {"ok": not unapplied, "unapplied_apps": unapplied}


def _workers() -> dict[str, Any]:
    """Live workers, and for each queue of settings.TASK_QUEUES how many of them consume it."""
    workers = [(worker.hostname, worker.queue_names) for worker in live_workers().only("hostname", "queues")]
    queues = {
        kind: {"name": name, "workers": sum(name in consumed for _, consumed in workers)}
        for kind, name in settings.TASK_QUEUES.items()
    }
    return {
        "ok": all(queue["workers"] for queue in queues.values()),
        "count": len(workers),
        "hostnames": [hostname for hostname, _ in workers],
        "queues": queues,
    }


def _reasons(checks: dict[str, dict[str, Any]]) -> list[str]:
    if not checks["database"]["ok"]:
        return ["database unreachable"]
    reasons = []
    if not checks["migrations"]["ok"]:
        apps = ", ".join(checks["migrations"].get("unapplied_apps", [])) or "unknown"
        reasons.append(f"migrations not applied: {apps}")
    if not checks["broker"]["ok"]:
        reasons.append("broker unreachable: background jobs cannot start")
    queues = checks["workers"].get("queues")
    if queues is None and not checks["workers"]["ok"]:
        reasons.append("worker heartbeats unreadable")
    for kind, queue in (queues or {}).items():
        if not queue["workers"]:
            reasons.append(f"no live worker on queue {kind}: its background jobs wait")
    return reasons


def health_report() -> dict[str, Any]:
    """Readiness of the web tier, apart from the broker and the workers. `status` is "down" (HTTP 503) only when
    this process cannot serve labeling: the database is unreachable or its migrations are not applied;
    "degraded" when the broker or a queue's workers are missing (background jobs wait, labeling works).
    `reasons` says why in words; `checks` has the details (errors and host names are for staff)."""
    checks = {"database": _timed(_database)}
    database_ok = checks["database"]["ok"]
    skipped = {"ok": False, "error": "not checked: the database is unreachable"}
    checks["migrations"] = _timed(_migrations) if database_ok else skipped
    checks["broker"] = _timed(_broker)
    checks["workers"] = _timed(_workers) if database_ok else skipped
    if not (database_ok and checks["migrations"]["ok"]):
        overall = "down"
    else:
        overall = "degraded" if not (checks["broker"]["ok"] and checks["workers"]["ok"]) else "ok"
    return {"status": overall, "reasons": _reasons(checks), "checks": checks}


class MigrationState:
    """Which apps have migrations not yet applied to the database. Loading the migration graph takes tens of
    milliseconds, so a process checks until it has seen everything applied and then never again (new code comes
    with a new process); while some are missing it checks again at most every MIGRATIONS_RECHECK_S."""

    def __init__(self) -> None:
        self.complete = False
        self.unapplied: list[str] = []
        self.checked_at = -math.inf

    def unapplied_apps(self) -> list[str]:
        if self.complete:
            return []
        if time.monotonic() - self.checked_at >= MIGRATIONS_RECHECK_S:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            self.unapplied = sorted({migration.app_label for migration, _ in plan})
            self.complete = not self.unapplied
            self.checked_at = time.monotonic()
        return self.unapplied


migration_state = MigrationState()
