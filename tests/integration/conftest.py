import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from rest_framework.test import APIClient

from core.models import WorkerHeartbeat
from loupe.celery import app
from tests.factories import Role, UserFactory, add_member, make_image_item, make_project
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api():
    return APIClient()


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


class Personas:
    """A project with a manager (its owner), a reviewer and an annotator; an outsider who manages a
    second project of their own; and an anonymous visitor."""

    def __init__(self):
        self.manager = UserFactory(username="manager", is_staff=True)
        self.reviewer = UserFactory(username="reviewer")
        self.annotator = UserFactory(username="annotator")
        self.outsider = UserFactory(username="outsider", is_staff=True)
        self.project = make_project(owner=self.manager, name="Main")
        add_member(self.project, self.reviewer, Role.REVIEWER)
        add_member(self.project, self.annotator, Role.ANNOTATOR)
        self.item = make_image_item(self.project, "main.png")
        self.other_project = make_project(owner=self.outsider, name="Other")
        self.other_item = make_image_item(self.other_project, "other.png", color=(1, 2, 3))

    def user(self, name: str):
        return None if name == "anonymous" else getattr(self, name)


@pytest.fixture
def personas(db):
    return Personas()


def _database_url() -> str:
    """The URL of the database the tests run on (the test database), for a worker process."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    credentials = quote(s["USER"]) + (f":{quote(s['PASSWORD'])}" if s["PASSWORD"] else "")
    return f"postgres://{credentials}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def start_worker(transactional_db, tmp_path, settings):
    """Start real Celery worker processes on the test database, the configured broker and this test's media
    folder: `start_worker()` returns a running process (stopped at the end of the test if still alive) that
    consumes every queue; `start_worker(queues=["training"])` one that consumes only those (settings.TASK_QUEUES
    keys); `env={...}` adds environment variables (a shorter job lease, say) and `beat=True` runs the periodic
    tasks (the stale-job sweep) inside it."""
    media = settings.STORAGES["default"]["OPTIONS"]["location"]
    base_env = {"DATABASE_URL": _database_url(), "WORKER_HEARTBEAT_INTERVAL_S": "1", "LOUPE_MEDIA_ROOT": media}
    started = []
    app.control.purge()  # messages left by earlier tests name rows of their own database, not this one's

    def start(queues=tuple(settings.TASK_QUEUES), env=None, beat=False):
        hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
        consumed = ",".join(settings.TASK_QUEUES[name] for name in queues)
        log_path = tmp_path / f"worker-{len(started)}.log"
        log = log_path.open("w")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "loupe",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--hostname={hostname}",
                f"--queues={consumed}",
                *(["--beat", f"--schedule={tmp_path / 'beat-schedule'}"] if beat else []),
            ],
            cwd=ROOT,
            env={**os.environ, **base_env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append((process, log))

        def heartbeat() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the worker exited at start:\n{log_path.read_text()}")
            return WorkerHeartbeat.objects.filter(hostname=hostname).exists()

        wait_until(heartbeat, 60, f"worker {hostname} to start")  # teardown stops it either way
        return process

    yield start
    for process, log in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        log.close()


@pytest.fixture
def celery_worker(start_worker):
    """One real Celery worker process for the test."""
    return start_worker()


@pytest.fixture
def paused_broker():
    """The URL of a "Redis" that accepts connections and never answers, like a paused or wedged server."""
    listener = socket.create_server(("127.0.0.1", 0))
    held = []

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:  # closed at the end of the test
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()
    for conn in held:
        conn.close()


@pytest.fixture
def celery_broker(monkeypatch):
    """`celery_broker(url)` points this process's Celery app (what the web publishes with) at another broker, with
    the transport options settings would give a Redis broker; `celery_broker(None)` puts the configured broker
    back, as the end of the test does."""
    from loupe.config import redis_transport_options

    previous = app.conf.broker_url, app.conf.broker_transport_options

    def use(url: str | None) -> None:
        url, options = previous if url is None else (url, redis_transport_options(3600))
        monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery reads it before its configuration
        app.conf.broker_url, app.conf.broker_transport_options = url, options
        app._pool = None
        app.amqp._producer_pool = None

    yield use
    use(None)
