from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Invitation, Membership
from core.models import User
from tests.factories import PASSWORD, Role, UserFactory, add_member, make_project
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager():
    return UserFactory(username="boss", is_staff=True)


@pytest.fixture
def project(manager):
    return make_project(owner=manager)


def invite(manager, project, email="ann@example.com", role="annotator"):
    response = client_for(manager).post(
        f"/api/v1/projects/{project.id}/invitations/", {"email": email, "role": role}, format="json"
    )
    assert response.status_code == 201, response.data
    return response.data


def test_manager_adds_existing_user_with_a_role(manager, project):
    UserFactory(username="ann")
    response = client_for(manager).post(
        f"/api/v1/projects/{project.id}/members/", {"username": "ANN", "role": "reviewer"}, format="json"
    )
    assert response.status_code == 201
    assert Membership.objects.get(project=project, user__username="ann").role == "reviewer"


def test_adding_unknown_or_existing_member_is_a_clear_error(manager, project):
    url = f"/api/v1/projects/{project.id}/members/"
    assert client_for(manager).post(url, {"username": "nobody", "role": "annotator"}).status_code == 404
    assert client_for(manager).post(url, {"username": "boss", "role": "annotator"}).status_code == 409
    assert client_for(manager).post(url, {"username": "boss", "role": "king"}).data["role"]


def test_last_manager_cannot_leave_or_be_demoted(manager, project):
    url = f"/api/v1/projects/{project.id}/members/{manager.id}/"
    assert client_for(manager).patch(url, {"role": "annotator"}).status_code == 409
    assert client_for(manager).delete(url).status_code == 409
    second = UserFactory()
    add_member(project, second, Role.MANAGER)
    assert client_for(manager).patch(url, {"role": "annotator"}).status_code == 200


def test_invitation_key_is_shown_once_and_stored_as_digest(manager, project):
    data = invite(manager, project)
    assert data["accept_url"].endswith(f"/invitations/{data['key']}/")
    assert not Invitation.objects.filter(digest=data["key"]).exists()
    assert "key" not in client_for(manager).get(f"/api/v1/projects/{project.id}/invitations/").data[0]


def test_anonymous_accepts_invitation_as_new_user(manager, project):
    key = invite(manager, project)["key"]
    response = client_for(None).post(
        "/api/v1/invitations/accept/", {"key": key, "username": "ann", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.data
    user = User.objects.get(username="ann")
    assert user.email == "ann@example.com"
    assert user.check_password(PASSWORD)
    assert Membership.objects.get(project=project, user=user).role == "annotator"


def test_logged_in_user_accepts_invitation_as_themselves(manager, project):
    someone = UserFactory()
    key = invite(manager, project, email=someone.email, role="reviewer")["key"]
    response = client_for(someone).post("/api/v1/invitations/accept/", {"key": key}, format="json")
    assert response.status_code == 201
    assert Membership.objects.get(project=project, user=someone).role == "reviewer"


@pytest.mark.parametrize(
    ("spoil", "status"),
    [
        (lambda inv: Invitation.objects.filter(id=inv).update(expires_at=timezone.now() - timedelta(seconds=1)), 409),
        (lambda inv: Invitation.objects.filter(id=inv).update(accepted_at=timezone.now()), 409),
        (lambda inv: Invitation.objects.filter(id=inv).update(revoked_at=timezone.now()), 404),
    ],
    ids=["expired", "used", "revoked"],
)
def test_spoiled_invitation_is_refused_and_creates_no_user(manager, project, spoil, status):
    data = invite(manager, project)
    spoil(data["invitation"]["id"])
    response = client_for(None).post(
        "/api/v1/invitations/accept/", {"key": data["key"], "username": "ann", "password": PASSWORD}, format="json"
    )
    assert response.status_code == status
    assert not User.objects.filter(username="ann").exists()


def test_weak_password_on_accept_is_a_400_and_invitation_stays_open(manager, project):
    data = invite(manager, project)
    response = client_for(None).post(
        "/api/v1/invitations/accept/", {"key": data["key"], "username": "ann", "password": "123"}, format="json"
    )
    assert response.status_code == 400
    assert Invitation.objects.get(id=data["invitation"]["id"]).accepted_at is None


def test_there_is_no_open_sign_up():
    response = client_for(None).post("/api/v1/users/", {"username": "me", "password": PASSWORD}, format="json")
    assert response.status_code == 401
    assert not User.objects.filter(username="me").exists()


def test_admin_creates_users_and_weak_passwords_are_refused():
    admin = UserFactory(is_staff=True)
    ok = client_for(admin).post("/api/v1/users/", {"username": "ann", "password": PASSWORD}, format="json")
    weak = client_for(admin).post("/api/v1/users/", {"username": "bob", "password": "password"}, format="json")
    taken = client_for(admin).post("/api/v1/users/", {"username": "ANN", "password": PASSWORD}, format="json")
    non_admin = client_for(UserFactory()).post("/api/v1/users/", {"username": "eve", "password": PASSWORD})

    assert ok.status_code == 201
    assert "password" not in ok.data
    assert weak.status_code == 400
    assert not User.objects.filter(username="bob").exists()
    assert taken.status_code == 409
    assert non_admin.status_code == 403
