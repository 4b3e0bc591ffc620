from django.contrib.auth import get_user_model
from django.db import DatabaseError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.faults import DATABASE_RETRY_AFTER_S, MIGRATIONS_RETRY_AFTER_S
from core.selectors import api_token_list, health_report
from core.services import api_token_create, api_token_revoke, user_create

User = get_user_model()


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "is_staff"]


class MeApi(APIView):
    @extend_schema(responses=UserOutputSerializer)
    def get(self, request):
        return Response(UserOutputSerializer(request.user).data)


class UserListApi(APIView):
    """Admins create users; there is no open sign-up."""

    permission_classes = [permissions.IsAdminUser]

    class InputSerializer(serializers.Serializer):
        username = serializers.RegexField(r"^[\w.@+-]{1,150}$")
        password = serializers.CharField(write_only=True, trim_whitespace=False)
        email = serializers.EmailField(required=False, default="")
        first_name = serializers.CharField(required=False, default="", max_length=150)
        last_name = serializers.CharField(required=False, default="", max_length=150)
        is_staff = serializers.BooleanField(required=False, default=False)

    @extend_schema(responses=UserOutputSerializer(many=True))
    def get(self, request):
        return Response(UserOutputSerializer(User.objects.order_by("username"), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: UserOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_create(**data.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class ApiTokenOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiTokenListApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    @extend_schema(responses=ApiTokenOutputSerializer(many=True))
    def get(self, request):
        return Response(ApiTokenOutputSerializer(api_token_list(user=request.user), many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: inline_serializer(
                "ApiTokenCreated", {"token": ApiTokenOutputSerializer(), "key": serializers.CharField()}
            )
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, key = api_token_create(user=request.user, **data.validated_data)
        return Response({"token": ApiTokenOutputSerializer(token).data, "key": key}, status=status.HTTP_201_CREATED)


class ApiTokenDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, token_id: int):
        api_token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HealthCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    error = serializers.CharField(required=False, help_text="Staff only: why the check failed.")
    latency_ms = serializers.FloatField(required=False, help_text="Staff only.")


class DatabaseCheckSerializer(HealthCheckSerializer):
    vendor = serializers.CharField(required=False, help_text="Staff only: sqlite or postgresql.")


class MigrationsCheckSerializer(HealthCheckSerializer):
    unapplied_apps = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Staff only (`reasons` names them for everyone)."
    )


class BrokerCheckSerializer(HealthCheckSerializer):
    transport = serializers.CharField(required=False, help_text="Staff only.")


class QueueLivenessSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The Celery queue.")
    workers = serializers.IntegerField(help_text="Live workers consuming it.")


class WorkersCheckSerializer(HealthCheckSerializer):
    count = serializers.IntegerField(required=False, help_text="Staff only: live workers.")
    hostnames = serializers.ListField(child=serializers.CharField(), required=False, help_text="Staff only.")
    queues = serializers.DictField(
        child=QueueLivenessSerializer(), required=False, help_text="Staff only: each kind of work's queue."
    )


class HealthChecksSerializer(serializers.Serializer):
    database = DatabaseCheckSerializer()
    migrations = MigrationsCheckSerializer()
    broker = BrokerCheckSerializer()
    workers = WorkersCheckSerializer()


class HealthOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "degraded", "down"],
        help_text="down (HTTP 503): the database is unreachable or migrations are not applied. degraded: labeling "
        "works, background jobs wait (broker unreachable, or no live worker on a queue).",
    )
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Why not ok, in words.")
    checks = HealthChecksSerializer()


class HealthApi(APIView):
    """For load balancers and the UI: 200 while the web process can serve labeling (ok or degraded), 503 when it
    cannot. Details (errors, worker names) only go to staff."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = []  # probed every few seconds by every load balancer, often from one address

    def perform_authentication(self, request) -> None:
        """Lazily, in get(): with the database down, the report must still come back."""

    @extend_schema(responses={200: HealthOutputSerializer, 503: HealthOutputSerializer})
    def get(self, request):
        report = health_report()
        if not _is_staff(request):
            report["checks"] = {name: {"ok": check["ok"]} for name, check in report["checks"].items()}
        if report["status"] == "down":
            database_ok = report["checks"]["database"]["ok"]
            retry_after = MIGRATIONS_RETRY_AFTER_S if database_ok else DATABASE_RETRY_AFTER_S
            return Response(
                HealthOutputSerializer(report).data,
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(retry_after)},
            )
        return Response(HealthOutputSerializer(report).data)


def _is_staff(request) -> bool:
    try:
        return request.user.is_authenticated and request.user.is_staff
    except (DatabaseError, exceptions.APIException):  # no database to read the session from, or a bad token
        return False
