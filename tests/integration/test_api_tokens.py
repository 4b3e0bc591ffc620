from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiToken
from tests.factories import UserFactory
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_token_key_is_shown_once_and_authenticates_scripts():
    user = UserFactory()
    created = client_for(user).post("/api/v1/tokens/", {"name": "nightly export"}, format="json")

    assert created.status_code == 201
    key = created.data["key"]
    assert bearer(key).get("/api/v1/me/").data["username"] == user.username
    listed = client_for(user).get("/api/v1/tokens/").data
    assert [t["name"] for t in listed] == ["nightly export"]
    assert all("key" not in t and "digest" not in t for t in listed)
    assert key not in str(ApiToken.objects.values_list("digest", "prefix"))
    assert ApiToken.objects.get().last_used_at is not None


def test_revoked_token_stops_working():
    user = UserFactory()
    created = client_for(user).post("/api/v1/tokens/", {"name": "ci"}, format="json").data
    assert client_for(user).delete(f"/api/v1/tokens/{created['token']['id']}/").status_code == 204
    response = bearer(created["key"]).get("/api/v1/me/")
    assert response.status_code == 401
    assert "revoked" in response.data["detail"]


def test_expired_or_garbage_token_is_401():
    user = UserFactory()
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    key = client_for(user).post("/api/v1/tokens/", {"name": "old", "expires_at": past}, format="json").data["key"]
    assert bearer(key).get("/api/v1/me/").status_code == 401
    assert bearer("loupe_nonsense").get("/api/v1/me/").status_code == 401


def test_users_cannot_see_or_revoke_each_others_tokens():
    alice, bob = UserFactory(), UserFactory()
    token_id = client_for(alice).post("/api/v1/tokens/", {"name": "mine"}, format="json").data["token"]["id"]
    assert client_for(bob).get("/api/v1/tokens/").data == []
    assert client_for(bob).delete(f"/api/v1/tokens/{token_id}/").status_code == 404
    assert ApiToken.objects.get(id=token_id).revoked_at is None
