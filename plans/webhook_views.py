"""An organisation's webhooks (``plans.webhooks``), for its admins: the list with the form that adds
one, and each webhook's page with its settings, secret rotation and delivery log (with one-click
redelivery). Outsiders get 404, members who are no admins 403. A secret is shown in the answer to
the request that made it and never again (``never_cache``: ``Cache-Control: no-store``)."""

from __future__ import annotations

import uuid
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Organisation, User
from core.errors import DomainError
from core.web import domain_errors, form_errors

from . import webhooks
from .models import WebhookSubscription

WORKFLOW_CHOICES = list(webhooks.WORKFLOW_EVENTS.items())
CHANGE_CHOICES = [(name, label) for name, label in webhooks.EVENT_TYPES.items() if name not in webhooks.WORKFLOW_EVENTS]


class WebhookForm(forms.Form):
    url = forms.CharField(
        label=_("URL"),
        max_length=2000,
        help_text=_("An https address on the public internet that answers 2xx. Redirects are not followed."),
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/partnerplan/webhooks"}),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    workflow_events = forms.MultipleChoiceField(
        label=_("Workflow steps"), choices=WORKFLOW_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    change_events = forms.MultipleChoiceField(
        label=_("Changes"), choices=CHANGE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(label=_("On: send events to this URL"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    @classmethod
    def of(cls, subscription: WebhookSubscription) -> WebhookForm:
        chosen = subscription.event_types or []
        return cls(
            initial={
                "url": subscription.url,
                "description": subscription.description,
                "workflow_events": [c for c in chosen if c in webhooks.WORKFLOW_EVENTS],
                "change_events": [c for c in chosen if c not in webhooks.WORKFLOW_EVENTS],
                "is_active": subscription.is_active,
            }
        )

    def event_types(self) -> list[str]:
        return [*self.cleaned_data.get("workflow_events", []), *self.cleaned_data.get("change_events", [])]


def _list(
    request: HttpRequest, organisation: Organisation, form: WebhookForm, *, status: int = 200, **extra: Any
) -> HttpResponse:
    subscriptions = list(webhooks.subscriptions_of(organisation))
    context = {"organisation": organisation, "subscriptions": subscriptions, "form": form}
    return render(request, "webhooks/list.html", context | extra, status=status)


def _detail(
    request: HttpRequest,
    organisation: Organisation,
    subscription: WebhookSubscription,
    form: WebhookForm | None = None,
    *,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    context = {
        "organisation": organisation,
        "subscription": subscription,
        "form": form or WebhookForm.of(subscription),
        "attempts": webhooks.attempts_of(subscription),
        "pending": webhooks.pending_count(subscription),
        "log_size": webhooks.LOG_SIZE,
    }
    return render(request, "webhooks/detail.html", context | extra, status=status)


@login_required
@never_cache
@domain_errors
@require_http_methods(["GET", "POST"])
def webhook_list(request: HttpRequest, organisation_id: uuid.UUID) -> HttpResponse:
    """``settings/organisations/<id>/webhooks/``: the organisation's webhooks; POST adds one."""
    user = cast(User, request.user)
    organisation = webhooks.administered(user, organisation_id)
    if request.method != "POST":
        return _list(request, organisation, WebhookForm())
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _list(request, organisation, form, status=400)
    try:
        subscription, secret = webhooks.webhook_create(
            user=user,
            organisation_id=organisation.pk,
            url=form.cleaned_data["url"],
            description=form.cleaned_data["description"],
            event_types=form.event_types(),
        )
    except DomainError as exc:
        form_errors(form, exc)
        return _list(request, organisation, form, status=exc.status)
    return _list(request, organisation, WebhookForm(), status=201, new_subscription=subscription, new_secret=secret)


@login_required
@never_cache
@domain_errors
@require_http_methods(["GET", "POST"])
def webhook_detail(request: HttpRequest, organisation_id: uuid.UUID, subscription_id: uuid.UUID) -> HttpResponse:
    """A webhook's settings and delivery log; POST saves the settings."""
    user = cast(User, request.user)
    organisation = webhooks.administered(user, organisation_id)
    subscription = webhooks.subscription_of(organisation, subscription_id)
    if request.method != "POST":
        return _detail(request, organisation, subscription)
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _detail(request, organisation, subscription, form, status=400)
    try:
        webhooks.webhook_update(
            user=user,
            organisation_id=organisation.pk,
            subscription_id=subscription.pk,
            url=form.cleaned_data["url"],
            description=form.cleaned_data["description"],
            event_types=form.event_types(),
            is_active=form.cleaned_data["is_active"],
        )
    except DomainError as exc:
        form_errors(form, exc)
        return _detail(request, organisation, subscription, form, status=exc.status)
    messages.success(request, gettext("The webhook is saved."))
    return redirect("webhook_detail", organisation.pk, subscription.pk)


@login_required
@never_cache
@domain_errors
@require_POST
def webhook_rotate(request: HttpRequest, organisation_id: uuid.UUID, subscription_id: uuid.UUID) -> HttpResponse:
    user = cast(User, request.user)
    subscription, secret = webhooks.webhook_rotate_secret(
        user=user, organisation_id=organisation_id, subscription_id=subscription_id
    )
    return _detail(request, subscription.organisation, subscription, new_secret=secret)


@login_required
@domain_errors
@require_POST
def webhook_delete(request: HttpRequest, organisation_id: uuid.UUID, subscription_id: uuid.UUID) -> HttpResponse:
    webhooks.webhook_delete(
        user=cast(User, request.user), organisation_id=organisation_id, subscription_id=subscription_id
    )
    messages.success(request, gettext("The webhook is deleted."))
    return redirect("webhooks", organisation_id)


@login_required
@domain_errors
@require_POST
def webhook_redeliver(
    request: HttpRequest, organisation_id: uuid.UUID, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> HttpResponse:
    webhooks.delivery_redeliver(
        user=cast(User, request.user),
        organisation_id=organisation_id,
        subscription_id=subscription_id,
        delivery_id=delivery_id,
    )
    messages.success(request, gettext("The delivery is being sent again, with the same webhook-id."))
    return redirect("webhook_detail", organisation_id, subscription_id)
