"""Every endpoint, with each persona: outsiders get 404 (the project does not exist for them), members whose
role lacks the right get 403, anonymous callers get 401."""

import pytest

from tests.integration.conftest import client_for

PERSONAS = ["manager", "reviewer", "annotator", "outsider", "anonymous"]
VIEW = {"manager": 2, "reviewer": 2, "annotator": 2, "outsider": 404, "anonymous": 401}
MANAGE = {"manager": 2, "reviewer": 403, "annotator": 403, "outsider": 404, "anonymous": 401}
LABEL = VIEW
REVIEW = {"manager": 2, "reviewer": 2, "annotator": 403, "outsider": 404, "anonymous": 401}
REVIEW_OPEN_ITEM = {**REVIEW, "manager": 409, "reviewer": 409}  # allowed, but the item is not done yet


def _invitation_id(p):
    from annotation.services import invitation_create

    return invitation_create(project=p.project, email="x@example.com", role="annotator", invited_by=p.manager)[0].id


# (name, method, path template, body or callable(personas) -> body, expected status per persona; 2 = any 2xx)
CASES = [
    ("project detail", "get", "/api/v1/projects/{project}/", None, VIEW),
    ("project update", "patch", "/api/v1/projects/{project}/", {"instructions": "Be careful"}, MANAGE),
    ("project delete", "delete", "/api/v1/projects/{project}/", None, MANAGE),
    ("member list", "get", "/api/v1/projects/{project}/members/", None, VIEW),
    (
        "member add",
        "post",
        "/api/v1/projects/{project}/members/",
        {"username": "newcomer", "role": "annotator"},
        MANAGE,
    ),
    ("member role", "patch", "/api/v1/projects/{project}/members/{annotator}/", {"role": "reviewer"}, MANAGE),
    ("member remove", "delete", "/api/v1/projects/{project}/members/{annotator}/", None, MANAGE),
    ("invitation list", "get", "/api/v1/projects/{project}/invitations/", None, MANAGE),
    (
        "invitation create",
        "post",
        "/api/v1/projects/{project}/invitations/",
        {"email": "new@example.com", "role": "annotator"},
        MANAGE,
    ),
    ("invitation revoke", "delete", "/api/v1/projects/{project}/invitations/{invitation}/", None, MANAGE),
    ("schema", "get", "/api/v1/projects/{project}/schema/", None, VIEW),
    ("schema history", "get", "/api/v1/projects/{project}/schema/changes/", None, VIEW),
    (
        "schema change",
        "post",
        "/api/v1/projects/{project}/schema/changes/",
        {"op": "add_label", "label": {"name": "bird"}},
        MANAGE,
    ),
    ("label list", "get", "/api/v1/projects/{project}/labels/", None, VIEW),
    ("item list", "get", "/api/v1/projects/{project}/items/", None, VIEW),
    ("item detail", "get", "/api/v1/projects/{project}/items/{item}/", None, VIEW),
    ("item image", "get", "/api/v1/projects/{project}/items/{item}/image/", None, VIEW),
    ("queue next", "post", "/api/v1/projects/{project}/queue/next/", None, LABEL),
    (
        "submit",
        "post",
        "/api/v1/projects/{project}/annotations/",
        {"item_id": "{item}", "label_ids": ["{label}"]},
        LABEL,
    ),
    (
        "undo",
        "post",
        "/api/v1/projects/{project}/annotations/undo/",
        None,
        {**LABEL, "manager": 404, "reviewer": 404, "annotator": 404},
    ),
    ("skip", "post", "/api/v1/projects/{project}/items/{item}/skip/", {"reason": "blurry"}, LABEL),
    ("draft", "put", "/api/v1/projects/{project}/items/{item}/draft/", {"label_ids": ["{label}"]}, LABEL),
    ("item answers", "get", "/api/v1/projects/{project}/items/{item}/annotations/", None, REVIEW),
    ("item history", "get", "/api/v1/projects/{project}/items/{item}/history/", None, REVIEW),
    ("review queue", "get", "/api/v1/projects/{project}/review/queue/", None, REVIEW),
    (
        "review item",
        "post",
        "/api/v1/projects/{project}/items/{item}/review/",
        {"decision": "accept"},
        REVIEW_OPEN_ITEM,
    ),
    ("progress", "get", "/api/v1/projects/{project}/progress/", None, REVIEW),
    ("agreement", "get", "/api/v1/projects/{project}/agreement/", None, REVIEW),
    ("import list", "get", "/api/v1/projects/{project}/imports/", None, MANAGE),
    ("import detail", "get", "/api/v1/projects/{project}/imports/{import_job}/", None, MANAGE),
    ("export list", "get", "/api/v1/projects/{project}/exports/", None, MANAGE),
    ("export create", "post", "/api/v1/projects/{project}/exports/", {"format": "csv"}, MANAGE),
    ("export detail", "get", "/api/v1/projects/{project}/exports/{export_job}/", None, MANAGE),
    (
        "export download",
        "get",
        "/api/v1/projects/{project}/exports/{export_job}/download/",
        None,
        {**MANAGE, "manager": 409},
    ),  # allowed, but the export is still queued
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "method", "path", "body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_endpoint_answers_each_persona_by_role(personas, persona, name, method, path, body, expected):
    from tests.factories import UserFactory

    UserFactory(username="newcomer")
    from annotation.models import ExportJob, ImportJob

    jobs = {"created_by": personas.manager, "project": personas.project}
    url = path.format(
        import_job=ImportJob.objects.create(kind="images", source_dir="x", **jobs).id if "{import_job}" in path else "",
        export_job=ExportJob.objects.create(format="csv", **jobs).id if "{export_job}" in path else "",
        project=personas.project.id,
        annotator=personas.annotator.id,
        item=personas.item.id,
        invitation=_invitation_id(personas) if "{invitation}" in path else "",
    )
    label = personas.project.labels.first().id
    if body:
        body = {k: [label] if v == ["{label}"] else personas.item.id if v == "{item}" else v for k, v in body.items()}
    response = getattr(client_for(personas.user(persona)), method)(url, body, format="json")
    if expected[persona] == 2:
        assert 200 <= response.status_code < 300, (response.status_code, getattr(response, "data", None))
    else:
        assert response.status_code == expected[persona], getattr(response, "data", None)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/{other}/items/{other_item}/",
        "/api/v1/projects/{other}/items/{other_item}/image/",
        "/api/v1/projects/{mine}/items/{other_item}/",  # a foreign item under a project the user belongs to
        "/api/v1/projects/{mine}/items/{other_item}/image/",
    ],
)
def test_rows_of_another_project_are_not_found(personas, path):
    url = path.format(other=personas.other_project.id, other_item=personas.other_item.id, mine=personas.project.id)
    assert client_for(personas.annotator).get(url).status_code == 404


def test_project_list_shows_only_the_users_projects(personas):
    names = {p["name"] for p in client_for(personas.annotator).get("/api/v1/projects/").data}
    assert names == {"Main"}
    assert {p["name"] for p in client_for(personas.outsider).get("/api/v1/projects/").data} == {"Other"}


def test_item_list_and_count_cover_only_the_project(personas):
    response = client_for(personas.manager).get(f"/api/v1/projects/{personas.project.id}/items/")
    assert response.data["count"] == 1
    assert [row["id"] for row in response.data["results"]] == [personas.item.id]


def test_only_admins_create_projects(personas):
    body = {"name": "New", "data_kind": "image"}
    assert client_for(personas.annotator).post("/api/v1/projects/", body, format="json").status_code == 403
    assert client_for(None).post("/api/v1/projects/", body, format="json").status_code == 401
    assert client_for(personas.manager).post("/api/v1/projects/", body, format="json").status_code == 201


def test_superuser_manages_every_project(personas):
    from tests.factories import UserFactory

    admin = UserFactory(is_superuser=True, is_staff=True)
    response = client_for(admin).patch(f"/api/v1/projects/{personas.other_project.id}/", {"instructions": "x"})
    assert response.status_code == 200
