"""A project archive carries every table of a project: exported, imported through the API by a worker, and
compared table by table with the original (ids aside: rows are compared by what they say)."""

import io
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotation.io import exporters
from annotation.io.exporters import ARCHIVED_PROJECT_FIELDS
from annotation.jobs import import_job_execute
from annotation.models import (
    Annotation,
    ImportJob,
    Invitation,
    Item,
    ItemEvent,
    Label,
    Membership,
    Project,
    Review,
    SchemaChange,
    Skip,
)
from annotation.review import item_review
from annotation.services import invitation_create, invitation_revoke, membership_add
from tests.factories import UserFactory, make_annotation, make_image_item, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db

# Tables that hang off a project and are deliberately not in an archive: work in hand (leases, drafts), the
# project's job history, the model's state, which the copy rebuilds by training (drift alerts with it), and other
# models' predictions, which are imported again from their own files, and webhooks, whose addresses and secrets
# belong to the install that sends them.
NOT_ARCHIVED = {
    "annotation.Lease",
    "annotation.Draft",
    "annotation.ImportJob",
    "annotation.ExportJob",
    "annotation.Ranking",
    "annotation.RankedItem",
    "active_learning.StrategySetting",
    "active_learning.LearningRun",
    "active_learning.ModelVersion",
    "active_learning.LabelIssue",
    "active_learning.DriftAlert",
    "annotation.ExternalPrediction",
    "integrations.Webhook",
}


def contents(project: Project) -> dict[str, list]:
    """Every archived table of `project`, as sorted rows of natural values."""
    in_project = {"item__project": project}

    def rows(model, *fields, **where):
        return sorted(model.objects.filter(**where).values_list(*fields), key=repr)

    return {
        "annotation.Project": [tuple(getattr(project, f) for f in ARCHIVED_PROJECT_FIELDS)],
        "annotation.Label": rows(
            Label,
            "name",
            "color",
            "hotkey",
            "description",
            "position",
            "retired_at",
            "merged_into__name",
            project=project,
        ),
        "annotation.SchemaChange": rows(
            SchemaChange, "version", "operation", "changed_by__username", "created_at", project=project
        ),
        "annotation.Membership": rows(Membership, "user__username", "role", project=project),
        "annotation.Invitation": rows(
            Invitation,
            "email",
            "role",
            "invited_by__username",
            "accepted_by__username",
            "created_at",
            "expires_at",
            "accepted_at",
            "revoked_at",
            project=project,
        ),
        "annotation.Item": rows(
            Item,
            "external_id",
            "data",
            "content_hash",
            "status",
            "annotation_count",
            "agreement",
            "review_status",
            "width",
            "height",
            "created_at",
            project=project,
        ),
        "annotation.Annotation": rows(
            Annotation,
            "item__external_id",
            "annotator__username",
            "annotator__email",
            "annotator__is_active",
            "labels__name",
            "status",
            "created_at",
            "updated_at",
            "time_spent_ms",
            **in_project,
        ),
        "annotation.Skip": rows(Skip, "item__external_id", "user__username", "reason", "created_at", **in_project),
        "annotation.Review": rows(
            Review,
            "item__external_id",
            "reviewer__username",
            "reviewer__email",
            "reviewer__is_active",
            "decision",
            "comment",
            "labels__name",
            "created_at",
            **in_project,
        ),
        "annotation.ItemEvent": rows(
            ItemEvent, "item__external_id", "actor__username", "kind", "comment", "created_at", **in_project
        ),
    }


def test_every_table_of_a_project_survives_an_archive_into_a_new_install(django_user_model):
    manager = UserFactory(username="maria", is_staff=True)
    ali = UserFactory(username="ali", email="ali@example.org")
    rita = UserFactory(username="rita", email="rita@example.org")
    project = make_project(owner=manager, name="Pets")
    membership_add(project=project, username="ali", role="annotator")
    membership_add(project=project, username="rita", role="reviewer")
    invitation_create(project=project, email="new@example.org", role="annotator", invited_by=manager)
    revoked, _ = invitation_create(project=project, email="gone@example.org", role="reviewer", invited_by=manager)
    invitation_revoke(project=project, invitation_id=revoked.id)
    cat, dog = Label.objects.filter(project=project).order_by("id")
    items = [make_image_item(project, f"{n}.png", color=(n, 10, 10)) for n in range(3)]
    make_annotation(items[0], ali, cat)
    make_annotation(items[1], ali, dog)
    Skip.objects.create(item=items[2], user=ali, reason="blurry")
    Skip.objects.filter(item=items[2]).update(created_at=timezone.now() - timedelta(days=3))  # an old skip
    Item.objects.filter(id__in=[items[0].id, items[1].id]).update(status="done", annotation_count=1, agreement=1.0)
    item_review(reviewer=rita, project=project, item_id=items[0].id, decision="correct", label_ids=[dog.id])
    before = contents(project)
    archive = io.BytesIO()
    exporters.write(project, "loupe", {}, archive)

    # A fresh install: the people are gone, the project too.
    Project.objects.all().delete()
    django_user_model.objects.exclude(username="maria").delete()
    response = client_for(manager).post(
        "/api/v1/projects/import-archive/",
        {"file": SimpleUploadedFile("pets.loupe.zip", archive.getvalue()), "name": "Pets"},
        format="multipart",
    )
    assert response.status_code == 202
    import_job_execute(job_id=response.data["job"]["id"])
    import_job_execute(job_id=response.data["job"]["id"])  # a redelivered task changes nothing
    copy = Project.objects.get(name="Pets")

    assert ImportJob.objects.get(project=copy).status == "done"
    after = contents(copy)
    for table, rows in before.items():
        assert after[table] == rows, table
    project_tables = {
        model._meta.label
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if field.many_to_one and field.related_model in (Project, Item)
    }
    assert project_tables == set(before) - {"annotation.Project"} | NOT_ARCHIVED  # a new table needs a decision


def test_a_damaged_archive_fails_its_job_with_the_reason_and_leaves_the_project_empty():
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(owner=manager, name="Pets")
    make_image_item(project, "a.png")
    archive = io.BytesIO()
    exporters.write(project, "loupe", {}, archive)
    damaged = archive.getvalue().replace(b"items.jsonl", b"itemz.jsonl")  # the zip's names, local and central

    response = client_for(manager).post(
        "/api/v1/projects/import-archive/",
        {"file": SimpleUploadedFile("p.loupe.zip", damaged), "name": "Copy"},
        format="multipart",
    )
    assert response.status_code == 202
    import_job_execute(job_id=response.data["job"]["id"])

    job = ImportJob.objects.get(id=response.data["job"]["id"])
    assert job.status == "failed"
    assert "damaged or was altered" in job.failure
    assert not Item.objects.filter(project__name="Copy").exists()
    assert not Label.objects.filter(project__name="Copy").exists()


def test_a_file_that_is_not_an_archive_is_refused_before_any_project_is_made():
    manager = UserFactory(username="maria", is_staff=True)
    response = client_for(manager).post(
        "/api/v1/projects/import-archive/",
        {"file": SimpleUploadedFile("p.loupe.zip", b"PK not a zip"), "name": "Copy"},
        format="multipart",
    )
    assert response.status_code == 400
    assert not Project.objects.filter(name="Copy").exists()
