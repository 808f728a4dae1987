"""Signing in and out (with a second factor for people who set one up), signing up (a vendor
workspace and its first admin, once the address is confirmed) and password reset.

Sign-in, sign-out and the password reset pages are Django's own views with Partnerplan's
templates. A person with two-factor sign-in gives the password first; the session then only
remembers who is half-way (``PENDING``, for a few minutes) and the code page signs them in.
Sign-up answers alike for every address (``accounts.signup``) and the e-mailed link opens the
workspace.

Every limit here keys on the client's address from ``core.clientip`` (django-ratelimit's
``key="ip"``, see ``RATELIMIT_IP_META_KEY``); the code page also limits each person's attempts.
"""

from __future__ import annotations

import time
from typing import Any

from csp.decorators import csp_update
from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited
from django_ratelimit.decorators import ratelimit

from core.errors import DomainError, NotFound
from core.web import form_errors

from . import signup as signups
from . import two_factor
from .forms import EmailAuthenticationForm, SignUpForm
from .models import User

# Per client address; generous enough for an office behind one NAT, tight enough against guessing.
AUTH_RATE = "20/m"
# Codes per person (whatever the address): a guesser who has the password gets 20 tries an hour.
CODE_RATES = ("5/m", "20/h")
# How long the code page waits for the code after the password was right.
PENDING_SECONDS = 300


def _too_many(request: HttpRequest) -> bool:
    return bool(getattr(request, "limited", False))


@method_decorator(ratelimit(key="ip", rate=AUTH_RATE, method="POST", block=False), name="post")
# Its second button starts single sign-on: the answer to that form goes on to the provider (sso_views).
@method_decorator(csp_update({"form-action": ["https:"]}), name="dispatch")
class SignInView(auth.LoginView):
    form_class = EmailAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if _too_many(request):
            # An unbound form: when limited, no password is even tried.
            return self.render_to_response(
                self.get_context_data(
                    form=self.form_class(request),
                    refusal=gettext("Too many attempts from your network. Wait a minute and try again."),
                ),
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if not two_factor.is_enrolled(user):
            return super().form_valid(form)
        # The password was right; the code page finishes. Nothing is signed in yet.
        self.request.session.pop(two_factor.VERIFIED, None)
        self.request.session[two_factor.PENDING] = {
            "user": user.pk,
            "backend": getattr(user, "backend", "accounts.backends.AccountBackend"),
            "next": self.get_success_url(),
            "at": time.time(),
        }
        return redirect("login_two_factor")


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=40,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "spellcheck": "false"}
        ),
        help_text=_("The 6-digit code your authenticator app shows now, or one of your recovery codes."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def _pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(two_factor.PENDING)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > PENDING_SECONDS:
        return None
    user_id = pending.get("user")
    if not isinstance(user_id, int):
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return (user, pending) if user is not None else None


def _code_limited(request: HttpRequest, user: User) -> bool:
    if is_ratelimited(request, group="two-factor-ip", key="ip", rate=AUTH_RATE, increment=True):
        return True
    return any(
        is_ratelimited(
            request, group=f"two-factor-user-{rate}", key=lambda g, r: str(user.pk), rate=rate, increment=True
        )
        for rate in CODE_RATES
    )


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the app or a recovery code."""
    found = _pending_user(request)
    if found is None:
        request.session.pop(two_factor.PENDING, None)
        messages.info(request, gettext("Sign in again: the code page waits five minutes after the password."))
        return redirect("login")
    user, pending = found
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if _code_limited(request, user):
            return render(
                request,
                "registration/two_factor.html",
                {"form": CodeForm(), "refusal": gettext("Too many attempts. Wait a few minutes and try again.")},
                status=429,
            )
        if form.is_valid():
            verified = two_factor.verify(user, form.cleaned_data["code"])
            if verified.ok:
                del request.session[two_factor.PENDING]
                login(request, user, backend=str(pending["backend"]))
                request.session[two_factor.VERIFIED] = True
                if verified.recovery_code_used:
                    left = two_factor.unused_recovery_codes(user)
                    messages.warning(
                        request,
                        ngettext(
                            "You signed in with a recovery code; %(left)d unused left. Make new ones in your settings "
                            "if you lost your authenticator app.",
                            "You signed in with a recovery code; %(left)d unused left. Make new ones in your settings "
                            "if you lost your authenticator app.",
                            left,
                        )
                        % {"left": left},
                    )
                return redirect(str(pending.get("next") or "dashboard"))
            form.add_error("code", two_factor.WRONG_CODE)
        status = 400
    return render(request, "registration/two_factor.html", {"form": form}, status=status)


class SignOutView(auth.LogoutView):
    """Signs out on POST only (a link or a prefetch cannot sign anyone out), then shows sign-in."""


# --- Sign-up ------------------------------------------------------------------------------------


@sensitive_post_parameters("password")
@ratelimit(key="ip", rate=AUTH_RATE, method="POST", block=False)  # type: ignore[untyped-decorator]
def sign_up(request: HttpRequest) -> HttpResponse:
    """The form; a valid one is answered alike for every address: "check your e-mail"."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if _too_many(request):
            return render(
                request,
                "registration/signup.html",
                {"form": form, "refusal": gettext("Too many sign-ups from your network. Wait a minute and try again.")},
                status=429,
            )
        if form.is_valid():
            data = form.cleaned_data
            try:
                proof = signups.signup_request(
                    organisation=data["organisation"],
                    email=data["email"],
                    password=data["password"],
                    full_name=data["full_name"],
                    language=request.LANGUAGE_CODE,
                )
            except DomainError as exc:
                form_errors(form, exc, aliases={"name": "organisation"})
            else:
                request.session[signups.SESSION_KEY] = proof
                request.session[signups.SESSION_EMAIL] = str(data["email"]).lower()
                return redirect("signup_sent")
        status = 400
    return render(request, "registration/signup.html", {"form": form}, status=status)


@require_http_methods(["GET"])
def sign_up_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/signup_sent.html", {"email": request.session.get(signups.SESSION_EMAIL, "")})


class ConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("The password you chose"),
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def _invalid_confirmation(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/signup_invalid.html", {"message": signups.INVALID_LINK}, status=404)


@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def sign_up_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mailed link: GET shows what it opens (mail scanners prefetch links); POST confirms.
    Another browser than the one that signed up gives the password chosen at sign-up too."""
    if is_ratelimited(request, group="signup-confirm", key="ip", rate=AUTH_RATE, increment=True):
        return render(
            request,
            "registration/signup_invalid.html",
            {"message": gettext("Too many attempts from your network. Wait a minute and open the link again.")},
            status=429,
        )
    try:
        signup = signups.open_request(token)
    except NotFound:
        return _invalid_confirmation(request)
    same_browser = signups.is_same_request(signup, request.session.get(signups.SESSION_KEY))
    form = ConfirmForm(request.POST or None) if not same_browser else None
    status = 200
    if request.method == "POST":
        if form is None or form.is_valid():
            try:
                user = signups.signup_confirm(
                    raw_token=token,
                    password=form.cleaned_data["password"] if form is not None else None,
                    same_browser=same_browser,
                    language=request.LANGUAGE_CODE,
                )
            except NotFound:
                return _invalid_confirmation(request)
            except DomainError as exc:
                if form is None or exc.code == "signup.already_confirmed":
                    messages.info(request, exc.message)
                    return redirect("login")
                form_errors(form, exc)
            else:
                request.session.pop(signups.SESSION_KEY, None)
                login(request, user, backend="accounts.backends.AccountBackend")
                messages.success(
                    request,
                    gettext("Your address is confirmed: welcome to %(organisation)s.")
                    % {"organisation": signup.organisation_name},
                )
                return redirect("dashboard")
        status = 400
    return render(request, "registration/signup_confirm.html", {"signup": signup, "form": form}, status=status)


@method_decorator(ratelimit(key="ip", rate=AUTH_RATE, method="POST", block=False), name="post")
class PasswordResetView(auth.PasswordResetView):
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if _too_many(request):
            return self.render_to_response(
                self.get_context_data(
                    form=self.get_form_class()(),
                    refusal=gettext("Too many requests from your network. Wait a minute and try again."),
                ),
                status=429,
            )
        return super().post(request, *args, **kwargs)
