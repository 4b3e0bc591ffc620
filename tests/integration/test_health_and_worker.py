"""Health and the worker, with a real Celery worker process on the configured broker and database."""

import pytest
from django.core.management import call_command

from core.models import BrokerProbe
from core.services import broker_probe_receive
from tests.factories import UserFactory
from tests.integration.conftest import client_for


@pytest.mark.django_db(transaction=True)
def test_health_is_ok_with_a_live_worker_and_staff_see_details(celery_worker):
    staff = client_for(UserFactory(is_staff=True)).get("/api/v1/health/")
    anonymous = client_for(None).get("/api/v1/health/")

    assert staff.status_code == 200, staff.data
    assert staff.data["status"] == "ok"
    assert staff.data["checks"]["workers"]["count"] == 1
    assert anonymous.status_code == 200
    assert anonymous.data["checks"] == {"database": {"ok": True}, "broker": {"ok": True}, "workers": {"ok": True}}


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
    assert "no worker" in response.data["checks"]["workers"]["error"]


@pytest.mark.django_db
def test_unreachable_broker_makes_health_down_with_503(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client_for(UserFactory(is_staff=True)).get("/api/v1/health/")
    assert response.status_code == 503
    assert response.data["status"] == "down"
    assert response.data["checks"]["broker"]["ok"] is False
    assert response.data["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_probe_receipt_is_idempotent():
    probe = BrokerProbe.objects.create()
    broker_probe_receive(probe_id=probe.id)
    first = BrokerProbe.objects.get(id=probe.id).received_at
    broker_probe_receive(probe_id=probe.id)
    assert BrokerProbe.objects.get(id=probe.id).received_at == first
