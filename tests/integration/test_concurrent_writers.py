"""Concurrent writers on the configured database (SQLite in WAL + IMMEDIATE mode, or PostgreSQL with row locks)
must serialise: no lost update, no 'database is locked' error, no duplicate schema version."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import Count

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
        # The lock timeout: long enough for the write queue, short enough that a stuck writer gets a 503.
        assert cursor.fetchone()[0] == connection.settings_dict["OPTIONS"]["timeout"] * 1000 > 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("overlap", [1, 2])
def test_many_annotators_hammering_one_queue_never_exceed_overlap_or_lose_work(overlap):
    """8 annotator threads loop next -> submit until the queue is empty."""
    from annotation.labeling import annotation_submit, item_next_for_user
    from annotation.models import Annotation, Item, Lease
    from tests.factories import Role, add_member

    manager = UserFactory()
    project = make_project(owner=manager)
    project.overlap = overlap
    project.save()
    Item.objects.bulk_create(Item(project=project, external_id=str(n), priority=n % 7) for n in range(60))
    label_id = Label.objects.filter(project=project).first().id
    users = [UserFactory() for _ in range(N_THREADS)]
    for user in users:
        add_member(project, user, Role.ANNOTATOR)

    def annotate(user) -> list[int]:
        submitted = []
        try:
            while (found := item_next_for_user(user=user, project=project)) is not None:
                item, _ = found
                annotation, created = annotation_submit(
                    user=user, project=project, item_id=item.id, label_ids=[label_id], client_key=f"{item.id}"
                )
                assert created
                submitted.append(annotation.id)
        finally:
            connections.close_all()
        return submitted

    with ThreadPoolExecutor(N_THREADS) as pool:
        submitted = [a for batch in pool.map(annotate, users) for a in batch]

    assert len(submitted) == 60 * overlap  # every submit landed
    assert Annotation.objects.count() == 60 * overlap  # and none was lost or doubled
    per_item = Annotation.objects.values("item_id").annotate(n=Count("id")).values_list("n", flat=True)
    assert set(per_item) == {overlap}
    per_pair = Annotation.objects.values("item_id", "annotator_id").annotate(n=Count("id"))
    assert max(row["n"] for row in per_pair) == 1  # nobody answered one item twice
    assert not Lease.objects.exists()  # no stuck lease
    assert set(Item.objects.values_list("status", flat=True)) == {"done"}
