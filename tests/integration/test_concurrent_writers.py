"""Concurrent writers on the configured database (SQLite in WAL + IMMEDIATE mode, or PostgreSQL with row locks)
must serialise: no lost update, no 'database is locked' error, no duplicate schema version."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from annotation.models import Label, SchemaChange
from annotation.services import schema_change_apply
from tests.factories import UserFactory, make_project

N_THREADS = 8
CHANGES_PER_THREAD = 6


@pytest.mark.django_db(transaction=True)
def test_concurrent_schema_changes_get_gapless_unique_versions():
    manager = UserFactory()
    project = make_project(owner=manager, labels=[])

    def add_labels(thread: int) -> None:
        try:
            for n in range(CHANGES_PER_THREAD):
                schema_change_apply(
                    project_id=project.id,
                    user=manager,
                    operation={"op": "add_label", "label": {"name": f"t{thread}-{n}"}},
                )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(N_THREADS) as pool:
        list(pool.map(add_labels, range(N_THREADS)))  # re-raises any thread's error

    total = N_THREADS * CHANGES_PER_THREAD
    project.refresh_from_db()
    assert project.schema_version == total + 1
    versions = list(SchemaChange.objects.filter(project=project).values_list("version", flat=True))
    assert versions == list(range(1, total + 2))
    assert Label.objects.filter(project=project).count() == total
    assert sorted(Label.objects.filter(project=project).values_list("position", flat=True)) == list(range(total))


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-only settings; this run uses " + connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 20_000
