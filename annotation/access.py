"""Who may do what in a project. Every project-scoped API and page goes through `project_for_user`."""

import enum

from django.db import connection

from annotation.models import Membership, Project, Role
from core.db import fetch_one, model_columns, model_from_row
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
    project, member_role = _project_and_role(project_id=project_id, user_id=user.id)
    role = None if project is None else Role.MANAGER if user.is_superuser else member_role
    if role is None:
        raise NotFound("No such project.")
    if capability not in ROLE_CAPABILITIES[role]:
        raise PermissionDenied(f"Your role in this project ({role}) does not allow this ({capability.value}).")
    return project


def _project_and_role(*, project_id: int, user_id: int) -> tuple[Project | None, str | None]:
    """The project and the user's role in it, in one plain-SQL read: every API request of a project starts
    here, and building this query through the ORM cost more than running it."""
    quote = connection.ops.quote_name
    row = fetch_one(
        f"SELECT {model_columns(Project, 'p')}, (SELECT m.role FROM {quote(Membership._meta.db_table)} m "
        f"WHERE m.project_id = p.id AND m.user_id = %s LIMIT 1) FROM {quote(Project._meta.db_table)} p "
        "WHERE p.id = %s",
        [user_id, project_id],
    )
    if row is None:
        return None, None
    return model_from_row(Project, row[:-1]), row[-1]


def can_create_projects(user: User) -> bool:
    return user.is_authenticated and user.is_staff
