from django.urls import path

from annotation.api import views

project = "projects/<int:project_id>/"
urlpatterns = [
    path("projects/", views.ProjectListApi.as_view(), name="project-list"),
    path(project, views.ProjectDetailApi.as_view(), name="project-detail"),
    path(project + "members/", views.MembershipListApi.as_view(), name="member-list"),
    path(project + "members/<int:user_id>/", views.MembershipDetailApi.as_view(), name="member-detail"),
    path(project + "invitations/", views.InvitationListApi.as_view(), name="invitation-list"),
    path(project + "invitations/<int:invitation_id>/", views.InvitationDetailApi.as_view(), name="invitation-detail"),
    path("invitations/accept/", views.InvitationAcceptApi.as_view(), name="invitation-accept"),
    path(project + "schema/", views.SchemaApi.as_view(), name="schema"),
    path(project + "schema/changes/", views.SchemaChangeListApi.as_view(), name="schema-change-list"),
    path(project + "labels/", views.LabelListApi.as_view(), name="label-list"),
    path(project + "items/", views.ItemListApi.as_view(), name="item-list"),
    path(project + "items/<int:item_id>/", views.ItemDetailApi.as_view(), name="item-detail"),
    path(project + "items/<int:item_id>/image/", views.ItemImageApi.as_view(), name="item-image"),
]
