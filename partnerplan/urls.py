from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("", include("alignment.health_urls")),
    path("", include("goals.export_urls")),
    path("", include("alignment.settings_urls")),
    path("settings/", include("accounts.urls")),
    path("accounts/", include("accounts.auth_urls")),
    path("", include("alignment.urls")),
    path("", include("goals.urls")),
    path("invite/", include("alignment.invite_urls")),
    path("p/<uuid:partnership_id>/review/", include("goals.review_urls")),
    path("", include("alignment.review_urls")),
]
