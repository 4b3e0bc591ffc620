"""Every operation of the OpenAPI schema, called with generated input (mostly input the schema says is wrong) as a
project manager: no answer may be a 5xx. Bounded: schemathesis' boundary cases (each field at and past its
limits, wrong types, missing fields; the first 40 per operation) and a few random examples per operation,
derandomised so a run is repeatable; well under a minute on either database."""

import contextlib
import itertools
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.test import APIClient
from schemathesis.generation import GenerationMode

from annotation.models import Item
from core.services import api_token_create
from loupe.wsgi import application
from tests.factories import UserFactory, make_image_item, make_project

pytestmark = pytest.mark.django_db

EXAMPLES = {GenerationMode.NEGATIVE: 12, GenerationMode.POSITIVE: 4}
MAX_BOUNDARY_CASES = 40  # per operation
# Deleting the project would leave every later operation a 404; it is called, but on another project.
DELETES_THE_PROJECT = ("DELETE", "/api/v1/projects/{project_id}/")


@contextlib.contextmanager
def requests_keep_the_test_transaction():
    """Django closes the connection at the end of each WSGI request; the test's transaction must outlive it
    (as Django's test client arranges for its own requests)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_no_generated_request_gets_a_5xx(settings_override_for_generated_input):
    manager = UserFactory(username="manager", is_staff=True)
    project = make_project(owner=manager, name="Target")
    make_image_item(project, "a.png")
    Item.objects.create(project=project, external_id="b")
    spare = make_project(owner=manager, name="Spare")
    _, key = api_token_create(user=manager, name="generated input")
    raw = APIClient().get("/api/schema/", {"format": "json"}).json()
    schema = schemathesis.openapi.from_dict(raw)
    headers = {"Authorization": f"Bearer {key}"}
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    with requests_keep_the_test_transaction():
        for result in schema.get_all_operations():
            operation = result.ok()
            target = spare if (operation.method.upper(), operation.path) == DELETES_THE_PROJECT else project
            for mode, count in EXAMPLES.items():
                failures += _server_errors(operation, mode, count, target.id, headers, statuses)
            failures += _boundary_errors(schema, operation, target.id, headers, statuses)
    assert failures == [], "5xx answers to generated input:\n" + "\n".join(failures[:20])
    # The run reached the views: answers of every kind, refusals of bad input among them.
    assert statuses[400] > 50, statuses
    assert statuses[200] > 20, statuses
    assert sum(statuses.values()) > 300, statuses


def _server_errors(operation, mode, count: int, project_id: int, headers: dict, statuses: Counter) -> list[str]:
    found: list[str] = []
    overrides = {"project_id": project_id} if "{project_id}" in operation.path else None
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=overrides)

    @settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def call(case) -> None:
        found.extend(_call(case, mode.value, headers, statuses))

    with contextlib.suppress(Unsatisfiable):  # nothing in this operation can be made invalid (no parameters)
        call()
    return found


def _boundary_errors(schema, operation, project_id: int, headers: dict, statuses: Counter) -> list[str]:
    """Schemathesis' coverage cases: each field at and just past its bounds (an integer one past a BIGINT's
    maximum), wrong types, missing required fields, deterministic."""
    found: list[str] = []
    cases = schema.iter_coverage_cases(
        operation, generation_modes=list(GenerationMode), generation_config=schema.config.generation
    )
    for case in itertools.islice(cases, MAX_BOUNDARY_CASES):
        if "project_id" in (case.path_parameters or {}):
            case.path_parameters["project_id"] = project_id
        found += _call(case, "boundary", headers, statuses)
    return found


def _call(case, kind: str, headers: dict, statuses: Counter) -> list[str]:
    try:
        response = case.call(app=application, headers=headers)
    except Exception as exc:  # an exception the server did not turn into an answer: a 500 in production
        return [f"{kind} raised {exc!r}: {case.as_curl_command()}"]
    statuses[response.status_code] += 1
    if response.status_code >= 500:
        return [f"{kind} {response.status_code}: {case.as_curl_command()}"]
    return []


@pytest.fixture
def settings_override_for_generated_input(settings):
    """Generated requests come fast from one token: the rate limit (tested on its own) must not answer them."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": None, "anon": None},
    }
