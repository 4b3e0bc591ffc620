"""Project dashboard, item view and strategy & budget pages.

The pages render what a first look needs (the model's state, the budget, the strategy in force) from the same
selectors as the API; dashboard.js and strategy.js then draw the figures from the JSON API and keep them
current, so the pages show exactly what the API answers and every write goes through it.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from active_learning import selectors as learning
from active_learning.core.registry import MIXABLE, STRATEGIES
from annotation import selectors
from annotation.access import Capability
from annotation.models import Project
from annotation.predictions import prediction_sources
from frontend.access import page_capabilities, page_project
from integrations.selectors import webhook_list
from integrations.services import webhook_test_send


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
    project = page_project(request, project_id)
    capabilities = page_capabilities(request, project)
    status = learning.learning_status(project=project)
    config = _config(project, capabilities, status)
    context = {
        "project": project,
        "status": status,
        "config": config,
        "prediction_sources": prediction_sources(project=project),
        "drift": next((alert for alert in learning.drift_alerts(project=project, limit=1) if alert["open"]), None),
        "webhooks": webhook_list(project=project) if Capability.MANAGE in capabilities else [],
    }
    return render(request, "frontend/dashboard.html", context)


@login_required
@require_POST
def webhook_test(request, project_id: int, webhook_id: int):
    """The dashboard's "Send test" button: a ping to the webhook (by a worker); the log shows how it went."""
    project = page_project(request, project_id, Capability.MANAGE)
    webhook = project.webhooks.filter(id=webhook_id).first()
    if webhook is None:
        raise Http404("No such webhook in this project.")
    webhook_test_send(webhook=webhook)
    return redirect(reverse("insights-dashboard", args=[project.id]) + "#webhooks")


@login_required
def item(request, project_id: int, item_id: int):
    project = page_project(request, project_id)
    capabilities = page_capabilities(request, project)
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
    project = page_project(request, project_id)
    capabilities = page_capabilities(request, project)
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
