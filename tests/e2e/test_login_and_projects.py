import pytest
from playwright.sync_api import expect

from annotation.models import Membership
from annotation.services import invitation_create
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_project

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def projects():
    manager = UserFactory(username="maria", is_staff=True)
    annotator = UserFactory(username="ali")
    cats = make_project(owner=manager, name="Cats")
    make_project(owner=manager, name="Wine", data_kind="tabular")
    add_member(cats, annotator, Role.ANNOTATOR)
    return {"manager": manager, "annotator": annotator, "cats": cats}


def test_manager_logs_in_and_sees_their_projects(page, live_server, projects):
    log_in(page, live_server, "maria", PASSWORD)

    expect(page.get_by_test_id("current-user")).to_have_text("maria")
    rows = page.get_by_test_id("project-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Cats")
    expect(rows.nth(1)).to_contain_text("Tabular records")


def test_annotator_sees_only_the_projects_they_belong_to(page, live_server, projects):
    log_in(page, live_server, "ali", PASSWORD)

    rows = page.get_by_test_id("project-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("annotator")


def test_wrong_password_is_refused_with_a_message(page, live_server, projects):
    log_in(page, live_server, "maria", "not-the-password")

    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    assert page.url.endswith("/login/")


def test_pages_need_a_login(page, live_server):
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_invited_person_joins_from_the_link_and_lands_on_the_project(page, live_server, projects):
    _, key = invitation_create(
        project=projects["cats"], email="new@example.com", role=Role.REVIEWER, invited_by=projects["manager"]
    )
    page.goto(f"{live_server.url}/invitations/{key}/")
    page.get_by_label("Choose a username").fill("newbie")
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_role("button", name="Join").click()

    expect(page.get_by_role("status")).to_contain_text("You joined Cats as reviewer")
    expect(page.get_by_test_id("project-row")).to_have_count(1)
    assert Membership.objects.get(user__username="newbie").role == Role.REVIEWER


def test_used_invitation_link_shows_why_it_fails(page, live_server, projects):
    _, key = invitation_create(
        project=projects["cats"], email="x@example.com", role=Role.ANNOTATOR, invited_by=projects["manager"]
    )
    for username in ("first", "second"):
        page.context.clear_cookies()
        page.goto(f"{live_server.url}/invitations/{key}/")
        page.get_by_label("Choose a username").fill(username)
        page.get_by_label("Choose a password").fill(PASSWORD)
        page.get_by_role("button", name="Join").click()

    expect(page.get_by_role("alert")).to_contain_text("already been used")
    assert not Membership.objects.filter(user__username="second").exists()


def test_api_docs_render_offline(page, live_server, projects):
    external = []
    page.on(
        "request", lambda request: external.append(request.url) if not request.url.startswith(live_server.url) else None
    )
    log_in(page, live_server, "maria", PASSWORD)
    page.goto(f"{live_server.url}/api/docs/")

    expect(page.get_by_text("Loupe API").first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    assert external == []
