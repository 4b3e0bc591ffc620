"""The browser pages follow the API's rules: outsiders get 404, members without the right 403; lists run a fixed
number of queries."""

import pytest
from django.test import Client

from active_learning.models import StrategySetting
from annotation.models import Item, Label
from frontend.views import label_keys
from tests.factories import UserFactory, make_project

pytestmark = pytest.mark.django_db

PAGES = {"label": "label/", "review": "review/", "export": "export/"}
ALLOWED = {
    "manager": {"label": 200, "review": 200, "export": 200},
    "reviewer": {"label": 200, "review": 200, "export": 403},
    "annotator": {"label": 200, "review": 403, "export": 403},
    "outsider": {"label": 404, "review": 404, "export": 404},
}


def browser(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("persona", list(ALLOWED))
@pytest.mark.parametrize("page", list(PAGES))
def test_project_pages_answer_by_role(personas, persona, page):
    response = browser(personas.user(persona)).get(f"/projects/{personas.project.id}/{PAGES[page]}")
    assert response.status_code == ALLOWED[persona][page]


def test_refused_pages_are_loupe_pages_that_say_why_and_lead_home(personas):
    forbidden = browser(personas.user("annotator")).get(f"/projects/{personas.project.id}/export/")
    missing = browser(personas.user("outsider")).get(f"/projects/{personas.project.id}/label/")

    assert forbidden.status_code == 403
    assert b"<h1>Not allowed</h1>" in forbidden.content
    assert b"Your role in this project (annotator) does not allow this" in forbidden.content
    assert b"ask a manager of the project" in forbidden.content
    assert missing.status_code == 404
    assert b"<h1>Not found</h1>" in missing.content
    assert b"No such project." in missing.content
    for response in (forbidden, missing):
        assert b'href="/"' in response.content  # back to the project list
        assert b'data-testid="current-user"' in response.content  # the usual page frame, signed in


def test_an_address_nobody_serves_gets_the_plain_not_found_page(personas):
    response = browser(personas.user("manager")).get("/no/such/page/")

    assert response.status_code == 404
    assert b"There is no page at this address." in response.content
    assert b"Resolver404" not in response.content


def test_an_api_address_nobody_serves_answers_json_like_the_rest_of_the_api(personas):
    response = browser(personas.user("manager")).get("/api/v1/no-such-endpoint/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No API endpoint at this address."}


def test_project_pages_send_anonymous_visitors_to_the_login(personas):
    response = browser(None).get(f"/projects/{personas.project.id}/label/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_project_list_shows_progress_in_a_fixed_number_of_queries(django_assert_num_queries):
    owner = UserFactory(is_staff=True)
    client = browser(owner)

    def add_project(n: int) -> None:
        project = make_project(owner=owner, name=f"P{n}")
        Item.objects.bulk_create(
            Item(project=project, external_id=str(i), content_hash=f"{n}-{i}", status="done" if i < n else "open")
            for i in range(4)
        )

    add_project(1)
    with django_assert_num_queries(3) as one:  # session, user, the list with its counts
        client.get("/")
    for n in range(2, 6):
        add_project(n)
    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get("/")
    assert "1 / 4" in response.content.decode()
    assert "4 / 4" in response.content.decode()


def test_project_list_links_each_page_by_role(personas):
    page = browser(personas.annotator).get("/").content.decode()
    assert f"/projects/{personas.project.id}/label/" in page
    assert f"/projects/{personas.project.id}/review/" not in page
    page = browser(personas.manager).get("/").content.decode()
    assert f"/projects/{personas.project.id}/export/" in page


def test_label_keys_are_own_hotkeys_else_free_digits_by_position():
    owner = UserFactory()
    project = make_project(
        owner=owner,
        labels=[{"name": "a"}, {"name": "b", "hotkey": "1"}, {"name": "c"}, {"name": "d", "hotkey": "X"}],
    )
    labels = list(Label.objects.filter(project=project))
    assert [label_keys(labels).get(label.id) for label in labels] == [None, "1", "3", "x"]


def test_labeling_page_shows_the_budget_only_when_the_strategy_sets_one(personas):
    client = browser(personas.annotator)
    url = f"/projects/{personas.project.id}/label/"
    assert 'data-testid="budget"' not in client.get(url).content.decode()
    StrategySetting.objects.create(project=personas.project, version=1, spec={"budget": 200})
    page = client.get(url).content.decode()
    assert 'data-testid="budget"' in page
    assert "0 / 200 labeled" in page


def test_superusers_get_every_page_link_even_where_they_joined_as_annotators(personas):
    personas.annotator.is_superuser = True
    personas.annotator.save(update_fields=["is_superuser"])
    page = browser(personas.annotator).get("/").content.decode()
    assert f"/projects/{personas.project.id}/export/" in page
