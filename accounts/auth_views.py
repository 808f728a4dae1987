"""Signing in and out, signing up (a vendor workspace and its first admin) and password reset.

Sign-in, sign-out and the password reset pages are Django's own views with Partnerplan's
templates; sign-up creates the workspace through ``workspace_create``.
"""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth import views as auth
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from django_ratelimit.decorators import ratelimit

from core.errors import DomainError
from core.web import form_errors

from .forms import EmailAuthenticationForm, SignUpForm
from .services import workspace_create

# Per client address; generous enough for an office behind one NAT, tight enough against guessing.
AUTH_RATE = "20/m"


def _too_many(request: HttpRequest) -> bool:
    return bool(getattr(request, "limited", False))


@method_decorator(ratelimit(key="ip", rate=AUTH_RATE, method="POST", block=False), name="post")
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
                    refusal="Too many attempts from your network. Wait a minute and try again.",
                ),
                status=429,
            )
        return super().post(request, *args, **kwargs)


class SignOutView(auth.LogoutView):
    """Signs out on POST only (a link or a prefetch cannot sign anyone out), then shows sign-in."""


@sensitive_post_parameters("password")
@ratelimit(key="ip", rate=AUTH_RATE, method="POST", block=False)  # type: ignore[untyped-decorator]
def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if _too_many(request):
            return render(
                request,
                "registration/signup.html",
                {"form": form, "refusal": "Too many sign-ups from your network. Wait a minute and try again."},
                status=429,
            )
        if form.is_valid():
            data = form.cleaned_data
            try:
                _org, user = workspace_create(
                    name=data["organisation"],
                    email=data["email"],
                    password=data["password"],
                    full_name=data["full_name"],
                )
            except DomainError as exc:
                form_errors(form, exc, aliases={"name": "organisation"})
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect("dashboard")
        status = 400
    return render(request, "registration/signup.html", {"form": form}, status=status)


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
                    refusal="Too many requests from your network. Wait a minute and try again.",
                ),
                status=429,
            )
        return super().post(request, *args, **kwargs)
