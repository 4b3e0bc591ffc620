from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from active_learning.api.urls import urlpatterns as learning_api
from annotation.api.urls import urlpatterns as annotation_api
from core.api.urls import urlpatterns as core_api
from core.middleware import content_security_policy
from integrations.api.urls import urlpatterns as integrations_api

# The API docs are third-party pages with inline styles (and, for ReDoc, an inline script and a worker); they
# show only the schema, never user data, so they alone may run inline code.
_DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_docs = content_security_policy(_DOCS_POLICY)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include((core_api + annotation_api + learning_api + integrations_api, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/docs/", _docs(SpectacularSwaggerSplitView.as_view(url_name="openapi-schema")), name="api-docs"),
    path("api/redoc/", _docs(SpectacularRedocView.as_view(url_name="openapi-schema")), name="api-redoc"),
    path("", include("frontend.urls")),
]

handler404 = "frontend.views.page_not_found"
handler403 = "frontend.views.permission_denied"
handler500 = "core.middleware.server_error"
