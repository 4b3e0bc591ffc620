from django.urls import path

from core.api import views

urlpatterns = [
    path("me/", views.MeApi.as_view(), name="me"),
    path("users/", views.UserListApi.as_view(), name="user-list"),
    path("tokens/", views.ApiTokenListApi.as_view(), name="token-list"),
    path("tokens/<id:token_id>/", views.ApiTokenDetailApi.as_view(), name="token-detail"),
    path("health/", views.HealthApi.as_view(), name="health"),
]
