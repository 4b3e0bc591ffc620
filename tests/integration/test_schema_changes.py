"""Label-schema changes are explicit operations; each makes a new version and never orphans or rewrites
annotations."""

import pytest

from annotation.models import Annotation, Label, SchemaChange
from tests.factories import UserFactory, make_annotation, make_image_item, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager():
    return UserFactory(is_staff=True)


@pytest.fixture
def project(manager):
    return make_project(
        owner=manager,
        labels=[{"name": "cat", "hotkey": "1"}, {"name": "dog", "hotkey": "2"}, {"name": "kitten", "hotkey": "3"}],
    )


def change(manager, project, body):
    return client_for(manager).post(f"/api/v1/projects/{project.id}/schema/changes/", body, format="json")


def label(project, name):
    return Label.objects.get(project=project, name=name)


def test_each_change_makes_the_next_version_with_history(manager, project):
    assert change(manager, project, {"op": "add_label", "label": {"name": "bird", "hotkey": "4"}}).status_code == 201
    assert (
        change(
            manager, project, {"op": "rename_label", "label_id": label(project, "bird").id, "name": "owl"}
        ).status_code
        == 201
    )

    history = client_for(manager).get(f"/api/v1/projects/{project.id}/schema/changes/").data
    assert [(h["version"], h["operation"]) for h in history] == [(1, "create"), (2, "add_label"), (3, "rename_label")]
    assert history[2]["payload"]["old_name"] == "bird"
    schema = client_for(manager).get(f"/api/v1/projects/{project.id}/schema/").data
    assert schema["version"] == 3
    assert [entry["name"] for entry in schema["labels"]] == ["cat", "dog", "kitten", "owl"]


def test_rename_keeps_annotations_on_the_same_label(manager, project):
    annotation = make_annotation(make_image_item(project), manager, label(project, "dog"))
    response = change(manager, project, {"op": "rename_label", "label_id": label(project, "dog").id, "name": "puppy"})
    assert response.status_code == 201
    assert [entry.name for entry in annotation.labels.all()] == ["puppy"]


def test_retire_hides_label_from_new_work_but_keeps_its_annotations(manager, project):
    annotation = make_annotation(make_image_item(project), manager, label(project, "dog"))
    response = change(manager, project, {"op": "retire_label", "label_id": label(project, "dog").id})

    assert response.status_code == 201
    assert response.data["payload"]["annotations_kept"] == 1
    assert not label(project, "dog").is_active
    assert list(annotation.labels.all()) == [label(project, "dog")]
    assert (
        change(manager, project, {"op": "rename_label", "label_id": label(project, "dog").id, "name": "x"}).status_code
        == 409
    )


def test_merge_points_sources_at_target_without_rewriting_annotations(manager, project):
    annotation = make_annotation(make_image_item(project), manager, label(project, "kitten"))
    body = {"op": "merge_labels", "source_ids": [label(project, "kitten").id], "target_id": label(project, "cat").id}
    response = change(manager, project, body)

    assert response.status_code == 201
    kitten = label(project, "kitten")
    assert kitten.merged_into == label(project, "cat")
    assert not kitten.is_active
    assert list(annotation.labels.all()) == [kitten]
    assert Annotation.objects.count() == 1


def test_retired_hotkey_can_be_reused_but_active_hotkey_cannot(manager, project):
    assert change(manager, project, {"op": "add_label", "label": {"name": "bird", "hotkey": "1"}}).status_code == 409
    change(manager, project, {"op": "retire_label", "label_id": label(project, "cat").id})
    assert change(manager, project, {"op": "add_label", "label": {"name": "bird", "hotkey": "1"}}).status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"op": "explode"}, 400, "non_field_errors"),
        ({"op": "add_label", "label": {"name": "Cat"}}, 409, "label.name"),
        ({"op": "rename_label", "label_id": 999999, "name": "x"}, 404, "label_id"),
        ({"op": "rename_label", "name": "x"}, 400, "rename_label.label_id"),
        ({"op": "update_label", "label_id": 0, "color": "blue"}, 400, "update_label.color"),
        ({"op": "set_columns", "shown_columns": [], "feature_columns": []}, 400, "shown_columns"),
    ],
)
def test_bad_changes_get_a_precise_4xx_and_change_nothing(manager, project, body, status, field):
    response = change(manager, project, body)
    assert response.status_code == status, response.data
    assert field in response.data, response.data
    project.refresh_from_db()
    assert project.schema_version == 1
    assert SchemaChange.objects.filter(project=project).count() == 1


def test_merge_into_itself_is_refused(manager, project):
    cat = label(project, "cat").id
    response = change(manager, project, {"op": "merge_labels", "source_ids": [cat], "target_id": cat})
    assert response.status_code == 400


def test_multi_label_annotations_block_switch_to_single_label(manager):
    project = make_project(owner=manager, task_type="multi_label")
    make_annotation(make_image_item(project), manager, *Label.objects.filter(project=project))
    response = change(manager, project, {"op": "set_task_type", "task_type": "single_label"})
    assert response.status_code == 409
    assert "1 annotations carry several labels" in response.data["task_type"][0]


def test_columns_must_exist_in_the_tabular_data(manager):
    from annotation.models import Item

    project = make_project(owner=manager, name="Table", data_kind="tabular")
    Item.objects.create(project=project, data={"alcohol": 13.2, "color": "red"})
    bad = change(manager, project, {"op": "set_columns", "shown_columns": ["alcohol", "ph"], "feature_columns": []})
    good = change(manager, project, {"op": "set_columns", "shown_columns": ["color"], "feature_columns": ["alcohol"]})

    assert bad.status_code == 400
    assert "ph" in bad.data["shown_columns"][0]
    assert good.status_code == 201
    project.refresh_from_db()
    assert (project.shown_columns, project.feature_columns) == (["color"], ["alcohol"])
