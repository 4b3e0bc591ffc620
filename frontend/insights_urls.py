"""Dashboard and strategy pages."""

from django.urls import path

from frontend import insights

project = "projects/<int:project_id>/"
urlpatterns = [
    path(project + "dashboard/", insights.dashboard, name="insights-dashboard"),
    path(project + "dashboard/items/<int:item_id>/", insights.item, name="insights-item"),
    path(project + "strategy/", insights.strategy, name="insights-strategy"),
]
