from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from active_learning.api.urls import urlpatterns as learning_api
from annotation.api.urls import urlpatterns as annotation_api
from core.api.urls import urlpatterns as core_api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include((core_api + annotation_api + learning_api, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="openapi-schema"), name="api-redoc"),
    path("", include("frontend.urls")),
]

handler404 = "frontend.views.page_not_found"
handler403 = "frontend.views.permission_denied"
handler500 = "core.middleware.server_error"
