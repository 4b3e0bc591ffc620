"""Project-scoped API. Each view: authenticate, parse, one access check + one service or selector call."""

from django.core.files.storage import FileSystemStorage
from django.http import FileResponse, HttpResponseRedirect
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from annotation import selectors, services
from annotation.access import Capability, can_create_projects, project_for_user
from annotation.api.serializers import (
    InvitationOutputSerializer,
    ItemOutputSerializer,
    LabelOutputSerializer,
    MembershipOutputSerializer,
    ProjectOutputSerializer,
    SchemaChangeOutputSerializer,
    SchemaOutputSerializer,
)
from annotation.models import DataKind, Project, QueueOrder, Role, TaskType
from core.api.fields import JSONField, NameField
from core.api.pagination import LimitOffsetPagination
from core.errors import NotFound, PermissionDenied


class ProjectListApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = NameField(max_length=200)
        data_kind = serializers.ChoiceField(choices=DataKind.choices)
        instructions = serializers.CharField(required=False, allow_blank=True, default="")
        task_type = serializers.ChoiceField(choices=TaskType.choices, required=False, default=TaskType.SINGLE_LABEL)
        labels = JSONField(required=False, default=list, help_text="[{name, color?, hotkey?, description?}]")
        shown_columns = serializers.ListField(child=NameField(), required=False, default=list)
        feature_columns = serializers.ListField(child=NameField(), required=False, default=list)

    @extend_schema(responses=ProjectOutputSerializer(many=True))
    def get(self, request):
        projects = selectors.project_list_for_user(user=request.user)
        return Response(ProjectOutputSerializer(projects, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request):
        if not can_create_projects(request.user):
            raise PermissionDenied("Only admins create projects.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(creator=request.user, spec=data.validated_data)
        project = selectors.project_list_for_user(user=request.user).get(id=project.id)
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = NameField(max_length=200, required=False)
        instructions = serializers.CharField(required=False, allow_blank=True)
        overlap = serializers.IntegerField(min_value=1, max_value=20, required=False)
        queue_order = serializers.ChoiceField(choices=QueueOrder.choices, required=False)
        lease_seconds = serializers.IntegerField(min_value=30, max_value=3600, required=False)

    @extend_schema(responses=ProjectOutputSerializer)
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id)
        return Response(ProjectOutputSerializer(project).data)

    @extend_schema(request=InputSerializer, responses=ProjectOutputSerializer)
    def patch(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = services.project_update(project=project, **data.validated_data)
        return Response(ProjectOutputSerializer(project).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        services.project_delete(project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MembershipListApi(APIView):
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses=MembershipOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id)
        return Response(MembershipOutputSerializer(selectors.membership_list(project=project), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: MembershipOutputSerializer})
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_add(project=project, **data.validated_data)
        return Response(MembershipOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class MembershipDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(request=InputSerializer, responses=MembershipOutputSerializer)
    def patch(self, request, project_id: int, user_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set_role(project=project, user_id=user_id, **data.validated_data)
        return Response(MembershipOutputSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, user_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        services.membership_remove(project=project, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListApi(APIView):
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses=InvitationOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        return Response(InvitationOutputSerializer(selectors.invitation_list(project=project), many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: inline_serializer(
                "InvitationCreated",
                {
                    "invitation": InvitationOutputSerializer(),
                    "key": serializers.CharField(),
                    "accept_url": serializers.CharField(),
                },
            )
        },
    )
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, key = services.invitation_create(project=project, invited_by=request.user, **data.validated_data)
        return Response(
            {
                "invitation": InvitationOutputSerializer(invitation).data,
                "key": key,
                "accept_url": request.build_absolute_uri(f"/invitations/{key}/"),
            },
            status=status.HTTP_201_CREATED,
        )


class InvitationDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, invitation_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        services.invitation_revoke(project=project, invitation_id=invitation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptApi(APIView):
    """Accept an invitation: logged in, as yourself; otherwise as a new user with the given credentials."""

    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "invitation_accept"

    class InputSerializer(serializers.Serializer):
        key = serializers.CharField(max_length=100)
        username = serializers.RegexField(r"^[\w.@+-]{1,150}$", required=False, default="")
        password = serializers.CharField(required=False, default="", write_only=True, trim_whitespace=False)

    @extend_schema(request=InputSerializer, responses={201: MembershipOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user if request.user.is_authenticated else None
        membership = services.invitation_accept(user=user, **data.validated_data)
        return Response(MembershipOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class SchemaApi(APIView):
    @extend_schema(responses=SchemaOutputSerializer)
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id)
        labels = selectors.label_list(project=project)
        return Response(SchemaOutputSerializer({**_schema_fields(project), "labels": labels}).data)


def _schema_fields(project: Project) -> dict:
    return {
        "schema_version": project.schema_version,
        "task_type": project.task_type,
        "shown_columns": project.shown_columns,
        "feature_columns": project.feature_columns,
    }


class SchemaChangeListApi(APIView):
    @extend_schema(responses=SchemaChangeOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id)
        changes = selectors.schema_change_list(project=project)
        return Response(SchemaChangeOutputSerializer(changes, many=True).data)

    @extend_schema(
        request=inline_serializer(
            "SchemaOperation",
            {
                "op": serializers.ChoiceField(
                    choices=[
                        "add_label",
                        "update_label",
                        "rename_label",
                        "retire_label",
                        "merge_labels",
                        "set_columns",
                        "set_task_type",
                    ]
                )
            },
        ),
        responses={201: SchemaChangeOutputSerializer},
        description="One explicit change (see annotation/schemas.py for each operation's fields); "
        "it makes the next schema version. Annotations are never rewritten.",
    )
    def post(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id, capability=Capability.MANAGE)
        change = services.schema_change_apply(project_id=project.id, user=request.user, operation=request.data)
        return Response(SchemaChangeOutputSerializer(change).data, status=status.HTTP_201_CREATED)


class LabelListApi(APIView):
    @extend_schema(responses=LabelOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id)
        return Response(LabelOutputSerializer(selectors.label_list(project=project), many=True).data)


class ItemListApi(APIView):
    pagination_class = LimitOffsetPagination  # documents the page envelope (count, next, previous, results)

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="Part of the item's external id")],
        responses=ItemOutputSerializer(many=True),
    )
    def get(self, request, project_id: int):
        project = project_for_user(user=request.user, project_id=project_id)
        items = selectors.item_list(project=project, search=request.query_params.get("search", ""))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(ItemOutputSerializer(page, many=True).data)


class ItemDetailApi(APIView):
    @extend_schema(responses=ItemOutputSerializer)
    def get(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id)
        return Response(ItemOutputSerializer(_item(project, item_id)).data)


class ItemImageApi(APIView):
    """The item's image file (or its thumbnail), to members only: media is never served publicly."""

    variant = "image"

    @extend_schema(responses={(200, "image/*"): bytes})
    def get(self, request, project_id: int, item_id: int):
        project = project_for_user(user=request.user, project_id=project_id)
        file = getattr(_item(project, item_id), self.variant)
        if not file:
            raise NotFound(f"This item has no {self.variant}.")
        storage = file.storage
        if not isinstance(storage, FileSystemStorage):
            return HttpResponseRedirect(storage.url(file.name))  # object storage: a short-lived signed URL
        # The name's extension comes from the decoded format, so the content type is right; the policy keeps a
        # browser from running anything even if a file were not what it claims.
        response = FileResponse(storage.open(file.name, "rb"))
        response["Cache-Control"] = "private, max-age=3600"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response


class ItemThumbnailApi(ItemImageApi):
    variant = "thumbnail"


def _item(project: Project, item_id: int):
    item = selectors.item_list(project=project).filter(id=item_id).first()
    if item is None:
        raise NotFound("No such item in this project.")
    return item
