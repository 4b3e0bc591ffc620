"""Health and the worker, with a real Celery worker process on the configured broker and database."""

import os
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection

from core.models import BrokerProbe
from core.services import broker_probe_receive
from loupe.config import redis_transport_options
from tests.factories import UserFactory
from tests.integration.conftest import ROOT, client_for


@pytest.mark.django_db(transaction=True)
def test_health_is_ok_with_a_live_worker_and_staff_see_details(celery_worker):
    staff = client_for(UserFactory(is_staff=True)).get("/api/v1/health/")
    anonymous = client_for(None).get("/api/v1/health/")

    assert staff.status_code == 200, staff.data
    assert staff.data["status"] == "ok"
    assert staff.data["reasons"] == []
    assert staff.data["checks"]["workers"]["count"] == 1
    assert {queue["workers"] for queue in staff.data["checks"]["workers"]["queues"].values()} == {1}
    assert anonymous.status_code == 200
    assert anonymous.data["checks"] == {
        "database": {"ok": True},
        "migrations": {"ok": True},
        "broker": {"ok": True},
        "workers": {"ok": True},
    }


@pytest.mark.django_db(transaction=True)
def test_health_degrades_and_names_the_queue_that_no_live_worker_consumes(start_worker, settings):
    start_worker(queues=["interactive", "rankings"])

    response = client_for(UserFactory(is_staff=True)).get("/api/v1/health/")

    assert response.status_code == 200
    assert response.data["status"] == "degraded"
    assert response.data["reasons"] == ["no live worker on queue training: its background jobs wait"]
    queues = response.data["checks"]["workers"]["queues"]
    assert queues["interactive"] == {"name": settings.TASK_QUEUES["interactive"], "workers": 1}
    assert queues["rankings"] == {"name": settings.TASK_QUEUES["rankings"], "workers": 1}
    assert queues["training"] == {"name": settings.TASK_QUEUES["training"], "workers": 0}


@pytest.mark.django_db(transaction=True)
def test_worker_handles_a_probe_sent_through_the_broker(celery_worker, capsys):
    call_command("worker_ping", timeout=30)

    probe = BrokerProbe.objects.get()
    assert probe.received_at is not None
    assert probe.received_by
    assert "answered in" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_stopped_worker_is_reported_and_health_degrades(celery_worker):
    celery_worker.terminate()
    celery_worker.wait(timeout=30)

    response = client_for(UserFactory(is_staff=True)).get("/api/v1/health/")
    assert response.status_code == 200
    assert response.data["status"] == "degraded"
    assert "no live worker on queue interactive: its background jobs wait" in response.data["reasons"]
    assert response.data["checks"]["workers"]["count"] == 0


def use_broker(settings, url: str) -> None:
    """The web side's broker settings for `url`, as the environment would give them."""
    settings.CELERY_BROKER_URL = url
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = redis_transport_options(3600, settings.BROKER_TIMEOUT_S)


@pytest.mark.django_db
def test_unreachable_broker_degrades_health_while_the_web_tier_stays_ready(settings):
    use_broker(settings, "redis://127.0.0.1:1/0")  # nothing listens on port 1

    staff = client_for(UserFactory(is_staff=True)).get("/api/v1/health/")
    anonymous = client_for(None).get("/api/v1/health/")

    assert staff.status_code == 200
    assert staff.data["status"] == "degraded"
    assert "broker unreachable: background jobs cannot start" in staff.data["reasons"]
    assert staff.data["checks"]["broker"]["ok"] is False
    assert staff.data["checks"]["database"]["ok"] is True
    assert anonymous.data["checks"]["broker"] == {"ok": False}  # the error text is for staff


@pytest.mark.django_db
def test_health_answers_within_seconds_when_the_broker_hangs(settings, paused_broker):
    use_broker(settings, paused_broker)

    started = time.monotonic()
    response = client_for(UserFactory(is_staff=True)).get("/api/v1/health/")
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert response.data["status"] == "degraded"
    assert response.data["checks"]["broker"]["ok"] is False
    assert elapsed < 3.5


def test_publishing_to_a_hung_broker_fails_within_seconds(paused_broker):
    """A web process configured for the hung broker by its environment: sending a task gives up quickly."""
    script = (
        "import time\n"
        "from core.tasks import receive_broker_probe\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    receive_broker_probe.delay(1)\n"
        "except Exception as exc:\n"
        "    print('failed', type(exc).__name__, round(time.monotonic() - started, 1))\n"
    )
    env = {**os.environ, "CELERY_BROKER_URL": paused_broker}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    verdict, error, seconds = result.stdout.split()[-3:]
    assert (verdict, error) == ("failed", "OperationalError"), result.stdout
    assert float(seconds) < 6, result.stdout


@pytest.mark.django_db
def test_unreachable_database_makes_health_down_with_503():
    def unreachable(execute, sql, params, many, context):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    with connection.execute_wrapper(unreachable):
        response = client_for(None).get("/api/v1/health/")

    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.data["status"] == "down"
    assert response.data["reasons"][0] == "database unreachable"
    assert response.data["checks"]["database"] == {"ok": False}


@pytest.mark.django_db
def test_probe_receipt_is_idempotent():
    probe = BrokerProbe.objects.create()
    broker_probe_receive(probe_id=probe.id)
    first = BrokerProbe.objects.get(id=probe.id).received_at
    broker_probe_receive(probe_id=probe.id)
    assert BrokerProbe.objects.get(id=probe.id).received_at == first
