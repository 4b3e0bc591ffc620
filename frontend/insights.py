"""Project dashboard, item view and strategy & budget pages.

The pages render what a first look needs (the model's state, the budget, the strategy in force) from the same
selectors as the API; dashboard.js and strategy.js then draw the figures from the JSON API and keep them
current, so the pages show exactly what the API answers and every write goes through it.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as PageForbidden
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from active_learning import selectors as learning
from active_learning.core.registry import MIXABLE, STRATEGIES
from annotation import selectors
from annotation.access import ROLE_CAPABILITIES, Capability, project_for_user, role_for_user
from annotation.models import Project
from core.errors import NotFound, PermissionDenied


def _project(request, project_id: int, capability: Capability = Capability.VIEW) -> tuple[Project, frozenset]:
    """The project and the caller's capabilities in it, with the API's rules: outsiders 404, others 403."""
    try:
        project = project_for_user(user=request.user, project_id=project_id, capability=capability)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except PermissionDenied as exc:
        raise PageForbidden(exc.message) from exc
    return project, ROLE_CAPABILITIES[role_for_user(user=request.user, project=project)]


def _links(project: Project, capabilities: frozenset) -> dict:
    return {
        "dashboard": reverse("insights-dashboard", args=[project.id]),
        "strategy": reverse("insights-strategy", args=[project.id]),
        "item": reverse("insights-item", args=[project.id, 0]),  # the scripts swap the 0 for an item id
        "labeling": f"/projects/{project.id}/label/",
        "review": f"/projects/{project.id}/review/" if Capability.REVIEW in capabilities else None,
    }


def _config(project: Project, capabilities: frozenset, status: dict) -> dict:
    return {
        "project": {"id": project.id, "name": project.name, "data_kind": project.data_kind},
        "api": f"/api/v1/projects/{project.id}/",
        "can_manage": Capability.MANAGE in capabilities,
        "can_review": Capability.REVIEW in capabilities,
        "labels": list(selectors.label_list(project=project).values("id", "name", "color")),
        "links": _links(project, capabilities),
        "status": status,
        "strategies": {name: info.title for name, info in STRATEGIES.items()},
    }


@login_required
def dashboard(request, project_id: int):
    project, capabilities = _project(request, project_id)
    status = learning.learning_status(project=project)
    config = _config(project, capabilities, status)
    return render(request, "frontend/dashboard.html", {"project": project, "status": status, "config": config})


@login_required
def item(request, project_id: int, item_id: int):
    project, capabilities = _project(request, project_id)
    found = selectors.item_list(project=project).filter(id=item_id).first()
    if found is None:
        raise Http404("No such item in this project.")
    names = {label["id"]: label["name"] for label in selectors.label_list(project=project).values("id", "name")}
    insight = found.insight or {}
    suggestion = insight.get("suggestion") or {}
    columns = list(project.shown_columns) or [column["name"] for column in project.columns] or sorted(found.data)
    context = {
        "project": project,
        "item": found,
        "record": [(column, found.data.get(column)) for column in columns],
        "insight": insight,
        "scores": sorted((insight.get("scores") or {}).items()),
        "suggested": [names.get(label_id, f"#{label_id}") for label_id in suggestion.get("label_ids", [])],
        "confidence": suggestion.get("confidence"),
        "links": _links(project, capabilities),
    }
    return render(request, "frontend/dashboard_item.html", context)


@login_required
def strategy(request, project_id: int):
    project, capabilities = _project(request, project_id)
    status = learning.learning_status(project=project)
    config = _config(project, capabilities, status)
    context = {
        "project": project,
        "status": status,
        "spec": status["strategy"],
        "strategies": [(name, info.title, info.description) for name, info in STRATEGIES.items()],
        "mixable": [(name, STRATEGIES[name].title, status["strategy"]["mix"].get(name, "")) for name in MIXABLE],
        "can_manage": config["can_manage"],
        "config": config,
    }
    return render(request, "frontend/strategy.html", context)
