"""The API's URLs. Every path answers with and without a trailing slash, for every method, and
never redirects (a redirect turns a client's POST into a GET)."""

from __future__ import annotations

from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import permissions
from rest_framework.request import Request

from core.errors import NotFound

from .resources import ALL
from .schema import ApiSchemaGenerator
from .views.account import Me, TokenCreate, TokenList, TokenRevoke
from .views.actions import ACTIONS
from .views.balance import PartnershipBalance
from .views.base import ApiView
from .views.changes import ChangesView
from .views.imports import CheckInsBulk
from .views.plan import PlanView
from .views.pulse import ReviewPulse
from .views.resources import views_for
from .views.templates import (
    TemplateApply,
    TemplateClone,
    TemplateCustomise,
    TemplateDetail,
    TemplateList,
    TemplateSave,
)

ID = r"(?P<pk>[^/]+)"


def route(path: str, view: object, name: str) -> object:
    return re_path(rf"^{path}/?$", view.as_view(), name=name)  # type: ignore[attr-defined]


class NoSuchEndpoint(ApiView):
    """Anything else under /api/: a JSON 404, never an HTML page."""

    permission_classes = [permissions.AllowAny]
    schema = None

    def _missing(self, request: Request, *args: object, **kwargs: object) -> None:
        raise NotFound("No such API endpoint. The API lives under /api/v1/; see /api/docs/.")

    get = post = put = patch = delete = _missing


urlpatterns = [
    re_path(r"^schema/?$", SpectacularAPIView.as_view(generator_class=ApiSchemaGenerator), name="api-schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    route("v1/auth/token", TokenCreate, "api-token"),
    route("v1/auth/tokens", TokenList, "api-tokens"),
    route(f"v1/auth/tokens/{ID}/revoke", TokenRevoke, "api-token-revoke"),
    route("v1/me", Me, "api-me"),
    route("v1/changes", ChangesView, "api-changes"),
    route(f"v1/partnerships/{ID}/plan", PlanView, "api-plan"),
    route(f"v1/partnerships/{ID}/check-ins/bulk", CheckInsBulk, "api-check-ins-bulk"),
    route(f"v1/partnerships/{ID}/balance", PartnershipBalance, "api-partnership-balance"),
    route(f"v1/reviews/{ID}/pulse", ReviewPulse, "api-review-pulse"),
    route("v1/templates", TemplateList, "api-templates"),
    route(f"v1/templates/{ID}", TemplateDetail, "api-template"),
    route(f"v1/templates/{ID}/customise", TemplateCustomise, "api-template-customise"),
    route(f"v1/partnerships/{ID}/apply-template", TemplateApply, "api-apply-template"),
    route(f"v1/partnerships/{ID}/save-template", TemplateSave, "api-save-template"),
    route(f"v1/partnerships/{ID}/clone-structure", TemplateClone, "api-clone-structure"),
]
for resource in ALL:
    list_view, detail_view = views_for(resource)
    urlpatterns += [
        route(f"v1/{resource.name}", list_view, f"api-{resource.name}"),
        route(f"v1/{resource.name}/{ID}", detail_view, f"api-{resource.name}-detail"),
    ]
for (resource_name, action_name), action_view in ACTIONS.items():
    urlpatterns.append(
        route(f"v1/{resource_name}/{ID}/{action_name}", action_view, f"api-{resource_name}-{action_name}")
    )
urlpatterns.append(re_path(r"^", NoSuchEndpoint.as_view()))
