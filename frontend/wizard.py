"""Project setup wizard: create a project, import its data, define labels, add people.

The pages render the current state; wizard.js writes through the JSON API (session auth + CSRF), so every
rule stays in the services and their schemas and the pages show the API's own error messages.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from annotation import schemas, selectors
from annotation.access import Capability, can_create_projects
from annotation.models import DataKind, Project, Role, TaskType
from frontend.access import page_project

STEPS = [
    ("details", "Project"),
    ("upload", "Data"),
    ("labels", "Labels"),
    ("members", "People"),
    ("ready", "Ready"),
]
RECENT_IMPORTS = 10


def _render(request, step: str, project: Project | None = None, **context):
    steps = [
        {
            "key": key,
            "title": title,
            "number": number,
            "url": reverse(f"wizard-{key}", args=[project.id]) if project else None,
        }
        for number, (key, title) in enumerate(STEPS, start=1)
    ]
    context = {"step": step, "steps": steps, "project": project, "roles": Role.choices, **context}
    return render(request, f"frontend/wizard_{step}.html", context)


@login_required
def create(request):
    if not can_create_projects(request.user):
        raise PermissionDenied("Only admins create projects.")
    return _render(request, "details", data_kinds=DataKind.choices, task_types=TaskType.choices)


@login_required
def details(request, project_id: int):
    project = page_project(request, project_id, Capability.MANAGE)
    return _render(request, "details", project, data_kinds=DataKind.choices, task_types=TaskType.choices)


@login_required
def upload(request, project_id: int):
    project = page_project(request, project_id, Capability.MANAGE)
    label_names = [label.name for label in selectors.label_list(project=project).filter(retired_at__isnull=True)]
    return _render(
        request,
        "upload",
        project,
        imports=project.import_jobs.select_related("created_by")[:RECENT_IMPORTS],
        label_names=label_names,
        item_count=project.items.count(),
        table_state={
            "shown_columns": project.shown_columns,
            "feature_columns": project.feature_columns,
            "label_names": label_names,
        },
    )


@login_required
def labels(request, project_id: int):
    project = page_project(request, project_id, Capability.MANAGE)
    labels = list(selectors.label_list(project=project))
    return _render(
        request,
        "labels",
        project,
        active_labels=[label for label in labels if label.is_active],
        retired_labels=[label for label in labels if not label.is_active],
        next_color=schemas.PALETTE[len(labels) % len(schemas.PALETTE)],
        reserved_hotkeys=", ".join(sorted({key.upper() for key in schemas.RESERVED_HOTKEYS})),
    )


@login_required
def members(request, project_id: int):
    project = page_project(request, project_id, Capability.MANAGE)
    return _render(
        request,
        "members",
        project,
        memberships=selectors.membership_list(project=project),
        invitations=selectors.invitation_list(project=project).order_by("-created_at"),
        now=timezone.now(),
    )


@login_required
def ready(request, project_id: int):
    project = page_project(request, project_id, Capability.MANAGE)
    labels = selectors.label_list(project=project).filter(retired_at__isnull=True)
    return _render(
        request,
        "ready",
        project,
        item_count=project.items.count(),
        label_count=labels.count(),
        member_count=selectors.membership_list(project=project).count(),
        labeling_url=reverse("labeling", args=[project.id]),
    )
