"""Faults under the web tier answer 503 with Retry-After (database gone, locked or not migrated) or 507 (storage
full), never a 500, and leave nothing half-done behind: a retried submit lands once, a failed upload keeps no
file and no job."""

import errno
import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, close_old_connections, connection, connections
from django.db.migrations.recorder import MigrationRecorder

from annotation.models import Annotation, ImportJob, Item, Label
from core import selectors
from core.errors import ServiceUnavailable
from core.faults import DATABASE_RETRY_AFTER_S
from tests.factories import Role, UserFactory, add_member, make_project
from tests.integration.conftest import ROOT, client_for
from tests.integration.conftest import _database_url as database_url

ANNOTATION_INSERT = re.compile(r'INSERT INTO "?annotation_annotation"? ')  # the answer's row, not its labels


@contextmanager
def database_lost(when):
    """From the first statement for which `when(sql)` holds, the web's database connection is gone: on PostgreSQL
    its server process is terminated (pg_terminate_backend); SQLite has no server to lose, so every statement
    fails as on a dead connection. Afterwards, the connection is dropped as the WSGI handler does after each
    request (the test client skips that), so the next request connects afresh."""
    lost = {"at": None}

    def wrapper(execute, sql, params, many, context):
        if lost["at"] is None and when(sql):
            lost["at"] = sql
            if connection.vendor == "postgresql":
                with suppress(Exception):  # the server ends our session: that is the point
                    connection.connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        if lost["at"] is not None and connection.vendor != "postgresql":
            raise OperationalError("disk I/O error")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield lost
    close_old_connections()


def after_the_annotation_commits():
    """True for the first statement after the annotation's transaction committed (the answer is already saved,
    the client only sees the connection die)."""
    seen = {"insert": False}

    def when(sql: str) -> bool:
        seen["insert"] = seen["insert"] or bool(ANNOTATION_INSERT.match(sql))
        return seen["insert"] and not connection.in_atomic_block

    return when


@pytest.fixture
def labeling(transactional_db):
    manager = UserFactory(username="manager", is_staff=True)
    annotator = UserFactory(username="annotator")
    project = make_project(owner=manager)
    add_member(project, annotator, Role.ANNOTATOR)
    item = Item.objects.create(project=project, external_id="only", priority=1.0)
    cat = Label.objects.get(project=project, name="cat")
    api = client_for(annotator)

    def submit(key: str):
        body = {"item_id": item.id, "label_ids": [cat.id], "client_key": key}
        return api.post(f"/api/v1/projects/{project.id}/annotations/", body, format="json")

    assert api.post(f"/api/v1/projects/{project.id}/queue/next/").status_code == 200
    return {"project": project, "item": item, "submit": submit, "api": api, "manager": manager}


def test_submit_whose_connection_dies_answers_503_and_its_retry_lands_exactly_once(labeling):
    with database_lost(lambda sql: bool(ANNOTATION_INSERT.match(sql))) as lost:
        first = labeling["submit"]("key-1")
    retried = labeling["submit"]("key-1")

    assert lost["at"] is not None
    assert first.status_code == 503, first.content
    assert first["Retry-After"] == str(DATABASE_RETRY_AFTER_S)
    assert "retry" in first.json()["detail"].lower()
    assert retried.status_code in (200, 201), retried.content
    assert Annotation.objects.filter(item=labeling["item"]).count() == 1


def test_submit_whose_connection_dies_after_its_commit_is_answered_as_saved_and_a_retry_lands_once(labeling):
    """What runs after the commit (the ranking check, webhooks) never turns a saved answer into an error."""
    with database_lost(after_the_annotation_commits()) as lost:
        first = labeling["submit"]("key-1")
    retried = labeling["submit"]("key-1")

    assert lost["at"] is not None
    assert first.status_code == 201, first.content
    assert retried.status_code == 200, retried.content
    assert retried.json()["id"] == first.json()["id"]
    assert Annotation.objects.filter(item=labeling["item"]).count() == 1


def test_page_whose_database_is_unreachable_answers_503_not_500(labeling):
    client = client_for(None)
    client.force_login(labeling["manager"])

    with database_lost(lambda sql: True):
        page = client.get("/", HTTP_ACCEPT="text/html")
        api = labeling["api"].get(f"/api/v1/projects/{labeling['project'].id}/")

    assert page.status_code == 503
    assert page["Retry-After"] == str(DATABASE_RETRY_AFTER_S)
    assert b"retry" in page.content.lower()
    assert api.status_code == 503
    assert api["Retry-After"] == str(DATABASE_RETRY_AFTER_S)


@contextmanager
def item_locked_by_another_writer(item_id: int):
    """Another session holds a write lock the submit needs, as a frozen worker would: the item's row on
    PostgreSQL, the database's write lock on SQLite."""
    other = connections.create_connection("default")
    other.ensure_connection()
    raw = other.connection
    try:
        if other.vendor == "postgresql":
            raw.execute("BEGIN")
            raw.execute("SELECT id FROM annotation_item WHERE id = %s FOR UPDATE", [item_id])
        else:
            raw.execute("BEGIN IMMEDIATE")
        yield
    finally:
        raw.rollback() if other.vendor == "postgresql" else raw.execute("ROLLBACK")
        other.close()


def test_submit_behind_a_stuck_writer_answers_503_within_the_lock_timeout(labeling):
    lock_timeout_s = float(os.environ.get("DATABASE_LOCK_TIMEOUT_S", 5))

    with item_locked_by_another_writer(labeling["item"].id):
        started = time.monotonic()
        blocked = labeling["submit"]("key-1")
        waited = time.monotonic() - started
    close_old_connections()
    retried = labeling["submit"]("key-1")

    assert blocked.status_code == 503, blocked.content
    assert blocked["Retry-After"]
    assert waited < lock_timeout_s + 3
    assert retried.status_code == 201
    assert Annotation.objects.filter(item=labeling["item"]).count() == 1


def test_submit_behind_a_frozen_holder_of_the_sqlite_write_queue_answers_503_within_the_lock_timeout(
    labeling, tmp_path
):
    """A process frozen while it holds the write queue's lock (inside write_transaction) cannot hold web writers
    for longer than the lock timeout."""
    if connection.vendor != "sqlite":
        pytest.skip("the write queue's file lock exists on SQLite only")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(60)",
            connection.settings_dict["NAME"] + ".writelock",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        blocked = labeling["submit"]("key-1")
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    retried = labeling["submit"]("key-1")

    assert blocked.status_code == 503, blocked.content
    assert blocked["Retry-After"]
    assert connection.settings_dict["OPTIONS"]["timeout"] <= waited < connection.settings_dict["OPTIONS"]["timeout"] + 2
    assert retried.status_code == 201
    assert Annotation.objects.filter(item=labeling["item"]).count() == 1


def test_training_request_on_a_hung_broker_answers_503_with_retry_after_within_seconds(
    labeling, paused_broker, celery_broker
):
    celery_broker(paused_broker)
    manager = client_for(labeling["manager"])

    started = time.monotonic()
    response = manager.post(f"/api/v1/projects/{labeling['project'].id}/learning/train/")
    elapsed = time.monotonic() - started

    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    assert elapsed < 6


def test_domain_503_carries_retry_after():
    from core.api.exceptions import exception_handler

    response = exception_handler(ServiceUnavailable("The task broker is unreachable."), {})

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0


# --- storage -------------------------------------------------------------------------------------------------


@pytest.fixture
def full_disk(settings, tmp_path, monkeypatch):
    """Media on a file system with 64 KiB free: a real tmpfs when this process may mount one, else the same
    limit enforced where storage writes its bytes (ENOSPC past the quota)."""
    media = tmp_path / "tiny"
    media.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "core.storage.FileSystemStorage", "OPTIONS": {"location": str(media)}},
    }
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(media)]).returncode == 0
    except FileNotFoundError:
        mounted = False
    if not mounted:
        from core import storage

        real_fdopen, written = os.fdopen, {"bytes": 0}

        class Quota:
            def __init__(self, handle):
                self.handle = handle

            def write(self, data):
                written["bytes"] += len(data)
                if written["bytes"] > 64 * 1024:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return self.handle.write(data)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.handle.close()

        monkeypatch.setattr(storage.os, "fdopen", lambda fd, mode: Quota(real_fdopen(fd, mode)))
    yield media
    if mounted:
        subprocess.run(["umount", str(media)], check=True)


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


@pytest.mark.django_db
def test_upload_that_fills_the_disk_answers_507_and_keeps_no_file_and_no_job(full_disk):
    manager = UserFactory(username="manager", is_staff=True)
    project = make_project(owner=manager, name="Wine", data_kind="tabular", labels=[{"name": "red"}])
    table = b"a,b\n" + b"1,2\n" * 40_000  # 160 KB: more than the disk has
    body = {"files": [SimpleUploadedFile("wine.csv", table)], "mode": "all_or_nothing"}

    response = client_for(manager).post(f"/api/v1/projects/{project.id}/imports/", body, format="multipart")

    assert response.status_code == 507, response.content
    assert response["Content-Type"] == "application/json"
    assert "full" in response.json()["detail"]
    assert files_under(full_disk) == []
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_upload_of_several_files_that_fills_the_disk_keeps_none_of_them(full_disk):
    manager = UserFactory(username="manager", is_staff=True)
    project = make_project(owner=manager, name="Pets")
    files = [SimpleUploadedFile(f"{n}.png", os.urandom(24 * 1024)) for n in range(4)]  # the third one fills it

    response = client_for(manager).post(
        f"/api/v1/projects/{project.id}/imports/", {"files": files, "mode": "all_or_nothing"}, format="multipart"
    )

    assert response.status_code == 507, response.content
    assert files_under(full_disk) == []
    assert not ImportJob.objects.exists()


# --- migrations ----------------------------------------------------------------------------------------------


@pytest.fixture
def unmigrated(monkeypatch):
    """The newest core migration recorded as not applied, as after an upgrade whose `migrate` has not run; the
    fixture's value applies it. This process has not checked yet, and re-checks on every request."""
    monkeypatch.setattr(selectors, "migration_state", selectors.MigrationState())
    monkeypatch.setattr(selectors, "MIGRATIONS_RECHECK_S", 0)
    recorder = MigrationRecorder(connection)
    latest = recorder.migration_qs.filter(app="core").order_by("-name").first()
    recorder.record_unapplied("core", latest.name)
    return lambda: recorder.record_applied("core", latest.name)


@pytest.mark.django_db
def test_install_with_unapplied_migrations_refuses_to_serve_and_health_names_the_app(unmigrated):
    manager = UserFactory(username="manager", is_staff=True)
    api, page = client_for(manager), client_for(None)

    refused = api.get("/api/v1/projects/")
    refused_page = page.get("/login/", HTTP_ACCEPT="text/html")
    health = api.get("/api/v1/health/")
    unmigrated()  # `migrate` ran
    served = api.get("/api/v1/projects/")

    assert refused.status_code == 503
    assert refused["Retry-After"]
    assert "core" in refused.json()["detail"]
    assert refused_page.status_code == 503
    assert health.status_code == 503
    assert health.json()["status"] == "down"
    assert "migrations not applied: core" in health.json()["reasons"]
    assert health.json()["checks"]["migrations"]["unapplied_apps"] == ["core"]
    assert served.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_migrate_runs_both_succeed(tmp_path):
    """Two `migrate` processes on one fresh database: the second waits for the first, then has nothing to do."""
    if connection.vendor == "postgresql":
        name = f"{connection.settings_dict['NAME']}_migrate"
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
        url = database_url().rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": url}
    try:
        runs = [
            subprocess.Popen(
                [sys.executable, "manage.py", "migrate", "--no-input"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=180)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert sum("No migrations to apply" in output for output in outputs) == 1, outputs
    finally:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_database_failure_outside_any_view_answers_503_not_500(rf):
    """A middleware (the session's save) failing after the view: handler500 still says "retry"."""
    from core.middleware import server_error

    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = server_error(rf.get("/", HTTP_ACCEPT="text/html"))

    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_S)


@pytest.mark.django_db
def test_database_sessions_carry_the_configured_timeouts():
    """The timeouts of database_config reach every new session (what a web request gets)."""
    fresh = connections.create_connection("default")
    options = fresh.settings_dict["OPTIONS"]
    try:
        with fresh.cursor() as cursor:
            if fresh.vendor == "postgresql":
                expected = dict(part.split("=") for part in options["options"].replace("-c ", "").split())
                cursor.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(expected)])
                actual = dict(cursor.fetchall())
            else:
                expected = {"busy_timeout": round(options["timeout"] * 1000)}
                cursor.execute("PRAGMA busy_timeout")
                actual = {"busy_timeout": cursor.fetchone()[0]}
    finally:
        fresh.close()

    assert actual == expected
    assert len(expected) == (3 if fresh.vendor == "postgresql" else 1)  # lock, statement, idle in transaction


FROZEN_WORKER = """
import os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loupe.settings")
django.setup()
from django.db import transaction
from annotation.models import Item
with transaction.atomic():
    list(Item.objects.select_for_update().filter(id=int(sys.argv[-1])))
    print("locked", flush=True)
    time.sleep(120)  # frozen, its transaction open
"""


def test_worker_frozen_in_a_transaction_loses_its_locks_and_submits_go_on(labeling, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("idle_in_transaction_session_timeout is PostgreSQL's; SQLite's stuck writer gets a 503 instead")
    script = tmp_path / "frozen.py"
    script.write_text(FROZEN_WORKER)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url(),
        "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_S": "1",
    }
    frozen = subprocess.Popen(
        [sys.executable, str(script), str(labeling["item"].id)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert frozen.stdout.readline().strip() == "locked"
        started = time.monotonic()
        submitted = labeling["submit"]("key-1")
        waited = time.monotonic() - started
    finally:
        frozen.kill()
        frozen.wait()

    assert submitted.status_code == 201, submitted.content
    assert waited < 4  # the idle timeout (1 s) ended the frozen transaction before the lock timeout (5 s)
    assert Annotation.objects.filter(item=labeling["item"]).count() == 1


def test_labeling_goes_on_while_the_shared_cache_is_unreachable(labeling, settings):
    """Throttling counters live in Redis: while it restarts they are not counted, and nothing answers 5xx."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens here once the socket is closed
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.FailOpenRedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed}/0",
            "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
        }
    }
    served = labeling["api"].post(f"/api/v1/projects/{labeling['project'].id}/queue/next/")
    submitted = labeling["submit"]("key-1")

    assert served.status_code == 200, served.content
    assert submitted.status_code == 201, submitted.content
    assert Annotation.objects.filter(item=labeling["item"]).count() == 1
