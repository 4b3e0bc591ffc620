from datetime import datetime, time

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from active_learning.selectors import LABEL_ISSUE_MIN_CONFIDENCE, labeled_count, strategy_current
from annotation.access import ROLE_CAPABILITIES, Capability, role_for_user
from annotation.io.exporters import FORMATS, format_refusal
from annotation.item_actions import MAX_BULK_ITEMS
from annotation.models import (
    AnnotationStatus,
    Item,
    ItemStatus,
    Label,
    Membership,
    Project,
    ReviewStatus,
    Role,
    TaskType,
)
from annotation.selectors import project_list_for_user, review_feedback
from annotation.services import invitation_accept as accept
from core.errors import DomainError, NotFound
from core.selectors import api_token_list
from core.services import api_token_create, api_token_revoke
from frontend.access import page_project

COMMAND_KEYS = {"a", "s", "z"}  # accept the suggestion, skip, undo: a label's own hotkey wins over these


@login_required
def home(request):
    # Done counts in the same single query as the list (no query per project).
    projects = project_list_for_user(user=request.user).annotate(
        done_count=Count("items", filter=Q(items__status=ItemStatus.DONE), distinct=True)
    )
    rows = []
    for project in projects:
        role = Role.MANAGER if request.user.is_superuser else project.my_role  # as annotation.access decides
        capabilities = ROLE_CAPABILITIES[role]
        rows.append(
            {
                "project": project,
                "percent": round(100 * project.done_count / project.item_count) if project.item_count else 0,
                "can_review": Capability.REVIEW in capabilities,
                "can_manage": Capability.MANAGE in capabilities,
            }
        )
    return render(request, "frontend/home.html", {"rows": rows})


def label_keys(labels: list[Label]) -> dict[int, str]:
    """Each active label's key: its own hotkey, else 1-9 by position when that digit is free; some labels may
    get none."""
    taken = {label.hotkey.lower() for label in labels if label.hotkey}
    keys: dict[int, str] = {}
    for position, label in enumerate(labels, start=1):
        if label.hotkey:
            keys[label.id] = label.hotkey.lower()
        elif position <= 9 and str(position) not in taken:
            keys[label.id] = str(position)
    return keys


def _labels_config(project: Project) -> list[dict]:
    labels = list(Label.objects.active().filter(project=project))
    keys = label_keys(labels)
    return [
        {
            "id": label.id,
            "name": label.name,
            "color": label.color,
            "key": keys.get(label.id, ""),
            "description": label.description,
        }
        for label in labels
    ]


def _shown_columns(project: Project) -> list[str]:
    """The columns annotators see, in order: the project's choice, else every column of the table."""
    return list(project.shown_columns) or [column["name"] for column in project.columns]


def labeling_budget(project: Project) -> dict | None:
    """The budget meter of the labeling page, {"used": items labeled, "total": the budget}; None (no meter) while
    the project's active-learning strategy sets no budget. Counted as the active-learning status counts it."""
    _, spec = strategy_current(project)
    if not spec.budget:
        return None
    return {"used": labeled_count(project.id), "total": spec.budget}


@login_required
def labeling(request, project_id: int):
    project = page_project(request, project_id, Capability.LABEL)
    labels = _labels_config(project)
    used = {label["key"] for label in labels}
    config = {
        "project": {
            "id": project.id,
            "name": project.name,
            "data_kind": project.data_kind,
            "multi_label": project.task_type == TaskType.MULTI_LABEL,
            "overlap": project.overlap,
            "lease_seconds": project.lease_seconds,
            "shown_columns": _shown_columns(project),
            "column_types": {column["name"]: column["type"] for column in project.columns},
        },
        "labels": labels,
        "commands": {key: key not in used for key in sorted(COMMAND_KEYS)},
        "can_review": Capability.REVIEW in ROLE_CAPABILITIES[role_for_user(user=request.user, project=project)],
        "progress": _progress(request, project),
        "api": f"/api/v1/projects/{project.id}/",
    }
    context = {
        "project": project,
        "config": config,
        "labels": labels,
        "budget": labeling_budget(project),
        "feedback": _feedback(request, project),
    }
    return render(request, "frontend/labeling.html", context)


def _feedback(request, project: Project) -> dict:
    """How reviewers judged the caller's answers, with label names for the page."""
    feedback = review_feedback(user=request.user, project=project)
    names = dict(Label.objects.filter(project=project).values_list("id", "name"))
    for correction in feedback["latest_corrections"]:
        correction["yours_names"] = ", ".join(names.get(i, f"#{i}") for i in correction["yours"])
        correction["final_names"] = ", ".join(names.get(i, f"#{i}") for i in correction["final"])
    return feedback


def _progress(request, project: Project) -> dict:
    """Items done of all, the caller's own answers and how many undo can take back: what the page starts from
    (3 queries)."""
    counts = project.items.aggregate(total=Count("id"), done=Count("id", filter=Q(status=ItemStatus.DONE)))
    mine = project.items.filter(
        annotations__annotator=request.user, annotations__status=AnnotationStatus.ACTIVE
    ).count()
    # What undo can take back, reloads included: one's answers on items no reviewer has decided on yet.
    undoable = project.items.filter(
        annotations__annotator=request.user,
        annotations__status=AnnotationStatus.ACTIVE,
        review_status=ReviewStatus.UNREVIEWED,
    ).count()
    return {**counts, "mine": mine, "undoable": undoable}


@login_required
def review(request, project_id: int):
    project = page_project(request, project_id, Capability.REVIEW)
    config = {
        "project": {
            "id": project.id,
            "data_kind": project.data_kind,
            "multi_label": project.task_type == TaskType.MULTI_LABEL,
            "shown_columns": _shown_columns(project),
            "column_types": {column["name"]: column["type"] for column in project.columns},
        },
        "labels": _labels_config(project),
        "all_labels": dict(Label.objects.filter(project=project).values_list("id", "name")),
        "issue_min_confidence": LABEL_ISSUE_MIN_CONFIDENCE,
        "api": f"/api/v1/projects/{project.id}/",
    }
    return render(request, "frontend/review.html", {"project": project, "config": config})


@login_required
def items(request, project_id: int):
    """The item browser: filters, a grid or table of items, a map with a lasso, and bulk actions."""
    project = page_project(request, project_id, Capability.REVIEW)
    config = {
        "project": {
            "id": project.id,
            "data_kind": project.data_kind,
            "shown_columns": _shown_columns(project),
            "column_types": {column["name"]: column["type"] for column in project.columns},
        },
        "labels": _labels_config(project),
        "all_labels": dict(Label.objects.filter(project=project).values_list("id", "name")),
        "can_manage": Capability.MANAGE in ROLE_CAPABILITIES[role_for_user(user=request.user, project=project)],
        "api": f"/api/v1/projects/{project.id}/",
        "max_bulk": MAX_BULK_ITEMS,
    }
    members = Membership.objects.filter(project=project).order_by("user__username")
    context = {"project": project, "config": config, "members": members.values_list("user__username", flat=True)}
    return render(request, "frontend/items.html", context)


@login_required
def item(request, project_id: int, item_id: int):
    """One item: the item, every answer, the review history, the model's view, and a correction form."""
    project = page_project(request, project_id, Capability.REVIEW)
    found = Item.objects.filter(project=project, id=item_id).values("id", "external_id").first()
    if found is None:
        raise Http404("No such item in this project.")
    config = {
        "project": {
            "id": project.id,
            "data_kind": project.data_kind,
            "multi_label": project.task_type == TaskType.MULTI_LABEL,
            "shown_columns": _shown_columns(project),
            "column_types": {column["name"]: column["type"] for column in project.columns},
        },
        "item_id": item_id,
        "labels": _labels_config(project),
        "all_labels": dict(Label.objects.filter(project=project).values_list("id", "name")),
        "api": f"/api/v1/projects/{project.id}/",
    }
    return render(request, "frontend/item.html", {"project": project, "item": found, "config": config})


@login_required
def export(request, project_id: int):
    project = page_project(request, project_id, Capability.MANAGE)
    formats = [
        {"name": name, "label": export.title}
        for name, export in FORMATS.items()
        if format_refusal(project, name) is None
    ]
    context = {
        "project": project,
        "formats": formats,
        "labels": Label.objects.filter(project=project).values_list("name", flat=True),
        "annotators": Membership.objects.filter(project=project)
        .order_by("user__username")
        .values_list("user__username", flat=True),
        "config": {"api": f"/api/v1/projects/{project.id}/"},
    }
    return render(request, "frontend/export.html", context)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name")
    expires_on = forms.DateField(
        required=False, label="Expires on (optional)", widget=forms.DateInput({"type": "date"})
    )


NEW_KEY = "frontend.new_api_key"


@never_cache  # the page shows a new key once: no copy may linger in a cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """List, create and revoke one's API tokens. A new key goes through the session to the page that follows the
    redirect, which shows it once and drops it: a reload neither shows it again nor makes a second token."""
    action = request.POST.get("action")
    form = TokenForm(request.POST if action == "create" else None)
    if action == "revoke":
        try:
            token = api_token_revoke(user=request.user, token_id=int(request.POST.get("token_id", "0")))
        except (NotFound, ValueError) as exc:
            raise Http404("No such token.") from exc
        messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
        return redirect("tokens")
    if action == "create" and form.is_valid():
        expires_on = form.cleaned_data["expires_on"]
        expires_at = timezone.make_aware(datetime.combine(expires_on, time.max)) if expires_on else None
        _, request.session[NEW_KEY] = api_token_create(
            user=request.user, name=form.cleaned_data["name"], expires_at=expires_at
        )
        return redirect("tokens")
    context = {
        "form": form,
        "tokens": api_token_list(user=request.user).order_by("-id"),
        "created_key": request.session.pop(NEW_KEY, None),
        "now": timezone.now(),
    }
    return render(request, "frontend/tokens.html", context, status=400 if form.errors else 200)


class InvitationForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]{1,150}$", max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)


def invitation_accept(request, key: str):
    """Join a project by invitation: logged-in users join as themselves, others choose credentials."""
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and (request.user.is_authenticated or form.is_valid()):
        fields = {"user": request.user} if request.user.is_authenticated else form.cleaned_data
        try:
            membership = accept(key=key, **fields)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            if not request.user.is_authenticated:
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"You joined {membership.project.name} as {membership.role}.")
            return redirect("home")
    return render(request, "frontend/invitation.html", {"form": form}, status=400 if form.errors else 200)


def _reason(exception) -> str:
    """The message a view gave its Http404/PermissionDenied; "" for Django's own (a URL nobody serves)."""
    message = exception.args[0] if exception is not None and exception.args else ""
    return message if isinstance(message, str) else ""


def _error_page(request, status: int, title: str, reason: str, hint: str):
    return render(request, "frontend/error.html", {"title": title, "reason": reason, "hint": hint}, status=status)


def page_not_found(request, exception):
    """handler404: the page frame, the reason when a view gave one, a way back; JSON, as the API speaks, for an
    address under /api/ that no endpoint serves."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _reason(exception) or "No API endpoint at this address."}, status=404)
    return _error_page(
        request,
        404,
        "Not found",
        _reason(exception) or "There is no page at this address.",
        "It may have been removed, or you are not a member of its project.",
    )


def permission_denied(request, exception):
    """handler403: as page_not_found."""
    return _error_page(
        request,
        403,
        "Not allowed",
        _reason(exception) or "Your role does not allow this page.",
        "If you need it, ask a manager of the project (or an administrator) for another role.",
    )
