"""The provider's URLs: django-oauth-toolkit under ``/o/`` and a bare sign-in form."""

from __future__ import annotations

from django.contrib.auth import authenticate, login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path


def sign_in(request: HttpRequest) -> HttpResponse:
    """The provider's own sign-in (no CSRF middleware runs in this test server)."""
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
        if user is None:
            return HttpResponse("Wrong password.", status=403)
        login(request, user)
        return redirect(request.GET.get("next") or "/")
    return HttpResponse('<form method="post"><input name="username"><input name="password" type="password"></form>')


urlpatterns = [
    path("login/", sign_in),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
