from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core.forms import AdminSignInForm
from core.models import ApiToken, User, WorkerHeartbeat

admin.site.login_form = AdminSignInForm  # failed sign-ins throttled as on the login page
admin.site.register(User, UserAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["hostname", "pid", "started_at", "last_seen_at", "stopped_at"]
