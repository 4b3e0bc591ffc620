"""The OpenAPI schema documents every answer: each successful response of each operation has a schema, and every
object in it names its properties (or the type of its values), down to the leaves. A client generated from the
schema then knows every field it will get."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from active_learning import schemas as learning_schemas
from active_learning.models import LearningRun, ModelVersion
from annotation.models import DataKind, Item, JobStatus
from annotation.schemas import ItemInsight
from tests.factories import UserFactory, add_member, make_annotation, make_project, rank_queue
from tests.integration.conftest import client_for


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(node: dict, components: dict) -> dict:
    while "$ref" in node:
        node = components[node["$ref"].rsplit("/", 1)[-1]]
    return node


def undocumented(value, node: dict, components: dict, where: str) -> list[str]:
    """Paths of the keys in a JSON answer that its schema does not name (nor types as additional values)."""
    node = _resolve(node, components)
    for key in ("allOf", "oneOf", "anyOf"):
        if key in node:
            parts = [undocumented(value, part, components, where) for part in node[key]]
            return min(parts, key=len)  # documented when one of the alternatives documents it
    if isinstance(value, list) and "items" in node:
        return [problem for v in value for problem in undocumented(v, node["items"], components, f"{where}[]")]
    if not isinstance(value, dict):
        return []
    properties, values = node.get("properties", {}), node.get("additionalProperties")
    problems = []
    for key, child in value.items():
        if key in properties:
            problems += undocumented(child, properties[key], components, f"{where}.{key}")
        elif isinstance(values, dict):
            problems += undocumented(child, values, components, f"{where}{{}}")
        else:
            problems.append(f"{where}.{key}")
    return problems


def _untyped(node, components: dict, where: str, seen: set[str]) -> list[str]:
    """Paths inside a JSON schema to objects without properties, values without a type, arrays without items."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _untyped(components[name], components, name, seen)
    problems = []
    for key in ("allOf", "oneOf", "anyOf"):
        for i, part in enumerate(node.get(key, [])):
            problems += _untyped(part, components, f"{where}.{key}[{i}]", seen)
    if any(key in node for key in ("allOf", "oneOf", "anyOf", "enum", "const")):
        return problems
    kind = node.get("type")
    if kind is None:
        return [*problems, f"{where}: no type"]
    if kind == "array":
        if "items" not in node:
            return [*problems, f"{where}: an array of anything"]
        return problems + _untyped(node["items"], components, f"{where}[]", seen)
    if kind == "object":
        properties = node.get("properties", {})
        values = node.get("additionalProperties")
        if not properties and not isinstance(values, dict):
            return [*problems, f"{where}: an object without properties"]
        if isinstance(values, dict):
            problems += _untyped(values, components, f"{where}{{}}", seen)
        for name, child in properties.items():
            problems += _untyped(child, components, f"{where}.{name}", seen)
    return problems


def untyped_responses(schema: dict) -> list[str]:
    components = schema.get("components", {}).get("schemas", {})
    problems = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation.get("responses", {}).items():
                if not code.startswith("2") or code == "204":
                    continue
                where = f"{method.upper()} {path} {code}"
                content = response.get("content", {}).get("application/json")
                if content is None:
                    if not response.get("content"):
                        problems.append(f"{where}: no response body documented")
                    continue
                problems += _untyped(content.get("schema", {}), components, where, set())
    return list(dict.fromkeys(problems))


def test_every_successful_response_is_typed_to_its_leaves():
    problems = untyped_responses(_schema())
    assert not problems, "untyped responses in the OpenAPI schema:\n" + "\n".join(problems)


def test_the_check_finds_an_object_without_properties():
    schema = {
        "paths": {
            "/x/": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/c/X"}}}}}}}
        },
        "components": {"schemas": {"X": {"type": "object", "properties": {"result": {"type": "object"}}}}},
    }
    assert untyped_responses(schema) == ["X.result: an object without properties"]


@pytest.fixture
def busy_project(db):
    """A tabular project with answers from two annotators, a ranking with insights, a fitted model version and a
    finished ranking run: enough for every GET of the API to answer with its fields filled in."""
    owner, other = UserFactory(username="owner", is_staff=True), UserFactory(username="second")
    project = make_project(owner=owner, data_kind=DataKind.TABULAR, shown_columns=["size"], feature_columns=["size"])
    add_member(project, other, "annotator")
    cat, dog = project.labels.order_by("id")
    items = [Item.objects.create(project=project, external_id=f"r{i}", data={"size": i}) for i in range(4)]
    for item in items[:3]:
        make_annotation(item, owner, cat)
        make_annotation(item, other, cat if item != items[2] else dog)
    insight = ItemInsight(
        ranking_run=1,
        model_version=1,
        rank=1,
        picked_by="uncertainty",
        reason="the model is unsure",
        scores={"uncertainty": 0.9, "novelty": None},
        suggestion={"label_ids": [cat.id], "confidence": 0.6},
    )
    rank_queue(project, [items[3]], {items[3].id: insight.model_dump()})
    result = learning_schemas.RankResult(
        phase="uncertainty",
        strategy="adaptive",
        batch_item_ids=[items[3].id],
        novel_item_ids=[items[3].id],
        kappa_with_previous=None,
        stable_streak=0,
        stopping_rule_met=False,
        rank_seconds=0.1,
        annotations_seen=6,
    )
    run = LearningRun.objects.create(
        project=project, kind="rank", reason="request", status=JobStatus.DONE, result=result.model_dump(mode="json")
    )
    figures = {"precision": 1.0, "recall": 0.5, "f1": 0.67, "support": 2}
    ModelVersion.objects.create(
        project=project,
        run=run,
        version=1,
        n_labels=3,
        classifier="logistic",
        cv_accuracy=0.7,
        cv_macro_f1=0.6,
        cv_folds=2,
        per_class={str(cat.id): figures, str(dog.id): figures},
    )
    return owner, project


def test_every_answer_of_a_get_is_documented_to_its_leaves(busy_project):
    owner, project = busy_project
    schema = _schema()
    components = schema["components"]["schemas"]
    client = client_for(owner)
    checked, problems = [], []
    for path, operations in schema["paths"].items():
        if "get" not in operations or set(re.findall(r"{(\w+)}", path)) - {"project_id"}:
            continue
        response = client.get(path.replace("{project_id}", str(project.id)))
        if response.status_code != 200:
            problems.append(f"GET {path}: {response.status_code} {response.content[:200]!r}")
            continue
        if response["Content-Type"] != "application/json":
            continue
        documented = operations["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        problems += undocumented(response.json(), documented, components, f"GET {path}")
        checked.append(path)
    assert {"/api/v1/projects/{project_id}/learning/", "/api/v1/projects/{project_id}/progress/"} <= set(checked)
    assert not problems, "answers with fields the schema does not document:\n" + "\n".join(problems)


def test_the_check_finds_a_field_the_schema_does_not_name():
    node = {"type": "object", "properties": {"stale": {"type": "boolean"}}}
    assert undocumented({"stale": True, "budget": {"total": 3}}, node, {}, "status") == ["status.budget"]
