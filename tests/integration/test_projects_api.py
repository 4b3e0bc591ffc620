import pytest

from annotation.models import Label, Project, SchemaChange
from tests.factories import UserFactory
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return UserFactory(is_staff=True)


def test_create_project_makes_creator_manager_and_schema_version_1(admin):
    body = {
        "name": "Wine",
        "data_kind": "tabular",
        "labels": [{"name": "red", "hotkey": "1"}, {"name": "white"}],
        "shown_columns": ["alcohol"],
        "feature_columns": ["alcohol", "ph"],
    }
    response = client_for(admin).post("/api/v1/projects/", body, format="json")

    assert response.status_code == 201, response.data
    project = Project.objects.get(name="Wine")
    assert project.memberships.get().user == admin
    assert project.memberships.get().role == "manager"
    assert [(label.name, label.hotkey) for label in project.labels.all()] == [("red", "1"), ("white", "")]
    assert project.labels.get(name="white").color.startswith("#")
    assert SchemaChange.objects.get(project=project).version == 1
    assert response.data["schema_version"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data_kind": "image"}, "name"),
        ({"name": "X", "data_kind": "video"}, "data_kind"),
        ({"name": "X", "data_kind": "image", "labels": [{"name": ""}]}, "labels.0.name"),
        ({"name": "X", "data_kind": "image", "labels": [{"name": "a", "color": "red"}]}, "labels.0.color"),
        ({"name": "X", "data_kind": "image", "labels": [{"name": "a", "hotkey": "s"}]}, "labels.0.hotkey"),
        ({"name": "X", "data_kind": "image", "labels": [{"name": "a"}, {"name": "A"}]}, "labels"),
        ({"name": "X", "data_kind": "image", "labels": [{"name": "a", "size": 3}]}, "labels.0.size"),
        ({"name": "X", "data_kind": "image", "labels": "cat,dog"}, "labels"),
        ({"name": "X", "data_kind": "image", "shown_columns": ["a"]}, "shown_columns"),
        ({"name": "X", "data_kind": "tabular", "feature_columns": ["a", "a"]}, "feature_columns"),
    ],
)
def test_create_project_rejects_bad_input_per_field_and_stores_nothing(admin, body, field):
    response = client_for(admin).post("/api/v1/projects/", body, format="json")

    assert response.status_code == 400
    assert field in response.data, response.data
    assert not Project.objects.exists()
    assert not Label.objects.exists()


def test_create_project_with_taken_name_is_a_conflict(admin):
    client_for(admin).post("/api/v1/projects/", {"name": "Cats", "data_kind": "image"}, format="json")
    response = client_for(admin).post("/api/v1/projects/", {"name": "cats", "data_kind": "image"}, format="json")
    assert response.status_code == 409
    assert "already exists" in response.data["name"][0]


def test_malformed_json_is_a_400_not_a_500(admin):
    response = client_for(admin).post("/api/v1/projects/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.data["detail"]


def test_update_project_changes_name_and_instructions_only(admin):
    project_id = (
        client_for(admin).post("/api/v1/projects/", {"name": "A", "data_kind": "image"}, format="json").data["id"]
    )
    response = client_for(admin).patch(
        f"/api/v1/projects/{project_id}/", {"name": "B", "instructions": "Zoom in", "task_type": "multi_label"}
    )
    assert response.status_code == 200
    project = Project.objects.get(id=project_id)
    assert (project.name, project.instructions, project.task_type) == ("B", "Zoom in", "single_label")


def test_delete_project_removes_it(admin):
    project_id = (
        client_for(admin).post("/api/v1/projects/", {"name": "A", "data_kind": "image"}, format="json").data["id"]
    )
    assert client_for(admin).delete(f"/api/v1/projects/{project_id}/").status_code == 204
    assert client_for(admin).get(f"/api/v1/projects/{project_id}/").status_code == 404


def test_oversized_body_is_a_413_with_the_limit(admin, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = {"name": "x" * 2048, "data_kind": "image"}
    response = client_for(admin).post("/api/v1/projects/", body, format="json")
    assert response.status_code == 413
    assert "larger than this server accepts" in response.data["detail"]
    assert not Project.objects.exists()


@pytest.mark.parametrize("payload", ["[]", "null", '"text"', "[1, 2]"])
def test_json_that_is_not_an_object_is_a_400(admin, payload):
    project_id = client_for(admin).post("/api/v1/projects/", {"name": "A", "data_kind": "image"}, format="json")
    project_id = project_id.data["id"]
    for url in ("/api/v1/projects/", f"/api/v1/projects/{project_id}/schema/changes/"):
        response = client_for(admin).post(url, payload, content_type="application/json")
        assert response.status_code == 400, (url, response.data)


def test_create_answers_with_the_creators_role_and_counts(admin):
    response = client_for(admin).post("/api/v1/projects/", {"name": "A", "data_kind": "image"}, format="json")
    assert response.data["my_role"] == "manager"
    assert response.data["item_count"] == 0


def test_ids_beyond_the_database_integer_range_are_404(admin):
    project_id = client_for(admin).post("/api/v1/projects/", {"name": "A", "data_kind": "image"}, format="json")
    project_id = project_id.data["id"]
    huge = 10**25
    assert client_for(admin).get(f"/api/v1/projects/{huge}/").status_code == 404
    assert client_for(admin).get(f"/api/v1/projects/{project_id}/items/{huge}/").status_code == 404
    body = {"op": "rename_label", "label_id": huge, "name": "x"}
    response = client_for(admin).post(f"/api/v1/projects/{project_id}/schema/changes/", body, format="json")
    assert response.status_code in (400, 404)
