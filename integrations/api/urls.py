from django.urls import path

from integrations.api import views

project = "projects/<id:project_id>/"
hook = project + "webhooks/<id:webhook_id>/"
urlpatterns = [
    path(project + "webhooks/", views.WebhookListApi.as_view(), name="webhook-list"),
    path(hook, views.WebhookDetailApi.as_view(), name="webhook-detail"),
    path(hook + "test/", views.WebhookTestApi.as_view(), name="webhook-test"),
    path(hook + "deliveries/", views.DeliveryListApi.as_view(), name="webhook-deliveries"),
]
