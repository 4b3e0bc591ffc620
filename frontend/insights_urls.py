"""Dashboard and strategy pages."""

from django.urls import path

from frontend import insights

project = "projects/<id:project_id>/"
urlpatterns = [
    path(project + "dashboard/", insights.dashboard, name="insights-dashboard"),
    path(project + "dashboard/items/<id:item_id>/", insights.item, name="insights-item"),
    path(project + "strategy/", insights.strategy, name="insights-strategy"),
    path(project + "webhooks/<id:webhook_id>/test/", insights.webhook_test, name="insights-webhook-test"),
]
