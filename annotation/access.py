"""Who may do what in a project. Every project-scoped API and page goes through `project_for_user`."""

import enum

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
    membership = Membership.objects.filter(project=project, user=user).only("role").first()
    return membership.role if membership else None


def project_for_user(*, user: User, project_id: int, capability: Capability = Capability.VIEW) -> Project:
    """The project if `user` may use `capability` in it.

    Raises NotFound for outsiders (they must not learn the project exists) and PermissionDenied
    for members whose role lacks the capability.
    """
    project = Project.objects.filter(id=project_id).first()
    role = role_for_user(user=user, project=project) if project and user.is_authenticated else None
    if role is None:
        raise NotFound("No such project.")
    if capability not in ROLE_CAPABILITIES[role]:
        raise PermissionDenied(f"Your role in this project ({role}) does not allow this ({capability.value}).")
    return project


def can_create_projects(user: User) -> bool:
    return user.is_authenticated and user.is_staff
