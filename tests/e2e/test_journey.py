"""One project's whole life in the browser, with a real worker: a manager sets it up from a CSV, an annotator
labels by keyboard, the worker's ranking reaches the annotator's queue with the model's suggestions, the
manager sees the model on the dashboard and downloads the labels."""

import csv
import io

import pytest
from playwright.sync_api import expect

from active_learning.models import LearningRun, ModelVersion
from annotation.models import Annotation, ExportJob, Item, JobStatus, Project
from tests.e2e.conftest import VIEWPORT, log_in
from tests.e2e.test_wizard import IMPORT_TIMEOUT_MS, add_label, create_project, iris_csv
from tests.factories import PASSWORD, UserFactory
from tests.integration import conftest as integration
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

celery_worker = integration.celery_worker  # a real worker process: imports, embeddings, rankings, exports
start_worker = getattr(integration, "start_worker", None)
WORKER_TIMEOUT_S = 60


def label_shown_item(page, project: Project, keys: dict[str, str]) -> str:
    """Answer the item on screen with its true species (the CSV's, hidden from the annotator), by keyboard."""
    expect(page.get_by_test_id("item-name")).to_contain_text("iris-")  # not "Loading the next item…"
    name = page.get_by_test_id("item-name").inner_text().strip()
    species = Item.objects.get(project=project, external_id=name).data["species"]
    page.keyboard.press(keys[species])
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("item-name")).not_to_have_text(name)
    return name


def test_a_project_from_setup_to_a_ranked_queue_and_an_export(
    celery_worker, page, live_server, browser, browser_errors, tmp_path
):
    UserFactory(username="maria", is_staff=True)
    annotator = UserFactory(username="ali")
    log_in(page, live_server, "maria", PASSWORD)

    # The manager: project, data, labels, an annotator.
    project = create_project(page, live_server, "Iris journey", "Tabular records")
    page.get_by_label("Table file").set_input_files(iris_csv(tmp_path / "iris.csv"))
    expect(page.get_by_test_id("preview-summary")).to_contain_text("150 rows and 7 columns")
    page.get_by_label("ID column").select_option("sample")
    page.get_by_label("Show species").uncheck()
    page.get_by_label("Use as feature species").uncheck()
    page.get_by_role("button", name="Start import").click()
    expect(page.get_by_test_id("import-message")).to_contain_text("150 items created", timeout=IMPORT_TIMEOUT_MS)
    # The import asks the worker to embed the pool and rank it: the first queue order, before any label.
    wait_until(
        lambda: LearningRun.objects.filter(project=project, kind=LearningRun.Kind.RANK, status=JobStatus.DONE).exists(),
        WORKER_TIMEOUT_S,
        "the first ranking",
    )
    page.get_by_role("link", name="Next: labels").click()
    keys = {"setosa": "1", "versicolor": "2", "virginica": "3"}
    for (name, key), color in zip(keys.items(), ("#e15759", "#4e79a7", "#59a14f"), strict=True):
        add_label(page, name, color, key)
    page.get_by_role("link", name="Next: people").click()
    page.get_by_label("Username").fill("ali")
    page.locator("#add-member").get_by_label("Role").select_option("annotator")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_test_id("wizard-message")).to_have_text("ali added as annotator.")

    # The annotator, in a browser of their own: one batch (10 labels), by keyboard.
    context = browser.new_context(viewport=VIEWPORT)
    labeling = context.new_page()
    console_errors = []
    labeling.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    labeling.on("pageerror", lambda e: console_errors.append(str(e)))
    log_in(labeling, live_server, "ali", PASSWORD)
    labeling.goto(f"{live_server.url}/projects/{project.id}/label/")
    expect(labeling.get_by_test_id("item-name")).to_contain_text("iris-", timeout=10_000)
    answered = [label_shown_item(labeling, project, keys) for _ in range(10)]

    # The worker retrains on the batch; the items the queue serves next carry the model's suggestion.
    wait_until(
        lambda: ModelVersion.objects.filter(project=project, n_labels=10).exists(),
        WORKER_TIMEOUT_S,
        "a model on 10 labels",
    )
    for _ in range(5):  # items prefetched before the new ranking come first, without a suggestion
        expect(labeling.get_by_test_id("item-name")).to_contain_text("iris-")
        if "Suggests" in labeling.get_by_test_id("insight").inner_text():
            break
        answered.append(label_shown_item(labeling, project, keys))
    expect(labeling.get_by_test_id("item-name")).to_contain_text("iris-")
    expect(labeling.get_by_test_id("insight")).to_contain_text("Suggests")
    expect(labeling.get_by_test_id("insight")).to_contain_text("% sure")
    shown = Item.objects.get(project=project, external_id=labeling.get_by_test_id("item-name").inner_text().strip())
    assert shown.insight["model_version"] == ModelVersion.objects.filter(project=project).latest("version").version
    wait_until(
        lambda: Annotation.objects.filter(item__project=project, annotator=annotator).count() == len(answered),
        10,
        "every answer saved",
    )
    assert console_errors == []
    context.close()

    # The manager: the model on the dashboard, the labels in a CSV.
    page.goto(f"{live_server.url}/projects/{project.id}/dashboard/")
    expect(page.get_by_test_id("model")).to_contain_text("cross-validated accuracy of version")
    expect(page.get_by_test_id("budget")).to_contain_text(f"{len(answered)} labels so far; no budget is set.")
    page.goto(f"{live_server.url}/projects/{project.id}/export/")
    page.get_by_label("Status").select_option("done")
    page.get_by_role("button", name="Start export").click()
    row = page.get_by_test_id("export-row").first
    expect(row).to_have_attribute("data-status", "done", timeout=WORKER_TIMEOUT_S * 1000)
    with page.expect_download() as download:
        row.get_by_role("link", name="Download csv").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    truth = {i.external_id: i.data["species"] for i in Item.objects.filter(project=project)}
    assert sorted(r["external_id"] for r in rows) == sorted(answered)
    assert all(r["label"] == truth[r["external_id"]] for r in rows)
    assert ExportJob.objects.get(project=project).status == "done"
