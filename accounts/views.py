"""A person's own settings: profile and time zone, which reminders they get, and their API tokens.

An API token is shown once, in the answer to the request that created it (never stored in plain
text, never in a redirect or a session); afterwards only its name, hint and last use are listed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.web import HtmxHttpRequest

from .forms import timezone_choices
from .models import ApiToken, ReminderKind, User
from .services import mute, set_muted
from .unsubscribe import read_token

MAX_ACTIVE_TOKENS = getattr(settings, "MAX_ACTIVE_API_TOKENS", 25)


class ProfileForm(forms.Form):
    full_name = forms.CharField(
        label="Your name", max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    timezone = forms.ChoiceField(
        label="Your time zone", choices=timezone_choices, help_text="Dates and reminder times are shown in this zone."
    )

    def clean_full_name(self) -> str:
        full_name: str = self.cleaned_data["full_name"]
        return full_name.strip()


class NotificationsForm(forms.Form):
    """One checkbox per reminder kind: ticked means "send me these"."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for value, label in ReminderKind.choices:
            self.fields[value] = forms.BooleanField(label=label, required=False)

    @classmethod
    def for_user(cls, user: User) -> NotificationsForm:
        muted = set(user.muted_reminder_kinds or [])
        return cls(initial={value: value not in muted for value in ReminderKind.values})

    def muted_kinds(self) -> list[str]:
        return [value for value in ReminderKind.values if not self.cleaned_data.get(value)]


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=100,
        help_text="Say where it is used, e.g. “CRM sync” or “Quarterly report script”.",
    )

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name or "\x00" in name:
            raise forms.ValidationError("Give the token a name.")
        return name


def _page(request: HttpRequest, *, status: int = 200, **forms_and_extra: Any) -> HttpResponse:
    user = cast(User, request.user)  # every page of these settings is behind login_required
    context = {
        "profile_form": ProfileForm(initial={"full_name": user.full_name, "timezone": user.timezone}),
        "notifications_form": NotificationsForm.for_user(user),
        "token_form": TokenForm(),
        "tokens": list(
            ApiToken.objects.filter(user=user).filter(
                Q(revoked_at__isnull=True) | Q(revoked_at__gte=timezone.now() - dt.timedelta(days=30))
            )
        ),
        "max_tokens": MAX_ACTIVE_TOKENS,
    } | forms_and_extra
    return render(request, "settings/user.html", context, status=status)


def _back(section: str) -> HttpResponse:
    return redirect(reverse("user_settings") + f"#{section}")


@require_GET
@login_required
@never_cache
def user_settings(request: HttpRequest) -> HttpResponse:
    """``GET /settings/``: profile, notification preferences and API tokens."""
    return _page(request)


@require_POST
@login_required
def profile_save(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST)
    if not form.is_valid():
        return _page(request, profile_form=form, status=400)
    user = cast(User, request.user)
    user.full_name = form.cleaned_data["full_name"]
    user.timezone = form.cleaned_data["timezone"]
    user.save(update_fields=["full_name", "timezone"])
    messages.success(request, "Profile saved.")
    return _back("profile")


@require_POST
@login_required
def notifications_save(request: HttpRequest) -> HttpResponse:
    form = NotificationsForm(request.POST)
    if not form.is_valid():  # pragma: no cover - checkboxes cannot be invalid
        return _page(request, notifications_form=form, status=400)
    muted = set_muted(cast(User, request.user), form.muted_kinds())
    messages.success(
        request,
        "Notification preferences saved."
        + (" You will get no reminders by e-mail." if len(muted) == len(ReminderKind.values) else ""),
    )
    return _back("notifications")


@require_POST
@login_required
@never_cache
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a token and show it in this answer only: it is never shown again."""
    user = cast(User, request.user)
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, token_form=form, status=400)
    if ApiToken.objects.active().filter(user=user).count() >= MAX_ACTIVE_TOKENS:
        form.add_error(None, f"You have {MAX_ACTIVE_TOKENS} active tokens. Revoke one you no longer use first.")
        return _page(request, token_form=form, status=409)
    token, raw = ApiToken.issue(user=user, name=form.cleaned_data["name"])
    return _page(request, new_token=token, new_token_raw=raw, status=201)  # never_cache: no-store


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: uuid.UUID) -> HttpResponse:
    token = ApiToken.objects.filter(user=cast(User, request.user), pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if revoked:
        messages.success(request, f"The token “{token.name}” is revoked: programs using it are refused from now on.")
    return _back("tokens")


# --- Reminder preferences and unsubscribe -----------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HtmxHttpRequest) -> HttpResponse:
    """Which reminder kinds the signed-in person receives (a page, or a partial for htmx)."""
    user = cast(User, request.user)
    saved = False
    if request.method == "POST":
        set_muted(user, [k for k in ReminderKind.values if k not in request.POST.getlist("receive")])
        saved = True
    muted = set(user.muted_reminder_kinds or [])
    kinds = [{"value": value, "label": label, "on": value not in muted} for value, label in ReminderKind.choices]
    template = "reminders/_preferences_form.html" if request.htmx else "reminders/preferences.html"
    return render(request, template, {"kinds": kinds, "saved": saved})


@csrf_exempt  # RFC 8058: the mail client POSTs without a session; the signed token is the authority
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation (mail scanners prefetch links); POST mutes that kind."""
    try:
        user, kind = read_token(token)
    except signing.BadSignature:
        return render(request, "reminders/unsubscribe_invalid.html", status=400)
    done = request.method == "POST"
    if done:
        mute(user, [kind])
    return render(
        request,
        "reminders/unsubscribe.html",
        {
            "kind": kind,
            "kind_label": ReminderKind(kind).label,
            "done": done,
            "email": user.email,
            "action": reverse("reviews:unsubscribe", args=[token]),
        },
    )
