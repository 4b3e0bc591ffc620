import pytest
from playwright.sync_api import expect
from threadpoolctl import threadpool_limits

from active_learning import training
from active_learning.models import LearningRun, StrategySetting
from annotation.models import JobStatus
from tests.e2e.conftest import log_in, save_screenshot
from tests.e2e.test_dashboard import VIEWPORT, chart_points, watch_console, wine_with_models
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_project

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.screenshots
def test_manager_saves_a_mix_with_budget_and_replays_a_strategy_against_random(page, live_server):
    manager = UserFactory(username="maria", is_staff=True)
    project, _ = wine_with_models(manager, rounds=3, per_round=8, wrong=0, budget=120)
    errors = watch_console(page)
    page.set_viewport_size(VIEWPORT)
    log_in(page, live_server, "maria", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/strategy/")
    expect(page.locator(".insights[data-loaded]")).to_be_attached()
    expect(page.get_by_test_id("projection")).to_contain_text("budget of 120 labels")
    form = page.locator("#strategy-form")

    form.get_by_role("radio", name="Mix Your own weighting").click()
    mix = page.get_by_role("group", name="Mix weights")
    expect(mix).to_be_visible()
    mix.get_by_label("Margin", exact=True).focus()
    page.keyboard.type("0.7")
    mix.get_by_label("Novelty", exact=True).focus()
    page.keyboard.type("0.3")
    form.get_by_label("Batch size").focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("20")
    page.keyboard.press("Tab")  # to the budget
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("150")
    form.get_by_label("Tell me when the model's predictions settle").check()
    form.get_by_label("Batch size").press("Enter")

    expect(page.get_by_test_id("save-message")).to_contain_text("Saved as version 2")
    setting = StrategySetting.objects.filter(project=project).latest("version")
    assert setting.version == 2
    assert setting.changed_by == manager
    assert setting.spec == {
        "strategy": "mix",
        "mix": {"margin": 0.7, "novelty": 0.3},
        "batch_size": 20,
        "budget": 150,
        "exploration_share": 0.1,
        "disagreement_share": 0.0,
        "stopping_rule": {"threshold": 0.99, "patience": 3},
        "random_state": 0,
    }
    history = page.get_by_test_id("history-row")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("v2")
    expect(history.first).to_contain_text("Mix (Margin 0.7, Novelty 0.3)")
    expect(history.first).to_contain_text("150")
    expect(page.get_by_test_id("projection")).to_contain_text("budget of 150 labels")

    # A replay of margin against random, with progress while it waits, then its curves.
    page.get_by_label("Strategy", exact=True).select_option("margin")  # the replay's
    page.get_by_label("Seeds").fill("2")
    page.locator("#replay-batch").fill("2")
    page.locator("#replay-budget").fill("16")
    page.get_by_role("button", name="Run replay").click()
    expect(page.get_by_test_id("replay-status")).to_contain_text("is queued")
    expect(page.get_by_role("progressbar", name="Replay progress")).to_be_visible()
    run = LearningRun.objects.get(project=project, kind=LearningRun.Kind.SIMULATE)
    assert run.params == {"strategies": ["margin", "random"], "budget": 16, "batch_size": 2, "seeds": 2}
    with threadpool_limits(limits=1):
        training.simulate_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == JobStatus.DONE

    expect(page.get_by_test_id("replay-status")).to_contain_text("is done")
    expect(page.get_by_test_id("replay-row")).to_have_count(2)
    labels = run.result["strategies"]["margin"]["runs"][0]["n_labels"]
    assert chart_points(page, "replay-chart") == [len(labels)] * 4  # accuracy and macro-F1 of each strategy
    expect(page.get_by_role("img", name="Replay learning curves, mean over 2 seeds")).to_be_visible()
    save_screenshot(page, "strategy.png", full_page=True)
    assert errors == []


def test_from_the_wizard_refused_values_are_explained_and_nothing_is_saved(page, live_server):
    manager = UserFactory(username="maria", is_staff=True)
    project = make_project(owner=manager, name="Cats")
    errors = watch_console(page)
    log_in(page, live_server, "maria", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/setup/ready/")  # the wizard's last step leads here
    page.get_by_test_id("wizard-strategy").get_by_role("link", name="Choose a strategy & budget").click()
    form = page.locator("#strategy-form")

    form.get_by_role("radio", name="Mix Your own weighting").check()
    form.get_by_label("Batch size").fill("0")
    form.get_by_role("button", name="Save").click()

    alert = page.get_by_test_id("save-errors")
    expect(alert).to_contain_text("Batch size: Input should be greater than or equal to 1")
    expect(form.get_by_label("Batch size")).to_have_attribute("aria-invalid", "true")
    assert not StrategySetting.objects.filter(project=project).exists()
    assert [e for e in errors if "400" not in e] == []  # the browser logs the refused request itself


def test_annotators_read_the_strategy_but_cannot_change_it(page, live_server):
    manager = UserFactory(username="maria", is_staff=True)
    annotator = UserFactory(username="ali")
    project = make_project(owner=manager, name="Cats")
    add_member(project, annotator, Role.ANNOTATOR)
    errors = watch_console(page)
    log_in(page, live_server, "ali", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/strategy/")

    expect(page.locator(".insights[data-loaded]")).to_be_attached()
    expect(page.get_by_test_id("read-only")).to_be_visible()
    expect(page.get_by_role("radio", name="Adaptive")).to_be_checked()
    expect(page.get_by_role("radio", name="Adaptive")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("button", name="Run replay")).to_have_count(0)
    expect(page.get_by_test_id("strategy-history")).to_contain_text("No change yet")
    assert errors == []
