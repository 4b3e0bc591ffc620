from django.contrib import admin

from annotation.models import Label, Membership, Project, SchemaChange


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "data_kind", "task_type", "schema_version", "created_at"]
    inlines = [MembershipInline]
    readonly_fields = ["schema_version"]  # the schema changes through the API's explicit operations


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "hotkey", "retired_at"]
    list_filter = ["project"]

    def has_change_permission(self, request, obj=None):
        return False  # rename/merge/retire go through schema changes, which keep the history


@admin.register(SchemaChange)
class SchemaChangeAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "operation", "changed_by", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False
