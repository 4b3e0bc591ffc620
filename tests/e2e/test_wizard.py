"""The project setup wizard in a browser: create a project, import data (run by a real worker), define labels,
add people; bad uploads are explained and write nothing."""

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from PIL import Image
from playwright.sync_api import expect
from sklearn.datasets import load_iris

from annotation.models import ImportJob, Invitation, Item, Label, Membership, Project
from annotation.services import invitation_digest
from tests.e2e.conftest import VIEWPORT, log_in, screenshot_path
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_project
from tests.integration import conftest as integration

pytestmark = pytest.mark.django_db(transaction=True)

# Imports run in a real Celery worker process. The integration suite's fixture starts one; naming it (and the
# fixture it may be built on) here makes it usable without touching either conftest.
celery_worker = integration.celery_worker
start_worker = getattr(integration, "start_worker", None)
IMPORT_TIMEOUT_MS = 30_000
REFUSED = "Failed to load resource: the server responded with a status of {}"  # how Chromium logs a 4xx


def stop(worker) -> None:
    """Kill the worker once its import is checked: what it starts next (training the project's model) is not
    under test here and would compete with the browser for the CPU; even a cold shutdown takes seconds."""
    if worker.poll() is None:
        worker.kill()
        worker.wait(timeout=30)


@pytest.fixture
def worker(celery_worker):
    yield celery_worker
    stop(celery_worker)


@pytest.fixture
def staff(page, live_server, browser_errors):
    """An admin, logged in; the page runs at 1280x800 and fails the test on a console error (tests/e2e/conftest)."""
    assert page.viewport_size == VIEWPORT
    user = UserFactory(username="maria", is_staff=True)
    log_in(page, live_server, "maria", PASSWORD)
    expect(page.get_by_test_id("current-user")).to_have_text("maria")
    return user


def iris_csv(path: Path) -> Path:
    """scikit-learn's iris table with an id column, the species and a free-text note per row."""
    iris = load_iris()
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["sample", "sepal_length", "sepal_width", "petal_length", "petal_width", "species", "note"])
        for i, (row, target) in enumerate(zip(iris.data, iris.target, strict=True)):
            writer.writerow([f"iris-{i:03d}", *row, iris.target_names[target], f"specimen {i} from plot {i * 7 % 13}"])
    return path


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def create_project(page, live_server, name: str, data_kind: str) -> Project:
    page.goto(f"{live_server.url}/projects/new/")
    page.get_by_label("Name").fill(name)
    page.get_by_label(data_kind).check()
    page.get_by_label("Instructions for annotators").fill("Pick the one label that fits best.")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_test_id("wizard-message")).to_have_text(f"Project “{name}” created. Next, add its data.")
    project = Project.objects.get(name=name)
    assert page.url == f"{live_server.url}/projects/{project.id}/setup/upload/"
    return project


def add_label(page, name: str, color: str, hotkey: str) -> None:
    form = page.locator("#add-label")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Color").fill(color)
    form.get_by_label("Hotkey").fill(hotkey)
    form.get_by_role("button", name="Add label").click()
    expect(page.get_by_test_id("wizard-message")).to_have_text(f"Label “{name}” added.")


def test_tabular_project_from_a_csv_with_columns_labels_and_people(
    worker, page, live_server, staff, browser_errors, tmp_path
):
    UserFactory(username="ali")
    project = create_project(page, live_server, "Iris flowers", "Tabular records")

    page.get_by_label("Table file").set_input_files(iris_csv(tmp_path / "iris.csv"))
    expect(page.get_by_test_id("preview-summary")).to_contain_text("150 rows and 7 columns")
    columns = page.get_by_test_id("preview-columns")
    for column, kind in [("sample", "text"), ("sepal_length", "numeric"), ("species", "categorical"), ("note", "text")]:
        expect(columns.get_by_role("row", name=column)).to_contain_text(kind)
    page.get_by_label("Label column").select_option("species")
    expect(page.get_by_test_id("label-column-warning")).to_contain_text("yet (seen in the first rows): setosa.")
    page.get_by_label("Label column").select_option("")
    expect(page.get_by_test_id("label-column-warning")).to_be_hidden()
    page.get_by_label("ID column").select_option("sample")
    expect(page.get_by_label("Show sample")).to_be_disabled()
    page.get_by_label("Show species").uncheck()
    page.get_by_label("Use as feature species").uncheck()
    page.get_by_label("Show note").uncheck()
    page.get_by_label("Use as feature sepal_width").uncheck()
    page.screenshot(path=screenshot_path("wizard-preview.png"), full_page=True)

    page.get_by_role("button", name="Start import").click()
    expect(page.get_by_test_id("import-message")).to_have_text(
        "Import done: 150 items created, 0 duplicates skipped, 0 labels imported.", timeout=IMPORT_TIMEOUT_MS
    )
    project.refresh_from_db()
    assert Item.objects.filter(project=project).count() == 150
    assert Item.objects.get(project=project, external_id="iris-007").data["species"] == "setosa"
    assert project.shown_columns == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert project.feature_columns == ["sepal_length", "petal_length", "petal_width"]
    assert {c["name"]: c["type"] for c in project.columns}["note"] == "text"
    stop(worker)  # the rest of the wizard needs no worker

    page.get_by_role("link", name="Next: labels").click()
    expect(page.get_by_test_id("no-labels")).to_be_visible()
    for name, color, hotkey in [
        ("setosa", "#e15759", "1"),
        ("versicolor", "#4e79a7", "2"),
        ("virginica", "#59a14f", "3"),
    ]:
        add_label(page, name, color, hotkey)
    expect(page.get_by_test_id("label-row")).to_have_count(3)
    assert list(Label.objects.filter(project=project).values_list("name", "color", "hotkey")) == [
        ("setosa", "#e15759", "1"),
        ("versicolor", "#4e79a7", "2"),
        ("virginica", "#59a14f", "3"),
    ]
    # The service's checks come back next to the field at fault, and nothing is written.
    add_form = page.locator("#add-label")
    add_form.get_by_label("Name").fill("Setosa")
    add_form.get_by_label("Hotkey").fill("4")
    add_form.get_by_role("button", name="Add label").click()
    expect(page.locator("#new-label-name-error")).to_contain_text("already has a label named 'Setosa'")
    expect(add_form.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    add_form.get_by_label("Name").fill("unsure")
    add_form.get_by_label("Hotkey").fill("s")
    add_form.get_by_role("button", name="Add label").click()
    expect(page.locator("#new-label-hotkey-error")).to_contain_text("'s' is reserved by the labeling page")
    assert Label.objects.filter(project=project).count() == 3

    page.get_by_role("link", name="Next: people").click()
    page.get_by_label("Username").fill("ali")
    page.locator("#add-member").get_by_label("Role").select_option("annotator")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_test_id("wizard-message")).to_have_text("ali added as annotator.")
    expect(page.get_by_test_id("member-row")).to_have_count(2)
    page.get_by_label("Email", exact=True).fill("new@example.com")
    page.locator("#invite").get_by_label("Role").select_option("reviewer")
    page.get_by_role("button", name="Create invitation").click()
    expect(page.get_by_test_id("invite-link")).to_contain_text("Invitation for new@example.com (reviewer) created")
    link = page.get_by_label("Invitation link").input_value()
    assert re.fullmatch(rf"{live_server.url}/invitations/[\w-]+/", link), link
    expect(page.get_by_test_id("invitation-row")).to_have_count(1)
    expect(page.get_by_test_id("invitation-row").get_by_role("cell")).to_have_text(
        ["new@example.com", "Reviewer", "maria", re.compile(r"open until \d{4}-\d\d-\d\d")]
    )
    assert Membership.objects.get(project=project, user__username="ali").role == Role.ANNOTATOR
    invitation = Invitation.objects.get(project=project)
    assert (invitation.email, invitation.role) == ("new@example.com", Role.REVIEWER)
    assert invitation.digest == invitation_digest(link.rstrip("/").rsplit("/", 1)[1])

    page.get_by_role("link", name="Next: ready").click()
    expect(page.get_by_role("heading", name="Iris flowers is ready")).to_be_visible()
    expect(page.get_by_test_id("ready-summary")).to_contain_text("150 items")
    expect(page.get_by_test_id("ready-summary")).to_contain_text("3 labels")
    expect(page.get_by_test_id("ready-summary")).to_contain_text("2 members")
    expect(page.get_by_role("link", name="Start labeling")).to_have_attribute("href", f"/projects/{project.id}/label/")
    expect(page.get_by_role("link", name="All projects")).to_have_attribute("href", "/")
    # The console saw only the two refused labels (the browser logs every 4xx answer itself).
    assert browser_errors.seen == [REFUSED.format("409 (Conflict)"), REFUSED.format("400 (Bad Request)")]
    browser_errors.allow(REFUSED.format("409"))
    browser_errors.allow(REFUSED.format("400"))


def test_image_project_from_a_zip_after_a_zip_with_a_non_image_was_refused(
    worker, page, live_server, staff, browser_errors, tmp_path
):
    project = create_project(page, live_server, "Pets", "Images")
    images = {
        f"{kind}/{kind}-{i}.png": png((i * 20, 90 if kind == "cats" else 180, 40))
        for kind in ("cats", "dogs")
        for i in range(6)
    }
    files = page.get_by_label("Images: a zip archive")
    start = page.get_by_role("button", name="Start import")

    # A text file posing as a PNG fails the whole import with the reason, and nothing is created.
    files.set_input_files(zip_of(tmp_path / "mixed.zip", {**images, "cats/notes.png": b"just some text\n"}))
    start.click()
    expect(page.get_by_test_id("import-message")).to_have_text(
        "Import failed; nothing was imported.", timeout=IMPORT_TIMEOUT_MS
    )
    problems = page.get_by_test_id("import-problems")
    expect(problems.get_by_role("alert")).to_have_text("1 files are invalid; nothing was imported.")
    expect(problems.get_by_role("listitem")).to_have_count(1)
    expect(problems.get_by_role("listitem")).to_contain_text("cats/notes.png")
    assert ImportJob.objects.get(project=project).status == "failed"
    assert not Item.objects.exists()

    files.set_input_files(zip_of(tmp_path / "pets.zip", images))
    start.click()
    expect(page.get_by_test_id("import-message")).to_have_text(
        "Import done: 12 items created, 0 duplicates skipped, 0 labels imported.", timeout=IMPORT_TIMEOUT_MS
    )
    items = Item.objects.filter(project=project)
    assert sorted(items.values_list("external_id", flat=True)) == sorted(images)
    for item in items:
        assert (item.width, item.height) == (24, 16)
        assert item.thumbnail.name.endswith(".webp")
        assert default_storage.exists(item.thumbnail.name)
    stop(worker)

    page.get_by_role("link", name="Next: labels").click()
    add_label(page, "cat", "#f28e2b", "c")
    add_label(page, "dog", "#76b7b2", "d")
    cat = Label.objects.get(project=project, name="cat")
    row = page.get_by_role("form", name="Label cat")
    row.get_by_label("Name").fill("kitten")
    row.get_by_label("Hotkey").fill("k")
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("wizard-message")).to_have_text("Label “kitten” saved.")
    page.get_by_role("form", name="Label dog").get_by_role("button", name="Retire").click()
    expect(page.get_by_test_id("wizard-message")).to_have_text("Label “dog” retired; its 0 annotations are kept.")
    expect(page.get_by_test_id("retired-labels")).to_contain_text("dog")
    cat.refresh_from_db()
    assert (cat.name, cat.hotkey, cat.color) == ("kitten", "k", "#f28e2b")
    assert Label.objects.get(project=project, name="dog").retired_at is not None

    # Step 1 again, for the existing project: its settings and task type change through the API.
    page.get_by_role("navigation", name="Setup steps").get_by_role("link", name="Project").click()
    expect(page.get_by_label("Images")).to_be_disabled()
    page.get_by_label("Name").fill("Pets at home")
    page.get_by_label("Multi-label classification").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("wizard-message")).to_have_text("Project details saved.")
    expect(page.get_by_test_id("wizard-project-name")).to_have_text("Pets at home")
    project.refresh_from_db()
    assert (project.name, project.task_type) == ("Pets at home", "multi_label")
    assert browser_errors.seen == []


def test_malformed_csv_is_explained_next_to_the_file_and_nothing_is_imported(page, live_server, staff, browser_errors):
    project = make_project(owner=staff, name="Broken", data_kind="tabular", labels=[])
    page.goto(f"{live_server.url}/projects/{project.id}/setup/upload/")

    page.get_by_label("Table file").set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": b"a,b,a\n1,2,3\n"}]
    )
    expect(page.locator("#table-file-error")).to_have_text("Columns named twice: a")
    expect(page.get_by_label("Table file")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("preview")).to_be_hidden()
    expect(page.get_by_role("button", name="Start import")).to_be_disabled()
    assert not ImportJob.objects.exists()
    assert not Item.objects.exists()
    # The browser logs the refused preview (a 400) itself; nothing else may reach the console.
    assert browser_errors.seen == [REFUSED.format("400 (Bad Request)")]
    browser_errors.allow(REFUSED.format("400"))


def test_setup_pages_are_for_managers_and_project_creation_for_admins(client):
    owner = UserFactory(username="owner", is_staff=True)
    project = make_project(owner=owner, name="Private")
    annotator = UserFactory(username="annotator")
    add_member(project, annotator, Role.ANNOTATOR)
    outsider = UserFactory(username="outsider", is_staff=True)
    steps = ["", "upload/", "labels/", "members/", "ready/"]

    assert client.get("/projects/new/").status_code == 302  # to the login page
    client.force_login(annotator)
    assert client.get("/projects/new/").status_code == 403
    assert {client.get(f"/projects/{project.id}/setup/{step}").status_code for step in steps} == {403}
    client.force_login(outsider)
    assert client.get("/projects/new/").status_code == 200
    assert {client.get(f"/projects/{project.id}/setup/{step}").status_code for step in steps} == {404}
    client.force_login(owner)
    assert {client.get(f"/projects/{project.id}/setup/{step}").status_code for step in steps} == {200}
