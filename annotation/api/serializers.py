"""Output shapes for the annotation API (inputs are declared beside each view)."""

from django.urls import reverse
from rest_framework import serializers

from annotation import schemas
from annotation.models import Invitation, Item, Label, Membership, Project, SchemaChange
from core.api.fields import TypedJSONField


class LabelOutputSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)
    annotation_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Label
        fields = [
            "id",
            "name",
            "color",
            "hotkey",
            "description",
            "position",
            "is_active",
            "retired_at",
            "merged_into",
            "annotation_count",
        ]


class ProjectOutputSerializer(serializers.ModelSerializer):
    item_count = serializers.IntegerField(read_only=True, default=None)
    my_role = serializers.CharField(read_only=True, default=None)
    shown_columns = serializers.ListField(child=serializers.CharField(), read_only=True)
    feature_columns = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "data_kind",
            "instructions",
            "task_type",
            "schema_version",
            "shown_columns",
            "feature_columns",
            "created_at",
            "updated_at",
            "item_count",
            "my_role",
        ]


class SchemaOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField(source="schema_version")
    task_type = serializers.CharField()
    shown_columns = serializers.ListField(child=serializers.CharField())
    feature_columns = serializers.ListField(child=serializers.CharField())
    labels = LabelOutputSerializer(many=True)


class SchemaChangeOutputSerializer(serializers.ModelSerializer):
    changed_by = serializers.CharField(source="changed_by.username", default=None)
    payload = TypedJSONField(schemas.SchemaChangePayload, help_text="The change as applied.")

    class Meta:
        model = SchemaChange
        fields = ["version", "operation", "payload", "changed_by", "created_at"]


class MembershipOutputSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["user_id", "username", "email", "role", "created_at"]


class InvitationOutputSerializer(serializers.ModelSerializer):
    invited_by = serializers.CharField(source="invited_by.username", default=None)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]


class ItemOutputSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    priority = serializers.SerializerMethodField(help_text="The item's priority in the current ranking (higher first).")
    # A declared field, which DRF's metaclass takes off the class: it does not hide Serializer.data.
    data = TypedJSONField(schemas.TabularRecord, help_text="A tabular item's values by column ({} for images).")  # type: ignore[assignment]
    insight = TypedJSONField(
        schemas.ItemInsight,
        allow_null=True,
        help_text="Why the item is queued where it is; null outside the current ranking's head.",
    )

    class Meta:
        model = Item
        fields = [
            "id",
            "external_id",
            "data",
            "image_url",
            "thumbnail_url",
            "width",
            "height",
            "content_hash",
            "status",
            "priority",
            "insight",
            "created_at",
        ]

    def get_priority(self, item: Item) -> float:
        ranked = getattr(item, "ranked_priority", None)
        return item.priority if ranked is None else ranked

    def get_image_url(self, item: Item) -> str | None:
        if not item.image:
            return None
        return reverse("api:item-image", kwargs={"project_id": item.project_id, "item_id": item.id})

    def get_thumbnail_url(self, item: Item) -> str | None:
        if not item.thumbnail:
            return None
        return reverse("api:item-thumbnail", kwargs={"project_id": item.project_id, "item_id": item.id})
