from __future__ import annotations

from django.contrib.auth import views as auth
from django.urls import path

from . import auth_views, sso_views

urlpatterns = [
    path("login/", auth_views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.SignOutView.as_view(), name="logout"),
    path("login/two-factor/", auth_views.sign_in_code, name="login_two_factor"),
    path("login/sso/", sso_views.sso_start, name="sso_start"),
    path("login/sso/callback/", sso_views.sso_callback, name="sso_callback"),
    path("signup/", auth_views.sign_up, name="signup"),
    path("signup/sent/", auth_views.sign_up_sent, name="signup_sent"),
    path("signup/confirm/<str:token>/", auth_views.sign_up_confirm, name="signup_confirm"),
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth.PasswordResetDoneView.as_view(template_name="registration/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(template_name="registration/password_reset_confirm.html"),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth.PasswordResetCompleteView.as_view(template_name="registration/password_reset_complete.html"),
        name="password_reset_complete",
    ),
]
