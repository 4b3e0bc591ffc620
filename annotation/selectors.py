"""The read queries behind each project screen and API list. Each runs a fixed number of queries."""

from django.db.models import Count, OuterRef, QuerySet, Subquery

from annotation.models import Invitation, Item, Label, Membership, Project, SchemaChange
from core.models import User


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    """Projects the user belongs to (all, for superusers), with item count and the user's role."""
    projects = Project.objects.all() if user.is_superuser else Project.objects.filter(memberships__user=user)
    role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    return projects.annotate(item_count=Count("items", distinct=True), my_role=Subquery(role)).order_by("name")


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user").order_by("user__username")


def invitation_list(*, project: Project) -> QuerySet[Invitation]:
    return Invitation.objects.filter(project=project).select_related("invited_by")


def label_list(*, project: Project) -> QuerySet[Label]:
    return Label.objects.filter(project=project).annotate(annotation_count=Count("annotations"))


def schema_change_list(*, project: Project) -> QuerySet[SchemaChange]:
    return SchemaChange.objects.filter(project=project).select_related("changed_by")


def item_list(*, project: Project, search: str = "") -> QuerySet[Item]:
    items = Item.objects.filter(project=project)
    if search:
        items = items.filter(external_id__icontains=search)
    return items.order_by("id")
