"""Hostile and careless input: no 500 for any request, names people can tell apart, and limits everywhere."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation import schemas, services
from annotation.io.images import MAX_PATH_CHARS, MAX_PATH_DEPTH, iter_zip
from annotation.models import Draft, Item, Label, Lease, Project
from core.validation import MAX_COLUMNS
from tests.factories import Role, UserFactory, add_member, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db

BIG = 2**63


@pytest.fixture
def team():
    manager = UserFactory(username="manager", is_staff=True)
    annotator = UserFactory(username="annotator")
    colleague = UserFactory(username="colleague")
    project = make_project(owner=manager, labels=[{"name": "cat", "hotkey": "1"}, {"name": "dog", "hotkey": "2"}])
    add_member(project, annotator, Role.ANNOTATOR)
    add_member(project, colleague, Role.ANNOTATOR)
    items = [Item.objects.create(project=project, external_id=f"i{n}", priority=float(n)) for n in range(3)]
    labels = {label.name: label.id for label in Label.objects.filter(project=project)}
    return {"manager": manager, "annotator": annotator, "colleague": colleague, "project": project, "items": items,
            "labels": labels}  # fmt: skip


def url(team, tail=""):
    return f"/api/v1/projects/{team['project'].id}/{tail}"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- integers and JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tail", ["items/{big}/", "items/{big}/draft/", "annotations/{big}/"])
def test_path_id_beyond_bigint_is_a_404_not_a_500(team, tail):
    client = client_for(team["manager"])
    response = client.generic("GET" if tail == "items/{big}/" else "PUT", url(team, tail.format(big=BIG)))
    assert response.status_code == 404


def test_body_integer_beyond_bigint_is_a_400_naming_the_field(team):
    body = {"item_id": BIG, "label_ids": [team["labels"]["cat"]]}
    response = client_for(team["annotator"]).post(url(team, "annotations/"), body, format="json")
    assert response.status_code == 400
    assert "item_id" in response.data
    response = client_for(team["annotator"]).post(
        url(team, "annotations/"), {"item_id": team["items"][0].id, "label_ids": [BIG]}, format="json"
    )
    assert response.status_code == 400
    assert "label_ids" in response.data


def test_label_id_beyond_bigint_in_a_schema_change_is_a_400(team):
    response = client_for(team["manager"]).post(
        url(team, "schema/changes/"), {"op": "retire_label", "label_id": BIG}, format="json"
    )
    assert response.status_code == 400
    assert "label_id" in str(response.data)


@pytest.mark.parametrize(("tail", "method", "depth"), [("annotations/", "post", 100_000), ("draft", "put", 5_000)])
def test_json_nested_past_the_limit_is_a_400_before_parsing(team, tail, method, depth):
    target = url(team, f"items/{team['items'][0].id}/draft/") if tail == "draft" else url(team, tail)
    client = client_for(team["annotator"])
    response = getattr(client, method)(target, nested(depth), content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.data["detail"]


def test_json_nested_within_the_limit_is_parsed(team):
    response = client_for(team["annotator"]).put(
        url(team, f"items/{team['items'][0].id}/draft/"), nested(10), content_type="application/json"
    )
    assert response.status_code == 400  # parsed, then refused by the draft's schema, not by the depth guard
    assert "nested deeper" not in str(response.data)


def test_brackets_inside_strings_do_not_count_as_nesting(team):
    response = client_for(team["annotator"]).put(
        url(team, f"items/{team['items'][0].id}/draft/"),
        {"label_ids": [team["labels"]["cat"]], "note": "[" * 5000},
        format="json",
    )
    assert response.status_code == 400  # the note is too long, which the schema says
    assert "note" in response.data


# --- NUL and other control characters ------------------------------------------------------------------


def test_nul_in_a_label_name_is_a_400_naming_the_field(team):
    response = client_for(team["manager"]).post(
        url(team, "schema/changes/"), {"op": "add_label", "label": {"name": "ca\u0000t"}}, format="json"
    )
    assert response.status_code == 400
    assert "U+0000" in str(response.data["label.name"])


def test_nul_in_a_draft_is_a_400_naming_the_field(team):
    body = {"label_ids": [team["labels"]["cat"]], "note": "a\u0000b"}
    response = client_for(team["annotator"]).put(url(team, f"items/{team['items'][0].id}/draft/"), body, format="json")
    assert response.status_code == 400
    assert "U+0000" in response.data["note"][0]
    assert not Draft.objects.exists()


def test_nul_in_an_export_label_filter_is_a_400_naming_the_field(team):
    body = {"format": "csv", "filters": {"label": "c\u0000at"}}
    response = client_for(team["manager"]).post(url(team, "exports/"), body, format="json")
    assert response.status_code == 400
    assert "filters.label" in response.data


@pytest.mark.parametrize("value", ["\u0000", "a\u0007b", "\u009b"])
def test_control_character_in_a_query_parameter_is_a_400_naming_it(team, value):
    response = client_for(team["manager"]).get(url(team, "items/"), {"search": value})
    assert response.status_code == 400
    assert "search" in response.json()


def test_control_character_in_a_form_field_is_a_400_naming_it(team):
    response = client_for(team["manager"]).post(
        url(team, "imports/preview/"),
        {"file": SimpleUploadedFile("t.csv", b"a,b\n1,2\n"), "delimiter": "\u0000"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "delimiter" in response.data


def test_number_too_large_to_be_finite_is_a_400_naming_the_field(team):
    response = client_for(team["manager"]).put(
        url(team, "learning/strategy/"),
        b'{"strategy": "mix", "mix": {"margin": 1e999}}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "too large" in response.data["mix.margin"][0]


def test_table_rows_with_nul_are_reported_and_left_out(team):
    tabular = make_project(owner=team["manager"], name="Wine", data_kind="tabular", labels=[{"name": "red"}])
    response = client_for(team["manager"]).post(
        f"/api/v1/projects/{tabular.id}/imports/preview/",
        {"file": SimpleUploadedFile("t.csv", b"name,score\nfine,1\nba\x00d,2\n")},
        format="multipart",
    )
    assert response.status_code == 200
    assert response.data["row_count"] == 1
    assert response.data["errors"] == [
        {"where": "row 3", "reason": "column 'name': contains the NUL character, which cannot be stored"}
    ]


def test_free_text_keeps_tabs_and_line_breaks(team):
    body = {"label_ids": [team["labels"]["cat"]], "note": "first line\n\tsecond line"}
    response = client_for(team["annotator"]).put(url(team, f"items/{team['items'][0].id}/draft/"), body, format="json")
    assert response.status_code == 204


# --- names ---------------------------------------------------------------------------------------------

COMPOSED, DECOMPOSED = "caf\u00e9", "cafe\u0301"


def add_label(team, name: str):
    body = {"op": "add_label", "label": {"name": name}}
    return client_for(team["manager"]).post(url(team, "schema/changes/"), body, format="json")


def test_decomposed_label_name_beside_the_composed_one_is_refused(team):
    assert add_label(team, COMPOSED).status_code == 201
    response = add_label(team, DECOMPOSED)
    assert response.status_code == 409
    assert "already has a label" in str(response.data)


def test_label_names_are_stored_nfc(team):
    assert add_label(team, DECOMPOSED).status_code == 201
    assert Label.objects.filter(project=team["project"], name=COMPOSED).exists()


def test_label_names_differing_only_in_non_ascii_case_are_refused(team):
    assert add_label(team, "ÉCOLE").status_code == 201
    assert add_label(team, "école").status_code == 409


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ca\u200bt", "U+200B"),  # zero-width space
        ("\u202etac", "U+202E"),  # right-to-left override
        ("ca\u0000t", "U+0000"),
        ("ca\nt", "line break"),
        ("ca\u2066t", "U+2066"),  # left-to-right isolate
    ],
)
def test_invisible_characters_in_label_names_are_refused(team, name, kind):
    response = add_label(team, name)
    assert response.status_code == 400
    assert kind in str(response.data)
    assert not Label.objects.filter(project=team["project"]).exclude(name__in=["cat", "dog"]).exists()


def test_decomposed_project_name_beside_the_composed_one_is_refused(team):
    client = client_for(team["manager"])
    assert client.post("/api/v1/projects/", {"name": COMPOSED, "data_kind": "image"}, format="json").status_code == 201
    response = client.post("/api/v1/projects/", {"name": DECOMPOSED.upper(), "data_kind": "image"}, format="json")
    assert response.status_code == 409
    response = client.patch(url(team), {"name": DECOMPOSED}, format="json")
    assert response.status_code == 409


def test_project_names_with_invisible_characters_are_refused(team):
    response = client_for(team["manager"]).post(
        "/api/v1/projects/", {"name": "Ca\u200dts", "data_kind": "image"}, format="json"
    )
    assert response.status_code == 400
    assert "U+200D" in str(response.data["name"])


def test_column_lists_that_differ_only_by_normalisation_or_case_are_refused():
    with pytest.raises(ValueError, match="columns listed twice"):
        schemas.ColumnList([COMPOSED, DECOMPOSED.upper()])


def test_table_columns_alike_once_case_folded_are_refused(team):
    tabular = make_project(owner=team["manager"], name="Wine", data_kind="tabular", labels=[{"name": "red"}])
    response = client_for(team["manager"]).post(
        f"/api/v1/projects/{tabular.id}/imports/preview/",
        {"file": SimpleUploadedFile("t.csv", f"{COMPOSED},{DECOMPOSED.upper()}\n1,2\n".encode())},
        format="multipart",
    )
    assert response.status_code == 400
    assert "named twice" in str(response.data)


# --- limits --------------------------------------------------------------------------------------------


def test_page_size_is_capped_by_the_setting(team, settings):
    settings.API_MAX_PAGE_SIZE = 2
    response = client_for(team["manager"]).get(url(team, "items/"), {"limit": 1_000_000_000})
    assert response.status_code == 200
    assert response.data["count"] == 3
    assert len(response.data["results"]) == 2


def test_offset_beyond_bigint_is_a_400(team):
    response = client_for(team["manager"]).get(url(team, "items/"), {"offset": BIG})
    assert response.status_code == 400
    assert "offset" in response.data


def test_labels_past_the_limit_are_a_400_naming_it(team, monkeypatch):
    monkeypatch.setattr(schemas, "MAX_LABELS", 3)
    assert add_label(team, "bird").status_code == 201
    response = add_label(team, "fish")
    assert response.status_code == 400
    assert "at most 3 labels" in str(response.data)


def test_more_files_than_the_limit_in_one_upload_is_a_413(team, settings):
    settings.UPLOAD_MAX_FILES = 2
    files = [SimpleUploadedFile(f"{n}.png", b"x") for n in range(3)]
    response = client_for(team["manager"]).post(url(team, "imports/"), {"files": files}, format="multipart")
    assert response.status_code == 413
    assert "limit is 2" in str(response.data)


def test_long_and_deep_paths_inside_a_zip_are_refused_with_the_limit():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a" * 4000 + ".png", b"x")
        archive.writestr("d/" * 500 + "deep.png", b"x")
        archive.writestr("fine/ok.png", b"x")
    long, deep, fine = [problem for _, _, problem in iter_zip(zipfile.ZipFile(buffer))]
    assert long == f"path is 4,004 characters long; the limit is {MAX_PATH_CHARS:,}"
    assert deep == f"path is 500 folders deep; the limit is {MAX_PATH_DEPTH}"
    assert fine == ""


def test_table_with_more_columns_than_the_limit_is_a_400(team):
    tabular = make_project(owner=team["manager"], name="Wide", data_kind="tabular", labels=[{"name": "red"}])
    header = ",".join(f"c{n}" for n in range(MAX_COLUMNS + 1))
    response = client_for(team["manager"]).post(
        f"/api/v1/projects/{tabular.id}/imports/preview/",
        {"file": SimpleUploadedFile("wide.csv", f"{header}\n".encode())},
        format="multipart",
    )
    assert response.status_code == 400
    assert f"the limit is {MAX_COLUMNS:,}" in str(response.data)


# --- membership changes --------------------------------------------------------------------------------


def hold_item_with_draft(team) -> int:
    client = client_for(team["annotator"])
    item_id = client.post(url(team, "queue/next/")).data["item"]["id"]
    body = {"label_ids": [team["labels"]["cat"]], "note": "thinking"}
    assert client.put(url(team, f"items/{item_id}/draft/"), body, format="json").status_code == 204
    return item_id


def test_removing_a_member_releases_their_leases_and_drafts_at_once(team):
    item_id = hold_item_with_draft(team)
    response = client_for(team["manager"]).delete(url(team, f"members/{team['annotator'].id}/"))
    assert response.status_code == 204
    assert not Lease.objects.filter(user=team["annotator"]).exists()
    assert not Draft.objects.filter(user=team["annotator"]).exists()
    # The item they held goes to the next annotator at once (it is the queue's first).
    assert client_for(team["colleague"]).post(url(team, "queue/next/")).data["item"]["id"] == item_id


def test_lowering_a_role_releases_leases_and_drafts(team):
    services.membership_set_role(project=team["project"], user_id=team["annotator"].id, role=Role.REVIEWER)
    hold_item_with_draft(team)
    response = client_for(team["manager"]).patch(
        url(team, f"members/{team['annotator'].id}/"), {"role": Role.ANNOTATOR}, format="json"
    )
    assert response.status_code == 200
    assert not Lease.objects.filter(user=team["annotator"]).exists()
    assert not Draft.objects.filter(user=team["annotator"]).exists()


def test_raising_a_role_keeps_leases_and_drafts(team):
    hold_item_with_draft(team)
    services.membership_set_role(project=team["project"], user_id=team["annotator"].id, role=Role.REVIEWER)
    assert Lease.objects.filter(user=team["annotator"]).exists()
    assert Draft.objects.filter(user=team["annotator"]).exists()


def test_removing_a_member_keeps_their_work_in_other_projects(team):
    other = make_project(owner=team["manager"], name="Other")
    add_member(other, team["annotator"], Role.ANNOTATOR)
    Item.objects.create(project=other, external_id="o1")
    assert client_for(team["annotator"]).post(f"/api/v1/projects/{other.id}/queue/next/").status_code == 200
    services.membership_remove(project=team["project"], user_id=team["annotator"].id)
    assert Lease.objects.filter(user=team["annotator"], item__project=other).exists()
    assert Project.objects.filter(id=other.id).exists()
