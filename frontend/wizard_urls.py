"""Project setup pages (the wizard)."""

from django.urls import path

from frontend import wizard

setup = "projects/<id:project_id>/setup/"
urlpatterns = [
    path("projects/new/", wizard.create, name="wizard-create"),
    path(setup, wizard.details, name="wizard-details"),
    path(setup + "upload/", wizard.upload, name="wizard-upload"),
    path(setup + "labels/", wizard.labels, name="wizard-labels"),
    path(setup + "members/", wizard.members, name="wizard-members"),
    path(setup + "ready/", wizard.ready, name="wizard-ready"),
]
