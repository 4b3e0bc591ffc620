"""Who may do what in a project. Every project-scoped API and page goes through `project_for_user`."""

import enum

from django.db.models import OuterRef, Subquery

from annotation.models import Membership, Project, Role
from core.errors import NotFound, PermissionDenied
from core.models import User


class Capability(enum.Enum):
    VIEW = "view"  # see the project, its schema, items and members
    LABEL = "label"
    REVIEW = "review"
    MANAGE = "manage"  # configure, import, export, invite


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.MANAGER: frozenset(Capability),
    Role.REVIEWER: frozenset({Capability.VIEW, Capability.LABEL, Capability.REVIEW}),
    Role.ANNOTATOR: frozenset({Capability.VIEW, Capability.LABEL}),
}


def role_for_user(*, user: User, project: Project) -> str | None:
    """The user's role in the project; superusers act as managers everywhere."""
    if user.is_superuser:
        return Role.MANAGER
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).order_by().first()


def project_for_user(*, user: User, project_id: int, capability: Capability = Capability.VIEW) -> Project:
    """The project if `user` may use `capability` in it.

    Raises NotFound for outsiders (they must not learn the project exists) and PermissionDenied
    for members whose role lacks the capability.
    """
    if not user.is_authenticated:
        raise NotFound("No such project.")
    # One query for the project and the caller's role in it: every API request of a project starts here.
    member_role = Membership.objects.filter(project=OuterRef("pk"), user=user).order_by().values("role")[:1]
    project = Project.objects.filter(id=project_id).annotate(member_role=Subquery(member_role)).first()
    role = None if project is None else Role.MANAGER if user.is_superuser else project.member_role
    if role is None:
        raise NotFound("No such project.")
    if capability not in ROLE_CAPABILITIES[role]:
        raise PermissionDenied(f"Your role in this project ({role}) does not allow this ({capability.value}).")
    return project


def can_create_projects(user: User) -> bool:
    return user.is_authenticated and user.is_staff
