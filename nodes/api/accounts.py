"""Users, API keys and SSH keys API: admins manage users; everyone manages their own keys."""
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from maasproject.api.fields import NameField
from maasproject.api.permissions import IsAdmin
from maasproject.api.schema import ErrorSerializer
from maasproject.permissions import is_admin
from nodes.models import ApiKey, SSHKey
from nodes.selectors import ssh_keys_visible_to
from nodes.services import accounts

User = get_user_model()


class UserSerializer(serializers.ModelSerializer):
    """A user with MAAS field names; the password is write-only (required on create)."""

    password = serializers.CharField(write_only=True, style={"input_type": "password"})

    class Meta:
        model = User
        fields = ["username", "email", "is_superuser", "is_active", "date_joined", "password"]
        read_only_fields = ["date_joined"]

    def validate_password(self, value: str) -> str:
        data = self.initial_data
        user = self.instance or User(username=data.get("username", ""), email=data.get("email", ""))
        try:
            validate_password(value, user=user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


class ApiKeySerializer(serializers.ModelSerializer):
    """An API key as listed: never its secret nor the secret's hash."""

    name = NameField(max_length=256, required=False, allow_blank=True)

    class Meta:
        model = ApiKey
        fields = ["name", "consumer_key", "token_key", "created", "last_used"]
        read_only_fields = ["consumer_key", "token_key", "created", "last_used"]


class NewApiKeySerializer(ApiKeySerializer):
    """A just-created API key, with the full `consumer:token:secret` shown this once."""

    key = serializers.CharField(read_only=True)

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class UserViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet,
):
    """Users: admins list, create, change and delete; any user reads itself."""

    serializer_class = UserSerializer
    lookup_field = "username"
    lookup_value_regex = r"[\w.@+-]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return User.objects.order_by("username")

    def get_permissions(self):
        if self.action in ("retrieve", "whoami"):
            return super().get_permissions()
        return [IsAdmin()]

    def get_object(self):
        user = super().get_object()
        if user.pk != self.request.user.pk and not is_admin(self.request.user):
            raise PermissionDenied("You can only read your own user.")
        return user

    def perform_create(self, serializer):
        serializer.instance = accounts.user_create(self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = accounts.user_update(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        accounts.user_delete(self.request.user, instance)

    @action(detail=False, methods=["get"])
    def whoami(self, request):
        """The authenticated user."""
        return Response(UserSerializer(request.user).data)


# ?username= on /account/api-keys/: an admin manages another user's keys.
OWNER = OpenApiParameter("username", str, required=False,
                         description="Another user's keys (administrators only).")
NO_SUCH_OWNER = OpenApiResponse(ErrorSerializer, description="No user with this username.")


class ApiKeyViewSet(
    mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """API keys of a user: your own, or (admins) anyone's via `?username=` or /users/{u}/."""

    serializer_class = ApiKeySerializer
    lookup_field = "token_key"
    lookup_value_regex = r"[\w-]+"

    def get_owner(self):
        username = self.kwargs.get("username") or self.request.query_params.get("username")
        if not username or username == self.request.user.username:
            return self.request.user
        if not is_admin(self.request.user):
            raise PermissionDenied("Only administrators can manage other users' API keys.")
        return get_object_or_404(User, username=username)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ApiKey.objects.none()
        return ApiKey.objects.filter(user=self.get_owner()).select_related("user")

    @extend_schema(parameters=[OWNER], responses={200: ApiKeySerializer(many=True),
                                                  404: NO_SUCH_OWNER})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ApiKeySerializer, parameters=[OWNER],
                   responses={201: NewApiKeySerializer, 404: NO_SUCH_OWNER})
    def create(self, request, *args, **kwargs):
        """Create an API key; the response's `key` is the only time the secret is shown."""
        params = ApiKeySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        key, full = accounts.apikey_create(
            self.get_owner(), params.validated_data.get("name", ""), actor=request.user
        )
        key.key = full
        return Response(NewApiKeySerializer(key).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        accounts.apikey_revoke(instance, actor=self.request.user)


class SSHKeySerializer(serializers.ModelSerializer):
    """An SSH public key; type, comment and fingerprint are read from the key."""

    username = serializers.CharField(source="user.username", read_only=True)
    type = serializers.CharField(source="key_type", read_only=True)
    comment = serializers.CharField(read_only=True)
    fingerprint = serializers.CharField(read_only=True)

    class Meta:
        model = SSHKey
        fields = ["id", "key", "type", "comment", "fingerprint", "username", "created"]
        read_only_fields = ["id", "created"]
        # Uniqueness is the service's (by key material, whatever the comment).
        validators = []


class SSHKeyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """SSH keys: your own (admins see everyone's; `?username=` filters); rescue mode and
    deployed machines get their owner's keys."""

    serializer_class = SSHKeySerializer

    def get_queryset(self):
        queryset = ssh_keys_visible_to(self.request.user)
        username = self.request.query_params.get("username")
        return queryset.filter(user__username=username) if username else queryset

    @extend_schema(request=SSHKeySerializer, responses={201: SSHKeySerializer})
    def create(self, request, *args, **kwargs):
        """Add an SSH public key (`key`: an OpenSSH public key line) to your account."""
        params = SSHKeySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        ssh_key = accounts.sshkey_create(request.user, params.validated_data["key"],
                                         actor=request.user)
        return Response(SSHKeySerializer(ssh_key).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        accounts.sshkey_delete(instance, actor=self.request.user)


router = SimpleRouter(trailing_slash=True)
router.register("users", UserViewSet, basename="user")
router.register("account/api-keys", ApiKeyViewSet, basename="apikey")
router.register("account/ssh-keys", SSHKeyViewSet, basename="sshkey")

urlpatterns = [
    *router.urls,
    path(
        "users/<str:username>/api-keys/",
        ApiKeyViewSet.as_view({"get": "list", "post": "create"}),
        name="user-apikey-list",
    ),
    path(
        "users/<str:username>/api-keys/<str:token_key>/",
        ApiKeyViewSet.as_view({"delete": "destroy"}),
        name="user-apikey-detail",
    ),
]
