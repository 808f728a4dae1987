"""Browser pages for invitations: the link a person receives, and the admins' management page.

The link page (GET) only shows the invitation: mail scanners prefetch links, so nothing changes
until the person POSTs. Every state of a bad link (unknown, expired, revoked, used) gets the same
neutral page and status, and both the page and the accept are rate-limited per IP address.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from accounts.models import User
from core.errors import DomainError, NotFound, RateLimited
from core.web import domain_errors, form_errors, login_url, refused

from . import invitations as service
from .access import resolve
from .models import Invitation, Role, Side

# Guesses per IP address and minute on the link pages (GET and POST share the budget).
LINK_RATE = getattr(settings, "INVITATION_LINK_RATE", "20/m")


def _rate_limited(request: HttpRequest) -> HttpResponse | None:
    if is_ratelimited(request, group="invitation-link", key="ip", rate=LINK_RATE, increment=True):
        error = RateLimited("Too many attempts from your network. Wait a minute and open the link again.")
        return refused(request, error, title="Slow down")
    return None


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, "invitations/invalid.html", {"message": service.INVALID_LINK}, status=404)


class NewPersonForm(forms.Form):
    full_name = forms.CharField(label="Your name", max_length=150)
    password = forms.CharField(
        label="Choose a password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        max_length=128,
        help_text="At least 10 characters, not a common password.",
    )
    password_again = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), max_length=128
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


def _page_context(request: HttpRequest, invitation: Invitation, token: str) -> dict[str, Any]:
    user = request.user
    signed_in = bool(user.is_authenticated)
    matches = signed_in and user.email.lower() == invitation.email.lower()  # type: ignore[union-attr]
    has_account = matches or (not signed_in and User.objects.filter(email__iexact=invitation.email).exists())
    p = invitation.partnership
    return {
        "invitation": invitation,
        "partnership": p,
        "token": token,
        "inviter_name": invitation.invited_by.display_name
        if invitation.invited_by
        else p.organisation_for(invitation.side).name,
        "side_organisation": p.organisation_for(invitation.side).name,
        "abilities": service.ROLE_ABILITIES[Role(invitation.role)],
        "signed_in": signed_in,
        "matches": matches,
        "has_account": has_account,
        "login_url": login_url(reverse("invitation", args=[token])),
    }


@require_GET
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """Who invited you, to which plan, and what you will be able to do. Changes nothing."""
    limited = _rate_limited(request)
    if limited:
        return limited
    try:
        invitation = service.find_usable(token)
    except NotFound:
        return _invalid_link(request)
    context = _page_context(request, invitation, token)
    context["form"] = NewPersonForm()
    return render(request, "invitations/invitation.html", context)


@require_POST
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Accept: a signed-in person with the invited address joins; a new person sets a name and a
    password, and their account is created for the invited address."""
    limited = _rate_limited(request)
    if limited:
        return limited
    try:
        invitation = service.find_usable(token)
    except NotFound:
        return _invalid_link(request)
    form = None
    try:
        if request.user.is_authenticated:
            member = service.invitation_accept(raw_token=token, user=request.user)
        else:
            if User.objects.filter(email__iexact=invitation.email).exists():
                return redirect(login_url(reverse("invitation", args=[token])))
            form = NewPersonForm(request.POST)
            if not form.is_valid():
                context = _page_context(request, invitation, token) | {"form": form}
                return render(request, "invitations/invitation.html", context, status=400)
            member = service.invitation_accept_as_new_person(
                raw_token=token, full_name=form.cleaned_data["full_name"], password=form.cleaned_data["password"]
            )
            login(request, member.user, backend="django.contrib.auth.backends.ModelBackend")
    except NotFound:
        return _invalid_link(request)
    except DomainError as error:
        if form is not None and error.fields:
            form_errors(form, error)
            context = _page_context(request, invitation, token) | {"form": form}
            return render(request, "invitations/invitation.html", context, status=error.status)
        return refused(request, error)
    messages.success(request, f"Welcome to {member.partnership.name}. Here is what waits for your side.")
    return redirect("goal-review-queue", partnership_id=member.partnership_id)


# --- Management (organisation admins) ---------------------------------------------------------


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254)
    side = forms.ChoiceField(label="Side", choices=Side.choices)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.APPROVER)
    message = forms.CharField(
        label="Personal message (optional)", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, sides: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["side"].choices = [(s, Side(s).label) for s in sides]  # type: ignore[attr-defined]
        self.fields["side"].initial = sides[-1] if sides else None


def _manage_url(partnership_id: Any) -> str:
    return reverse("invitations-manage", args=[partnership_id])


@domain_errors
@require_http_methods(["GET", "POST"])
def invitations_manage(request: HttpRequest, partnership_id: Any) -> HttpResponse:
    """The invitations of a partnership with their state, and the form to invite someone."""
    if not request.user.is_authenticated:
        return redirect(login_url(request.get_full_path()))
    access = resolve(request.user, partnership_id)
    access.require_manage("manage invitations")
    sides = service.invitable_sides(access)
    status = 200
    if request.method == "POST":
        form = InviteForm(request.POST, sides=sides)
        if form.is_valid():
            try:
                invitation, _raw = service.invitation_create(access=access, **form.cleaned_data)
            except DomainError as error:
                if error.status in (403, 404):
                    raise
                form_errors(form, error)
                status = error.status
            else:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect(_manage_url(access.partnership.pk))
        else:
            status = 400
    else:
        form = InviteForm(sides=sides)
    invitations = list(
        Invitation.objects.filter(partnership=access.partnership).select_related("invited_by", "accepted_by")
    )
    return render(
        request,
        "invitations/manage.html",
        {
            "access": access,
            "partnership": access.partnership,
            "form": form,
            "invitations": invitations,
            "ttl_days": settings.INVITATION_TTL_DAYS,
        },
        status=status,
    )


@domain_errors
@require_POST
def invitation_resend(request: HttpRequest, partnership_id: Any, invitation_id: Any) -> HttpResponse:
    access = resolve(request.user, partnership_id)
    invitation, _raw = service.invitation_resend(access=access, invitation_id=invitation_id)
    messages.success(request, f"A new link was sent to {invitation.email}; the previous one no longer works.")
    return redirect(_manage_url(access.partnership.pk))


@domain_errors
@require_POST
def invitation_revoke(request: HttpRequest, partnership_id: Any, invitation_id: Any) -> HttpResponse:
    access = resolve(request.user, partnership_id)
    invitation = service.invitation_revoke(access=access, invitation_id=invitation_id)
    messages.success(request, f"The invitation of {invitation.email} was revoked.")
    return redirect(_manage_url(access.partnership.pk))
