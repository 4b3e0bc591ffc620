from django.contrib.auth import views as auth_views
from django.urls import include, path

from core.forms import SignInForm
from frontend import views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="frontend/login.html", authentication_form=SignInForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("invitations/<str:key>/", views.invitation_accept, name="invitation-accept"),
    path("tokens/", views.tokens, name="tokens"),
    path("projects/<id:project_id>/label/", views.labeling, name="labeling"),
    path("projects/<id:project_id>/review/", views.review, name="review"),
    path("projects/<id:project_id>/export/", views.export, name="export"),
    path("projects/<id:project_id>/items/", views.items, name="items"),
    path("projects/<id:project_id>/items/<id:item_id>/", views.item, name="item"),
    path("", include("frontend.wizard_urls")),
    path("", include("frontend.insights_urls")),
]
