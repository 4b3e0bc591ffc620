"""The export page: choose a format and filters, start the export, follow it, download the file."""

import csv
import io

import pytest
from playwright.sync_api import expect

from annotation.jobs import export_job_execute
from annotation.models import ExportJob, Item, Label
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_annotation, make_project
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def wine():
    manager = UserFactory(username="maria", is_staff=True)
    annotator = UserFactory(username="ali")
    project = make_project(owner=manager, name="Wine", data_kind="tabular", labels=[{"name": "red"}, {"name": "white"}])
    project.columns = [{"name": "alcohol", "type": "numeric"}]
    project.save(update_fields=["columns"])
    add_member(project, annotator, Role.ANNOTATOR)
    red, white = Label.objects.filter(project=project).order_by("id")
    for n, label in enumerate([red, white, None]):
        item = Item.objects.create(
            project=project, external_id=f"w{n}", data={"alcohol": 12.5 + n}, content_hash=f"h{n}"
        )
        if label is not None:
            make_annotation(item, annotator, label)
            Item.objects.filter(id=item.id).update(status="done", annotation_count=1, agreement=1.0)
    return project


def run_worker_for_the_new_export(timeout_s: float = 10) -> ExportJob:
    """Play the worker: wait for the job the page started, then run the task's service as a worker would."""
    job = wait_until(lambda: ExportJob.objects.order_by("-id").first(), timeout_s, "the export the page starts")
    export_job_execute(job_id=job.id)
    return job


def test_manager_exports_done_items_as_csv_and_downloads_the_file(page, live_server, wine, browser_errors):
    log_in(page, live_server, "maria", PASSWORD)
    page.get_by_role("link", name="Export Wine").click()
    expect(page.get_by_role("radio", name="CSV")).to_be_checked()
    expect(page.get_by_role("radio", name="COCO (zip)")).to_have_count(0)  # image formats only for images
    page.get_by_label("Status").select_option("done")
    page.get_by_role("button", name="Start export").click()

    job = run_worker_for_the_new_export()
    row = page.get_by_test_id("export-row").first
    expect(row).to_have_attribute("data-status", "done", timeout=15_000)  # polled every 0.7 s; slack for a busy CI
    expect(row).to_contain_text("status: done")
    expect(row.get_by_test_id("export-progress")).to_contain_text("2 / 3")
    with page.expect_download() as download:
        row.get_by_role("link", name="Download csv").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))

    assert ExportJob.objects.get(id=job.id).filters == {"status": "done"}
    assert [(r["external_id"], r["label"], r["alcohol"]) for r in rows] == [
        ("w0", "red", "12.5"),
        ("w1", "white", "13.5"),
    ]
    assert download.value.suggested_filename == "Wine.csv"

    page.reload()  # earlier exports are listed, with their links
    expect(page.get_by_test_id("export-row")).to_have_count(1)
    expect(page.get_by_role("link", name="Download csv")).to_be_visible()


def test_annotators_cannot_open_the_export_page(page, live_server, wine, browser_errors):
    browser_errors.allow("403")
    log_in(page, live_server, "ali", PASSWORD)
    expect(page.get_by_role("link", name="Export Wine")).to_have_count(0)
    assert page.goto(f"{live_server.url}/projects/{wine.id}/export/").status == 403
