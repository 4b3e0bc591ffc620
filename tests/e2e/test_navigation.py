"""Managers, invited ones included, reach every setup step of their projects from the project list and the
dashboard; label hotkeys never take a key of the image viewer."""

import pytest
from playwright.sync_api import expect

from annotation.services import invitation_create
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_project

pytestmark = pytest.mark.django_db(transaction=True)

# (the dashboard's link, the project list's link, the page's heading)
STEPS = [
    ("Add data", "Add data to Cats", "Add data"),
    ("Edit labels", "Edit the labels of Cats", "Labels"),
    ("Invite people", "Invite people to Cats", "People"),
    ("Settings", "Settings of Cats", "Project details"),
]


@pytest.fixture
def cats():
    owner = UserFactory(username="maria", is_staff=True)
    project = make_project(owner=owner, name="Cats")
    add_member(project, UserFactory(username="ali"), Role.ANNOTATOR)
    return project, owner


def test_an_invited_manager_reaches_every_setup_step_from_the_list_and_the_dashboard(
    page, live_server, cats, browser_errors
):
    project, owner = cats
    _, key = invitation_create(project=project, email="nina@example.com", role=Role.MANAGER, invited_by=owner)
    page.goto(f"{live_server.url}/invitations/{key}/")
    page.get_by_label("Choose a username").fill("nina")
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_test_id("project-row")).to_have_count(1)

    for _, link, heading in STEPS:
        page.goto(f"{live_server.url}/")
        page.get_by_text("Set up").click()
        page.get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)

    for link, _, heading in STEPS:
        page.goto(f"{live_server.url}/projects/{project.id}/dashboard/")
        page.get_by_role("navigation", name="Project pages").get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def test_an_annotator_sees_no_setup_links(page, live_server, cats, browser_errors):
    project, _ = cats
    log_in(page, live_server, "ali", PASSWORD)
    expect(page.get_by_test_id("project-row")).to_have_count(1)
    expect(page.get_by_text("Set up")).to_have_count(0)
    page.goto(f"{live_server.url}/projects/{project.id}/dashboard/")
    expect(page.get_by_role("navigation", name="Project pages").get_by_role("link", name="Add data")).to_have_count(0)


def test_the_wizard_refuses_a_zoom_key_as_a_label_hotkey(page, live_server, cats, browser_errors):
    project, _ = cats
    browser_errors.allow("400")  # the refused request, as the browser logs it
    log_in(page, live_server, "maria", PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.id}/setup/labels/")
    form = page.locator("#add-label")
    form.get_by_label("Name").fill("plus")
    form.get_by_label("Hotkey").fill("+")
    form.get_by_role("button", name="Add label").click()

    expect(form).to_contain_text("'+' zooms the image in on the labeling page: choose a letter or digit")
    assert not project.labels.filter(name="plus").exists()
