from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from accounts import reminder_urls as accounts_reminder_urls
from cadence import calendar_views
from cadence import review_urls as cadence_review_urls
from core import csp
from goals import action_views as goal_action_views


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("csp-report/", csp.csp_report, name="csp_report"),
    # A person's calendar subscription: the token in the path is the authority (no session).
    path("calendar/<str:token>.ics", calendar_views.calendar_feed, name="calendar_feed"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("", include("cadence.health_urls")),
    path("", include("plans.export_urls")),
    path("", include("alignment.settings_urls")),
    path("settings/organisations/<uuid:organisation_id>/webhooks/", include("plans.webhook_urls")),
    path("p/<uuid:pid>/chat/", include("plans.chat_urls")),
    path("settings/", include("accounts.urls")),
    path("audit/", include("plans.audit_urls")),
    path("accounts/", include("accounts.auth_urls")),
    path("", include("plans.urls")),
    path("", include("goals.urls")),
    path("invite/", include("alignment.invite_urls")),
    # Action links in e-mails (goals.actions): short, and their token is redacted from logs.
    path("a/<str:token>/", goal_action_views.action_page, name="action-link"),
    path("a/<str:token>/done/", goal_action_views.action_done, name="action-link-done"),
    path("p/<uuid:partnership_id>/review/", include("goals.review_urls")),
    # Replies by e-mail from hosted providers (django-anymail's inbound webhooks, each provider's proof checked).
    path("inbound/anymail/", include("plans.reply_inbound")),
    # One namespace, "reviews", for the review pages and the reminder preferences and unsubscribe
    # pages that e-mails link to (their names and paths predate the split into apps).
    path("", include((cadence_review_urls.urlpatterns + accounts_reminder_urls.urlpatterns, "reviews"))),
]
