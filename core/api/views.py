from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

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


class HealthApi(APIView):
    """For load balancers and the UI: 200 while the web process can serve, 503 when it cannot.
    Details (errors, worker names) only go to staff."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = []  # probed every few seconds by every load balancer, often from one address

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        report = health_report()
        if not (request.user.is_authenticated and request.user.is_staff):
            report["checks"] = {name: {"ok": check["ok"]} for name, check in report["checks"].items()}
        code = status.HTTP_503_SERVICE_UNAVAILABLE if report["status"] == "down" else status.HTTP_200_OK
        return Response(report, status=code)
