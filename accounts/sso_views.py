"""The pages of single sign-on (``accounts.sso`` holds the rules and the flow).

- ``login/sso/``: the e-mail form ("Sign in with your company's identity provider"); the sign-in
  page's second button posts here too. A known domain goes on to its organisation's provider.
- ``login/sso/callback/``: the provider sends the person back here; a refusal is a page that says
  why, and signs nobody in.
- ``settings/organisations/<id>/sso/``: an organisation admin's provider, domains and rule.

The two sign-in pages allow forms to lead to any https:// address (``form-action``): the redirect
that answers the form goes to the organisation's provider, and browsers apply the page's
``form-action`` to a form's redirects too.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from csp.decorators import csp_update
from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from core.errors import DomainError, RuleViolation
from core.web import domain_errors, form_errors

from . import sso, two_factor
from .models import IdentityProvider, Organisation, OrganisationDomain, User

# Per client address, like the password sign-in (``auth_views.AUTH_RATE``).
START_RATE = "20/m"
SSO_FORM_ACTION = {"form-action": ["https:"]}


class _Form(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class SsoEmailForm(_Form):
    email = forms.EmailField(
        label=_("Your work e-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
        help_text=_("We send you to your company's identity provider to sign in."),
    )


def _safe_next(request: HttpRequest, value: str) -> str:
    ok = url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return value if value and ok else ""


@csp_update(SSO_FORM_ACTION)
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def sso_start(request: HttpRequest) -> HttpResponse:
    """The e-mail form; a domain with single sign-on goes on to its provider."""
    source = request.POST if request.method == "POST" else request.GET
    email = str(source.get("email") or source.get("username") or "").strip()
    next_url = _safe_next(request, str(source.get("next") or ""))
    form = SsoEmailForm({"email": email} if email else None, initial={"email": email})
    status = 200
    if request.method == "POST" and email:
        if is_ratelimited(request, group="sso-start", key="ip", rate=START_RATE, increment=True):
            form.add_error(None, gettext("Too many attempts from your network. Wait a minute and try again."))
            return _start_page(request, form, next_url, status=429)
        if form.is_valid():
            try:
                return redirect(sso.begin(session=request.session, email=form.cleaned_data["email"], next_url=next_url))
            except DomainError as exc:
                form_errors(form, exc)
                status = exc.status
        else:
            status = 400
    elif request.method == "GET":
        form = SsoEmailForm(initial={"email": email})
    return _start_page(request, form, next_url, status=status)


def _start_page(request: HttpRequest, form: SsoEmailForm, next_url: str, *, status: int) -> HttpResponse:
    return render(request, "registration/sso_start.html", {"form": form, "next": next_url}, status=status)


@never_cache
@require_GET
def sso_callback(request: HttpRequest) -> HttpResponse:
    """Where providers send people back: verify, sign in, go on (or a page that says why not)."""
    try:
        signed_in = sso.complete(session=request.session, params=request.GET.dict())
    except DomainError as exc:
        return render(
            request, "registration/sso_refused.html", {"message": exc.message, "code": exc.code}, status=exc.status
        )
    login(request, signed_in.user, backend="accounts.backends.AccountBackend")
    # The organisation's provider is the second factor: the middleware asks no code of this session.
    request.session[two_factor.VERIFIED] = True
    request.session[sso.SIGNED_IN_WITH] = str(signed_in.organisation.pk)
    if signed_in.created:
        messages.success(
            request,
            gettext("Welcome to Partnerplan: you signed in with %(organisation)s.")
            % {"organisation": signed_in.organisation.name},
        )
    return redirect(signed_in.next_url or "dashboard")


# --- Settings of an organisation's single sign-on ---------------------------------------------------


class ProviderForm(_Form):
    issuer = forms.CharField(
        label=_("Issuer URL"),
        max_length=300,
        widget=forms.URLInput(attrs={"placeholder": "https://login.example.com", "spellcheck": "false"}),
        help_text=_("Partnerplan reads the provider's settings from /.well-known/openid-configuration under it."),
    )
    client_id = forms.CharField(
        label=_("Client ID"), max_length=200, widget=forms.TextInput(attrs={"spellcheck": "false"})
    )
    client_secret = forms.CharField(
        label=_("Client secret"),
        max_length=500,
        required=False,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    enabled = forms.BooleanField(label=_("Sign in with this provider"), required=False)
    require_sso = forms.BooleanField(
        label=_("Require single sign-on for addresses at our domains"),
        required=False,
        help_text=_("Password sign-in is refused to them; they sign in with the provider only."),
    )

    def __init__(self, *args: Any, has_secret: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["client_secret"].help_text = (
            _("A secret is set. Leave this blank to keep it, or enter a new one to replace it.")
            if has_secret
            else _(
                "Shown by your provider when you registered Partnerplan. It is stored encrypted and never shown again."
            )
        )


class DomainForm(_Form):
    domain = forms.CharField(
        label=_("Domain"),
        max_length=253,
        widget=forms.TextInput(attrs={"placeholder": "example.com", "spellcheck": "false", "autocomplete": "off"}),
    )


def _provider_form_initial(provider: IdentityProvider | None) -> dict[str, Any]:
    if provider is None:
        return {}
    return {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "enabled": provider.enabled,
        "require_sso": provider.require_sso,
    }


def _settings_page(
    request: HttpRequest,
    organisation: Organisation,
    *,
    form: ProviderForm | None = None,
    domain_form: DomainForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = cast(User, request.user)
    provider = IdentityProvider.objects.filter(organisation=organisation).first()
    domains = list(OrganisationDomain.objects.filter(organisation=organisation))
    own = sso.domain_of(user.email)
    own_claimable = bool(own) and own not in sso.PUBLIC_MAIL_DOMAINS and not any(d.domain == own for d in domains)
    has_secret = provider is not None and provider.has_secret
    return render(
        request,
        "settings/sso.html",
        {
            "organisation": organisation,
            "provider": provider,
            "form": form or ProviderForm(initial=_provider_form_initial(provider), has_secret=has_secret),
            "domain_form": domain_form or DomainForm(initial={"domain": own if own_claimable else ""}),
            "domains": domains,
            "own_domain": own if own_claimable else "",
            "redirect_uri": sso.redirect_uri(),
        },
        status=status,
    )


@never_cache
@login_required
@sensitive_post_parameters("client_secret")
@require_http_methods(["GET", "POST"])
@domain_errors
def sso_settings(request: HttpRequest, organisation_id: uuid.UUID) -> HttpResponse:
    """``/settings/organisations/<id>/sso/``: the provider form (GET shows it, POST saves it)."""
    user = cast(User, request.user)
    organisation = sso.administered(user=user, organisation_id=organisation_id)
    if request.method == "GET":
        return _settings_page(request, organisation)
    provider = IdentityProvider.objects.filter(organisation=organisation).first()
    form = ProviderForm(request.POST, has_secret=provider is not None and provider.has_secret)
    if not form.is_valid():
        return _settings_page(request, organisation, form=form, status=400)
    data = form.cleaned_data
    try:
        saved = sso.provider_save(
            user=user,
            organisation_id=organisation.pk,
            issuer=data["issuer"],
            client_id=data["client_id"],
            client_secret=data["client_secret"],
            enabled=data["enabled"],
            require_sso=data["require_sso"],
        )
    except DomainError as exc:
        form_errors(form, exc)
        return _settings_page(request, organisation, form=form, status=exc.status)
    messages.success(
        request,
        (
            (
                gettext("Single sign-on of %(organisation)s is on, and required for addresses at your domains.")
                if saved.require_sso
                else gettext("Single sign-on of %(organisation)s is on.")
            )
            if saved.enabled
            else gettext("Single sign-on of %(organisation)s is off.")
        )
        % {"organisation": organisation.name},
    )
    return redirect(reverse("organisation_sso", args=[organisation.pk]))


@login_required
@require_POST
@domain_errors
def sso_domain_add(request: HttpRequest, organisation_id: uuid.UUID) -> HttpResponse:
    user = cast(User, request.user)
    organisation = sso.administered(user=user, organisation_id=organisation_id)
    form = DomainForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, organisation, domain_form=form, status=400)
    try:
        added = sso.domain_add(user=user, organisation_id=organisation.pk, domain=form.cleaned_data["domain"])
    except DomainError as exc:
        form_errors(form, exc)
        return _settings_page(request, organisation, domain_form=form, status=exc.status)
    messages.success(
        request,
        gettext("%(domain)s is a domain of %(organisation)s.")
        % {"domain": added.domain, "organisation": organisation.name},
    )
    return redirect(reverse("organisation_sso", args=[organisation.pk]) + "#domains")


@login_required
@require_POST
@domain_errors
def sso_domain_remove(request: HttpRequest, organisation_id: uuid.UUID, domain_id: int) -> HttpResponse:
    try:
        removed = sso.domain_remove(user=cast(User, request.user), organisation_id=organisation_id, domain_id=domain_id)
    except RuleViolation as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            gettext("%(domain)s is no longer a domain of %(organisation)s.")
            % {"domain": removed.domain, "organisation": removed.organisation.name},
        )
    return redirect(reverse("organisation_sso", args=[organisation_id]) + "#domains")
