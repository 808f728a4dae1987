"""Settings of the test identity provider (``tests.oidc_provider.serve`` fills the environment).

``OIDC_TEST_DIR`` holds its SQLite database, the RSA key (``key.pem``) and its people
(``users.json``); ``OIDC_TEST_ISSUER`` is the issuer URL on the port it listens on."""

from __future__ import annotations

import os
from pathlib import Path

DIR = Path(os.environ["OIDC_TEST_DIR"])

SECRET_KEY = "the-test-identity-provider-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.oidc_provider.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DIR / "provider.sqlite3")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/login/"
TEMPLATES: list[dict[str, object]] = []

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": (DIR / "key.pem").read_text(),
    "OIDC_ISS_ENDPOINT": os.environ["OIDC_TEST_ISSUER"],
    "SCOPES": {"openid": "OpenID Connect", "email": "E-mail address", "profile": "Name"},
    "DEFAULT_SCOPES": ["openid"],
    "PKCE_REQUIRED": True,
    "OAUTH2_VALIDATOR_CLASS": "tests.oidc_provider.validator.ClaimsValidator",
}
