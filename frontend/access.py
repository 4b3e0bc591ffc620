"""The one door from a page to a project: the API's access rules (annotation.access), answered as pages answer."""

from django.core.exceptions import PermissionDenied as PageForbidden
from django.http import Http404

from annotation.access import ROLE_CAPABILITIES, Capability, project_for_user, role_for_user
from annotation.models import Project
from core.errors import NotFound, PermissionDenied


def page_project(request, project_id: int, capability: Capability = Capability.VIEW) -> Project:
    """The project for a page: outsiders get a 404 (it does not exist for them), members without the right a 403."""
    try:
        return project_for_user(user=request.user, project_id=project_id, capability=capability)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except PermissionDenied as exc:
        raise PageForbidden(exc.message) from exc


def page_capabilities(request, project: Project) -> frozenset[Capability]:
    """What the signed-in user may do in a project they can see (the page shows only those actions)."""
    role = role_for_user(user=request.user, project=project)
    return ROLE_CAPABILITIES[role] if role else frozenset()
