import random

import pytest
from celery import current_app
from kombu.exceptions import OperationalError
from playwright.sync_api import expect
from sklearn.datasets import load_wine
from threadpoolctl import threadpool_limits

from active_learning import services, training
from active_learning.models import LabelIssue, LearningRun, ModelVersion
from annotation.demo import _wine
from annotation.labeling import annotation_submit
from annotation.models import JobStatus
from tests.e2e.conftest import log_in, screenshot_path
from tests.factories import (
    PASSWORD,
    Role,
    UserFactory,
    add_member,
    make_annotation,
    make_image_item,
    make_project,
    most_novel_items,
)

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1280, "height": 800}


def run_pending(project, kind: str) -> None:
    """Execute the project's queued runs of `kind` here, as a worker would (one thread: small fits are faster)."""
    execute = {"embed": training.embed_run_execute, "rank": training.rank_run_execute}[kind]
    with threadpool_limits(limits=1):
        for run in LearningRun.objects.filter(project=project, kind=kind, status=JobStatus.QUEUED):
            execute(run_id=run.id)


def wine_with_models(owner, rounds: int = 3, per_round: int = 12, wrong: int = 2, budget: int = 120):
    """The demo wine table (178 records), trained and embedded, labeled by `owner` in `rounds` rounds with a
    ranking after each: one model version per round. The first `wrong` labels are deliberately wrong; the strategy is
    the default one with a budget."""
    project = _wine(owner)
    services.strategy_set(project=project, user=owner, spec={"budget": budget})
    classes = load_wine().target
    labels = list(project.labels.order_by("position").values_list("id", flat=True))
    items = {item.external_id: item.id for item in project.items.all()}
    order = list(range(len(classes)))
    random.Random(0).shuffle(order)
    services.training_run_request(project=project, reason="request", user=owner, quiet=True)
    run_pending(project, "embed")
    run_pending(project, "rank")
    for k, index in enumerate(order[: rounds * per_round]):
        label = labels[(classes[index] + 1) % 3] if k < wrong else labels[classes[index]]
        annotation_submit(user=owner, project=project, item_id=items[f"wine-{index:03d}"], label_ids=[label])
        if (k + 1) % per_round == 0:
            services.ranking_request(project=project, reason="request")
            run_pending(project, "rank")
    return project, order


def watch_console(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def chart_points(page, canvas_id: str) -> list[int]:
    """Points drawn per dataset of the chart on that canvas (Chart.js keeps one element per drawn point)."""
    return page.evaluate(
        "id => Chart.getChart(id).data.datasets.map((d, i) => Chart.getChart(id).getDatasetMeta(i).data.length)",
        canvas_id,
    )


@pytest.fixture
def wine():
    manager = UserFactory(username="maria", is_staff=True)
    project, order = wine_with_models(manager)
    second = UserFactory(username="ali")
    add_member(project, second, Role.ANNOTATOR)
    # A second opinion on six labeled items (one disagreeing), so there is agreement to draw.
    labels = list(project.labels.order_by("position"))
    classes = load_wine().target
    for k, index in enumerate(order[2:8]):
        item = project.items.get(external_id=f"wine-{index:03d}")
        make_annotation(item, second, labels[(classes[index] + (1 if k == 0 else 0)) % 3])
    return {"manager": manager, "annotator": second, "project": project}


def test_dashboard_draws_every_figure_from_the_models_runs(page, live_server, wine):
    project = wine["project"]
    versions = ModelVersion.objects.filter(project=project).count()
    assert versions == 3
    errors = watch_console(page)
    page.set_viewport_size(VIEWPORT)
    log_in(page, live_server, "maria", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/dashboard/")

    expect(page.locator(".insights[data-loaded]")).to_be_attached()
    expect(page.get_by_test_id("stale-banner")).to_be_visible()
    expect(page.get_by_test_id("stale-banner")).to_contain_text("No worker is running")
    accuracy, macro_f1, projected = chart_points(page, "learning-curve")
    assert accuracy == macro_f1 == versions  # one point per model version
    assert projected == 1  # and the projection at the budget
    expect(page.get_by_test_id("budget").locator("meter")).to_have_attribute("value", "36")
    expect(page.get_by_test_id("projected")).to_contain_text("Projected accuracy at 120 labels:")
    assert sum(chart_points(page, "embedding-map")) == project.items.count()
    assert sum(chart_points(page, "labels-over-time")) > 0
    assert chart_points(page, "class-balance") == [3]  # three cultivars
    assert chart_points(page, "agreement")[0] >= 1
    assert chart_points(page, "throughput") == [2, 2]  # maria and ali
    expect(page.get_by_role("img", name="Learning curve: 3 model versions")).to_be_visible()
    ranked = LearningRun.objects.filter(project=project, kind="rank", status=JobStatus.DONE).latest("id")
    assert ranked.result["phase"] == "uncertainty"  # random labels: too few atop the novelty ranking
    expect(page.get_by_test_id("ranking-phase")).to_have_text(
        "Latest ranking: the items the model is least sure of, diversified, and a share of novel items."
    )

    # The lists link to items, and match the database.
    novel = page.get_by_test_id("novel-items").get_by_role("link")
    expect(novel.first).to_be_visible()
    issues = LabelIssue.objects.filter(run__project=project).count()
    expect(page.get_by_test_id("label-issues").locator("tbody tr")).to_have_count(min(issues, 10))
    expect(page.get_by_test_id("runs").get_by_test_id("run-row").first).to_have_attribute("data-status", "done")

    # Pointing at a dot of the map shows that record.
    x, y = page.evaluate(
        """() => { const dot = Chart.getChart("embedding-map").getDatasetMeta(2).data[0]; return [dot.x, dot.y]; }"""
    )
    page.locator("#embedding-map").scroll_into_view_if_needed()
    box = page.locator("#embedding-map").bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + y)
    preview = page.get_by_test_id("map-preview")
    expect(preview.get_by_role("heading")).to_contain_text("wine-")
    expect(preview.get_by_test_id("preview-record")).to_contain_text("alcohol")

    # The keyboard reaches the map's items too.
    page.locator("#embedding-map").focus()
    page.keyboard.press("ArrowRight")
    expect(preview.get_by_role("link", name="Open item")).to_be_visible()

    page.screenshot(path=screenshot_path("dashboard.png"), full_page=True)

    # Train now: a run is queued and its progress bar follows the worker (executed here) to the end.
    page.get_by_role("button", name="Train now").click()
    expect(page.get_by_test_id("train-message")).to_contain_text("Training run #")
    run = LearningRun.objects.filter(project=project, kind="embed").latest("id")
    assert (run.status, run.reason, run.created_by) == (JobStatus.QUEUED, "request", wine["manager"])
    row = page.locator(f"[data-testid=run-row][data-run-id='{run.id}']")
    expect(row).to_have_attribute("data-status", "queued")
    run_pending(project, "embed")
    expect(row).to_have_attribute("data-status", "done")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")

    page.get_by_test_id("novel-items").get_by_role("link").first.click()
    expect(page.get_by_test_id("item-record")).to_contain_text("alcohol")
    assert errors == []


def test_the_strategy_card_says_when_exploration_is_paused(page, live_server):
    manager = UserFactory(username="maria", is_staff=True)
    project = _wine(manager)
    services.training_run_request(project=project, reason="request", user=manager, quiet=True)
    run_pending(project, "embed")
    novel = most_novel_items(project, 4)
    classes = load_wine().target
    labels = list(project.labels.order_by("position").values_list("id", flat=True))
    cultivar = {item.id: int(classes[int(item.external_id.split("-")[1])]) for item in project.items.all()}
    first = [next(i for i in cultivar if cultivar[i] == c and i not in {n.id for n in novel}) for c in range(3)]
    # One label per cultivar, then the four most novel items: their last three find nothing new.
    for item_id in first + [item.id for item in novel]:
        annotation_submit(user=manager, project=project, item_id=item_id, label_ids=[labels[cultivar[item_id]]])
    services.ranking_request(project=project, reason="request")
    run_pending(project, "rank")
    errors = watch_console(page)
    log_in(page, live_server, "maria", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/dashboard/")

    expect(page.get_by_test_id("ranking-phase")).to_have_text(
        "Latest ranking: the items the model is least sure of, diversified; "
        "exploration is paused, as the latest novel items found no new class."
    )
    assert errors == []


def test_train_now_shows_why_when_the_broker_is_down(page, live_server, monkeypatch):
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(owner=manager, name="Cats")
    make_image_item(project, "a.png")

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(current_app, "send_task", refuse)  # the broker refuses every message
    errors = watch_console(page)
    page.set_viewport_size(VIEWPORT)
    log_in(page, live_server, "maria", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/dashboard/")

    page.get_by_role("button", name="Train now").click()

    expect(page.get_by_test_id("train-message")).to_contain_text("The task broker is unreachable")
    run = LearningRun.objects.get(project=project)
    assert run.status == JobStatus.FAILED
    assert [e for e in errors if "503" not in e] == []  # the browser logs the failed request itself


def test_annotators_see_the_dashboard_without_manager_controls_and_outsiders_get_404(page, live_server):
    manager = UserFactory(username="maria", is_staff=True)
    annotator = UserFactory(username="ali")
    UserFactory(username="otto")
    project = make_project(owner=manager, name="Cats")
    add_member(project, annotator, Role.ANNOTATOR)
    errors = watch_console(page)
    log_in(page, live_server, "ali", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/dashboard/")

    expect(page.locator(".insights[data-loaded]")).to_be_attached()
    expect(page.get_by_test_id("stale-banner")).to_contain_text("No worker is running")
    expect(page.get_by_role("button", name="Train now")).to_have_count(0)
    expect(page.get_by_text("Reviewers and managers see these")).to_be_visible()
    expect(page.get_by_test_id("runs")).to_contain_text("No training run yet")
    assert errors == []  # nothing the role may not read was asked for

    page.context.clear_cookies()
    log_in(page, live_server, "otto", PASSWORD)
    response = page.goto(f"{live_server.url}/projects/{project.id}/dashboard/")
    assert response.status == 404


def test_insight_pages_follow_the_api_permissions(client):
    manager = UserFactory(username="maria", is_staff=True)
    annotator = UserFactory(username="ali")
    outsider = UserFactory(username="otto", is_staff=True)
    project = make_project(owner=manager, name="Cats")
    add_member(project, annotator, Role.ANNOTATOR)
    item = make_image_item(project, "a.png")
    other = make_image_item(make_project(owner=outsider, name="Dogs"), "b.png")
    pages = [f"/projects/{project.id}/{page}/" for page in ("dashboard", "strategy", f"dashboard/items/{item.id}")]

    assert {client.get(url).status_code for url in pages} == {302}  # to the login page
    client.force_login(outsider)
    assert {client.get(url).status_code for url in pages} == {404}
    client.force_login(annotator)
    assert {client.get(url).status_code for url in pages} == {200}
    assert client.get(f"/projects/{project.id}/dashboard/items/{other.id}/").status_code == 404
